//! The `mailroom` binary: parse arguments, start logging, hand over to `cli`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mailroom::cli::Cli::parse();
    mailroom::telemetry::init();
    mailroom::cli::run(cli)
}
