//! The one integration test binary: real interpreters, real processes.
mod dump;
mod dump_details;
mod faults;
mod formats;
mod harness;
mod heap;
mod html_report;
#[path = "../support/interpreter_list.rs"]
mod interpreter_list;
mod launch;
mod memory_attribution;
mod native;
mod proportions;
mod push;
mod readers;
mod record;
mod snapshots;
mod subprocesses;
mod top;
