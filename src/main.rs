//! The `reaqtions` binary: parse, set up logging, dispatch, render the error once, exit with its code.

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};
use reaqtions::cli::Cli;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The SDK's own warnings (IMDS probes, profile parsing) only with -v: without a region or credentials the
    // command's error says what to do in a line or two.
    let level = match cli.verbose {
        0 => "warn,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error,aws_sdk_sso=error",
        1 => "info",
        _ => "debug",
    };
    // REAQTIONS_LOG overrides with `level` and `target=level` directives, comma-separated.
    let chosen = std::env::var("REAQTIONS_LOG").ok().filter(|s| !s.trim().is_empty());
    let filter = match chosen.as_deref().map(str::parse::<Targets>) {
        Some(Ok(filter)) => filter,
        Some(Err(e)) => {
            reaqtions::output::warn(format_args!(
                "REAQTIONS_LOG is not a list of level or target=level directives ({e}): ignored"
            ));
            level.parse().expect("the built-in levels parse")
        }
        None => level.parse().expect("the built-in levels parse"),
    };
    tracing_subscriber::fmt().with_writer(std::io::stderr).finish().with(filter).init();
    for warning in reaqtions::deprecated::warnings(&Cli::command(), std::env::args_os()) {
        reaqtions::output::warn(warning);
    }
    match reaqtions::commands::run(cli) {
        Ok(exit) => exit.into(),
        // The reader of our output went away (`reaqtions report | head -1`): nothing is wrong.
        Err(error) if reaqtions::output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            reaqtions::output::error(format_args!("{error:#}"));
            ExitCode::from(reaqtions::error::exit_code(&error))
        }
    }
}
