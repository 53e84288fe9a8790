//! The `reaqtions` binary: parse, set up logging, dispatch, render the error once, exit with its code.

use std::process::ExitCode;

use clap::Parser as _;
use reaqtions::cli::Cli;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("REAQTIONS_LOG").unwrap_or_else(|_| EnvFilter::new(level)))
        .with_writer(std::io::stderr)
        .init();
    match reaqtions::commands::run(cli) {
        Ok(exit) => exit.into(),
        Err(error) => {
            eprintln!("error: {error:#}");
            // A value that breaks a rule is a usage error, like clap's own.
            if reaqtions::error::is_invalid(&error) { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}
