//! The one integration test binary: real interpreters, real processes.
mod dump;
mod harness;
