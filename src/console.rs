//! Messages for the user on standard error. `eprintln!` panics when stderr is closed
//! (`pyprobe record ... 2>&1 | head -0`): after the recording is written, that turned a
//! success into exit status 101. A message nobody can read is dropped instead.

/// Like `eprintln!`, but a closed or failing stderr drops the line instead of panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Like `eprint!` (no newline: progress lines redrawn in place), without the panic.
#[macro_export]
macro_rules! say_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}
