//! The Python interpreter in the target.
