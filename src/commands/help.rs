//! `completions` and `man`: the shell completion scripts (clap_complete), the manual pages of the tool and of each
//! verb (clap_mangen), and the Markdown reference of every verb and flag (docs/reference.md), all made from the
//! same clap definitions as the parser, so they never drift from the flags.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::Result;
use clap::CommandFactory as _;

use super::Exit;
use crate::cli::{Cli, ManArgs};

pub(crate) fn completions(shell: clap_complete::Shell) -> Result<Exit> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "reaqtions", &mut out);
    write(&out)
}

pub(crate) fn man(args: &ManArgs) -> Result<Exit> {
    if args.markdown {
        return write(reference().as_bytes());
    }
    let mut command = Cli::command();
    command.build();
    // Built, each verb carries its display name (`reaqtions-devices-add`), which names its page.
    for verb in &args.verb {
        let parent = command.get_display_name().unwrap_or(command.get_name()).to_owned();
        command = command
            .find_subcommand(verb)
            .cloned()
            .ok_or_else(|| crate::invalid!("{parent} has no verb {verb:?}: `reaqtions --help` lists them"))?;
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(command).render(&mut out)?;
    write(&out)
}

fn write(bytes: &[u8]) -> Result<Exit> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(Exit::Ok)
}

/// Every verb and flag as Markdown: what `docs/reference.md` holds (a test fails when it is out of date).
pub fn reference() -> String {
    let mut command = Cli::command();
    command.build();
    let mut out = String::from(
        "# Reference\n\nEvery verb and flag, generated from the CLI's own definitions (`reaqtions man --markdown > \
         docs/reference.md`; a test fails when this page is out of date). `reaqtions man VERB` prints a verb's page \
         as a man page.\n",
    );
    let _ = writeln!(out, "\n## Global flags\n\nOn every verb.\n");
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        flag_line(&mut out, arg);
    }
    let globals: Vec<&str> = command.get_arguments().map(|a| a.get_id().as_str()).collect();
    for verb in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        section(&mut out, verb, "reaqtions", &globals);
    }
    out
}

/// A verb's section: its usage, its own flags (the tool's global ones are listed once above), then its verbs.
fn section(out: &mut String, command: &clap::Command, parent: &str, globals: &[&str]) {
    let path = format!("{parent} {}", command.get_name());
    if command.get_name() == "help" {
        return;
    }
    let _ = writeln!(out, "\n## `{path}`\n");
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        let _ = writeln!(out, "{about}\n");
    }
    let positionals: Vec<&clap::Arg> =
        command.get_arguments().filter(|a| a.is_positional() && !a.is_hide_set()).collect();
    let flags: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set() && !globals.contains(&a.get_id().as_str()))
        .collect();
    let usage: Vec<String> = positionals.iter().map(|a| placeholder(a)).collect();
    let _ = writeln!(
        out,
        "```\n{path}{}{}{}\n```\n",
        if flags.is_empty() { "" } else { " [FLAGS]" },
        usage.iter().map(|u| format!(" {u}")).collect::<String>(),
        if command.has_subcommands() { " <VERB>" } else { "" }
    );
    for arg in positionals.into_iter().chain(flags) {
        flag_line(out, arg);
    }
    // A verb's own global flags (devices' --dir, --format) reach its verbs too: listed once, on the verb.
    let mut inherited: Vec<&str> = globals.to_vec();
    inherited.extend(command.get_arguments().filter(|a| a.is_global_set()).map(|a| a.get_id().as_str()));
    for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        section(out, sub, &path, &inherited);
    }
}

/// What an argument's value is called: its value name, or its id in capitals.
fn value_name(arg: &clap::Arg) -> String {
    arg.get_value_names()
        .and_then(|v| v.first())
        .map_or_else(|| arg.get_id().as_str().to_uppercase(), |v| v.to_string())
}

fn placeholder(arg: &clap::Arg) -> String {
    let name = value_name(arg);
    let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    let name = if many { format!("{name}...") } else { name };
    if arg.is_required_set() { format!("<{name}>") } else { format!("[{name}]") }
}

fn flag_line(out: &mut String, arg: &clap::Arg) {
    let takes = arg.get_action().takes_values();
    let value = value_name(arg);
    let spelled = match (arg.get_long(), arg.get_short()) {
        (Some(long), Some(short)) => format!("-{short}, --{long}"),
        (Some(long), None) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => return positional_line(out, arg),
    };
    let optional_value = arg.get_num_args().is_some_and(|n| n.min_values() == 0) && takes;
    let spelled = match (takes, optional_value) {
        (true, true) => format!("{spelled}[={value}]"),
        (true, false) => format!("{spelled} {value}"),
        _ => spelled,
    };
    let mut notes = Vec::new();
    let choices: Vec<String> =
        arg.get_possible_values().iter().filter(|p| !p.is_hide_set()).map(|p| p.get_name().to_owned()).collect();
    if !choices.is_empty() && !arg.is_hide_possible_values_set() {
        notes.push(format!("one of {}", choices.join(", ")));
    }
    let defaults: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    if !defaults.is_empty() && takes {
        notes.push(format!("default {}", defaults.join(",")));
    }
    if let Some(env) = arg.get_env() {
        notes.push(format!("env {}", env.to_string_lossy()));
    }
    let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
    let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
    let _ = writeln!(out, "- `{spelled}`: {}{notes}", help.trim_end_matches('.'));
}

fn positional_line(out: &mut String, arg: &clap::Arg) {
    let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
    let _ = writeln!(out, "- `{}`: {}", placeholder(arg), help.trim_end_matches('.'));
}
