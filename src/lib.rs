//! pyprobe: a sampling profiler for CPython that reads a running interpreter's stacks, and its
//! resident memory, from outside the process.
//!
//! The layers, bottom up: [`proc`] (the only reader of `/proc`), [`process`] (attach, maps,
//! ELF symbols, memory reads through
//! [`process::MemoryReader`]), [`python`] (find the interpreter, walk threads and frames),
//! [`session`] (an attached process), [`sampler`] (the clock), [`profile`] (aggregation) and
//! [`output`] (file formats). [`record`], [`dump`], [`heap`] and [`top`] are the commands; [`cli`] maps
//! arguments to their configs.
#![deny(missing_docs)]

pub mod cli;
pub mod console;
pub mod display;
pub mod dump;
pub mod error;
pub mod fast_hash;
pub mod heap;
pub mod memory;
pub mod name;
pub mod native;
pub mod output;
pub mod perf;
pub mod proc;
pub mod process;
pub mod profile;
pub mod push;
pub mod python;
pub mod record;
pub mod rng;
pub mod sampler;
pub mod session;
pub mod stack;
pub mod subprocesses;
pub mod top;

pub use error::{Error, Result};
