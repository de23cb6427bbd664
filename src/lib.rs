//! pyprobe: a sampling profiler for CPython that reads a running interpreter's stacks, and its
//! resident memory, from outside the process.
//!
//! The layers, bottom up: [`process`] (attach, maps, ELF symbols, memory reads through
//! [`process::MemoryReader`]), [`python`] (find the interpreter, walk threads and frames),
//! [`sampler`] (the clock), [`profile`] (aggregation) and [`output`] (file formats).
#![deny(missing_docs)]

pub mod error;
pub mod output;
pub mod process;
pub mod profile;
pub mod python;
pub mod stack;

pub use error::{Error, Result};
