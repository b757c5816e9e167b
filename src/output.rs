//! What the commands print. A reader that went away (`rampart serve | head -3`, `rampart who-can
//! … | head -1`) ends a command quietly, as Unix tools end on SIGPIPE, where `print!` would panic
//! (Rust ignores SIGPIPE, so the write fails with `EPIPE`). Every line a command prints goes
//! through the macros here: [`out!`]/[`outln!`] to stdout, [`errln!`] to stderr.

use std::fmt;
use std::io::{self, Write};

/// The exit status of a command whose output was closed: 128 + SIGPIPE, what a shell reports for
/// a process SIGPIPE ended.
pub const CLOSED_OUTPUT_STATUS: u8 = 141;

/// Where a line goes.
#[derive(Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Writes (and flushes) to a stream; the error when it is closed or failing.
pub fn try_write(stream: Stream, text: fmt::Arguments<'_>) -> io::Result<()> {
    match stream {
        Stream::Stdout => {
            let mut out = io::stdout().lock();
            out.write_fmt(text)?;
            out.flush()
        }
        Stream::Stderr => io::stderr().lock().write_fmt(text),
    }
}

/// Writes to a stream, or ends the process quietly if it cannot: there is no one left to tell.
pub fn write(stream: Stream, text: fmt::Arguments<'_>) {
    if try_write(stream, text).is_err() {
        std::process::exit(CLOSED_OUTPUT_STATUS.into());
    }
}

/// `print!` that ends the process quietly when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write($crate::output::Stream::Stdout, format_args!($($arg)*)) };
}

/// `println!` that ends the process quietly when stdout is closed.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write($crate::output::Stream::Stdout, format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that ends the process quietly when stderr is closed.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::write($crate::output::Stream::Stderr, format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, out, outln};
