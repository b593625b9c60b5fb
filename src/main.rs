//! The `strainer` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: after a burst of parallel rewrites glibc malloc kept the freed memory
/// (RSS stayed near the peak), mimalloc returns it to the OS (see the README's memory section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    strainer::cli::main(strainer::cli::Cli::parse())
}
