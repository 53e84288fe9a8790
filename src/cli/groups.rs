//! The flag groups several verbs share, each declared once and flattened where used (as cargo-lambda and uv
//! do): the result's shape (`--format`/`--output`), the window, confirmation, the dry run, the settings file and
//! a fleet. A verb that gives a flag its own meaning says so with `mut_arg` on its `Args`.

use std::path::PathBuf;

use clap::Args;

use crate::output::OutputFormat;

/// How a verb prints its result, the same on every verb: `--format` names the shape, `--output` a file to write it
/// to instead of stdout. `--output table|json` alone is the old spelling of the format: it still works, and
/// [`crate::deprecated::warnings`] names the new one; beside an explicit `--format`, or as `--output ./json`, it
/// names a file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    pub(crate) format: OutputFormat,
    pub(crate) output: Option<PathBuf>,
}

/// [`Shape`]'s flags as typed; [`Shape`] is what they mean.
#[derive(Debug, Args)]
struct ShapeFlags {
    /// What the result is printed as.
    #[arg(long, global = true, value_enum, default_value_t)]
    format: OutputFormat,
    /// Write the result to FILE instead of stdout.
    #[arg(long, global = true, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl Shape {
    fn of(flags: ShapeFlags, format_given: bool) -> Shape {
        // An explicit `--format` wins: `--output` then names a file, whatever its name.
        let old = flags
            .output
            .as_ref()
            .filter(|_| !format_given)
            .map(|path| path.to_string_lossy())
            .filter(|name| crate::deprecated::OLD_OUTPUT_FORMATS.contains(&name.as_ref()))
            .and_then(|name| <OutputFormat as clap::ValueEnum>::from_str(&name, false).ok());
        match old {
            Some(format) => Shape { format, output: None },
            None => Shape { format: flags.format, output: flags.output },
        }
    }
}

impl clap::FromArgMatches for Shape {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let given = matches.value_source("format") == Some(clap::parser::ValueSource::CommandLine);
        Ok(Shape::of(ShapeFlags::from_arg_matches(matches)?, given))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Shape::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for Shape {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        ShapeFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        ShapeFlags::augment_args_for_update(cmd)
    }
}

/// `--since`/`--until`: a window `[since, until)`, parsed and checked alike on every verb
/// ([`crate::commands::window`]); each verb's help says what falls in it (`mut_arg` on the verb).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct WindowArgs {
    /// From this time (RFC 3339) or this long ago (90m, 2h, 7days).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Before this time, or this long ago: the window is [since, until).
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
}

/// `health`'s window without `--since`: the last hour.
pub(crate) const HEALTH_SINCE: &str = "1h";

/// `--yes`/`-y`: go ahead without asking, on every verb that asks ([`crate::commands::confirm`]).
#[derive(Debug, Clone, Copy, Default, Args)]
pub(crate) struct ConfirmArgs {
    /// Do not ask for confirmation (without a terminal to ask on, a verb that would ask refuses unless given).
    #[arg(long, short)]
    pub(crate) yes: bool,
}

/// `--dry-run`: say what would be done and do none of it; each verb's help says what it names.
#[derive(Debug, Clone, Copy, Default, Args)]
pub(crate) struct DryRunArgs {
    /// Say what it would do; change nothing.
    #[arg(id = "dry_run", long = "dry-run")]
    pub(crate) on: bool,
}

/// `--config FILE`: the settings file, on every verb that resolves the pipeline's settings.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ConfigArgs {
    /// Settings file (YAML, as examples/reaqtions.yaml); default ./reaqtions.yaml when it exists.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// The group reads as the path it holds (`args.config.as_deref()`), as the field it replaced did.
impl std::ops::Deref for ConfigArgs {
    type Target = Option<PathBuf>;

    fn deref(&self) -> &Option<PathBuf> {
        &self.config
    }
}

/// A fleet: `--devices` and `--rate`, of one type and checked once ([`crate::commands::check_fleet`]) on `cost`
/// and `simulate`.
#[derive(Debug, Clone, Args)]
pub(crate) struct FleetArgs {
    /// Number of devices.
    #[arg(long)]
    pub(crate) devices: u64,
    /// Readings per device per second.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) rate: f64,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every verb and sub-verb, with its path (`devices remove`).
    fn verbs() -> Vec<(String, clap::Command)> {
        fn walk(path: &str, command: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
            for sub in command.get_subcommands() {
                let named = format!("{path} {}", sub.get_name()).trim().to_owned();
                out.push((named.clone(), sub.clone()));
                walk(&named, sub, out);
            }
        }
        let mut out = Vec::new();
        walk("", &crate::cli::Cli::command(), &mut out);
        out
    }

    fn flag<'c>(command: &'c clap::Command, long: &str) -> Option<&'c clap::Arg> {
        command.get_arguments().find(|a| a.get_long() == Some(long))
    }

    #[test]
    fn a_shared_flag_parses_alike_on_every_verb() {
        let verbs = verbs();
        let with = |long: &str| -> Vec<&String> {
            verbs.iter().filter(|(_, c)| flag(c, long).is_some()).map(|(name, _)| name).collect()
        };
        assert_eq!(with("yes"), ["simulate", "reprocess", "teardown", "devices remove"]);
        for (name, command) in &verbs {
            if let Some(yes) = flag(command, "yes") {
                assert_eq!(yes.get_short(), Some('y'), "{name} --yes");
            }
        }
        assert_eq!(with("since"), ["report", "logs", "health", "reprocess"]);
        let mut meanings = std::collections::BTreeSet::new();
        for (name, command) in verbs.iter().filter(|(_, c)| flag(c, "since").is_some()) {
            for long in ["since", "until"] {
                let arg = flag(command, long).unwrap_or_else(|| panic!("{name} has --since without --until"));
                let names: Vec<&str> = arg.get_value_names().unwrap_or_default().iter().map(|n| n.as_str()).collect();
                assert_eq!(names, ["TIME"], "{name} --{long}");
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(meanings.insert(help.clone()), "{name} --{long} says what another verb's does: {help}");
            }
        }
        assert_eq!(with("dry-run"), ["deploy", "simulate", "reprocess", "teardown", "devices add", "devices remove"]);
        assert_eq!(with("config"), ["deploy", "demo", "cost"]);
        // `demo` plays a fleet of its own sizes (commands::demo reads them as usize).
        for (name, command) in verbs.iter().filter(|(name, _)| ["cost", "simulate"].contains(&name.as_str())) {
            let devices = flag(command, "devices").unwrap_or_else(|| panic!("{name} --devices"));
            let parser = format!("{:?}", devices.get_value_parser());
            assert!(parser.contains("u64"), "{name} --devices is a u64: {parser}");
        }
    }
}
