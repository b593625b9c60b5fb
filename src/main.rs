//! The `strainer` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    strainer::cli::main(strainer::cli::Cli::parse())
}
