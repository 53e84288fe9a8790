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
    if let Some(dir) = &args.dir {
        return man_dir(&command, dir);
    }
    // Built, each verb carries its display name (`reaqtions-devices-add`), which names its page.
    let mut path = Vec::new();
    for verb in &args.verb {
        let parent = command.get_display_name().unwrap_or(command.get_name()).to_owned();
        command = command
            .find_subcommand(verb)
            .cloned()
            .ok_or_else(|| crate::invalid!("{parent} has no verb {verb:?}: `reaqtions --help` lists them"))?;
        path.push(verb.as_str());
    }
    write(&page(command, &path.join(" "))?)
}

/// One manual page in roff: clap_mangen's sections, then EXIT STATUS and, where there are some, EXAMPLES.
fn page(command: clap::Command, verb: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command).render(&mut out)?;
    let mut roff = String::from(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in crate::error::EXIT_CODES {
        let _ = write!(roff, ".TP\n\\fB{code}\\fR\n{}\n", escape(meaning));
    }
    let examples: Vec<&(&str, &str)> =
        EXAMPLES.iter().filter(|(command, _)| verb.is_empty() || verb_of(command) == verb).collect();
    if !examples.is_empty() {
        roff.push_str(".SH EXAMPLES\n");
        for (command, what) in examples {
            let _ = write!(roff, ".TP\n\\fB{}\\fR\n{}\n", escape(command), escape(what));
        }
    }
    out.extend_from_slice(roff.as_bytes());
    Ok(out)
}

/// Text as roff shows it: backslashes doubled, hyphens literal, no line starting with a control character.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) { format!("\\&{text}") } else { text }
}

/// The verb an example runs (`devices add` for a sub-verb), past the global flags.
fn verb_of(example: &str) -> String {
    let command = Cli::command();
    let mut words = example.split_whitespace().skip(1).filter(|w| !w.starts_with('-'));
    let Some(first) = words.find(|w| command.find_subcommand(w).is_some()) else { return String::new() };
    let sub = command.find_subcommand(first).expect("found above");
    match words.next().filter(|w| sub.find_subcommand(w).is_some()) {
        Some(second) => format!("{first} {second}"),
        None => first.to_owned(),
    }
}

/// Each verb's examples, as a newcomer types them, with what each does: on the verb's page and on the tool's. A
/// test parses every one.
pub const EXAMPLES: &[(&str, &str)] = &[
    ("reaqtions demo", "deploy, play 5 devices, verify and summarise, all on this machine"),
    ("reaqtions deploy --local", "the pipeline on this machine, under ./.reaqtions"),
    ("reaqtions deploy --region eu-west-1", "build the Lambda and create both stacks in your AWS account"),
    ("reaqtions deploy --dry-run --partitioning arrival", "what a deploy would create or change, changing nothing"),
    ("reaqtions simulate --devices 20 --duration 5m --verify", "a fleet for five minutes, then check every reading"),
    (
        "reaqtions simulate --local --devices 12 --start 2026-12-06T00:00:00Z --every 1m --count 1440 --rate 1000",
        "a past day of readings sent in seconds",
    ),
    ("reaqtions report --since 2h --format csv --output readings.csv", "the last two hours' readings as CSV"),
    ("reaqtions report --local --format html --output readings.html", "the page of charts"),
    ("reaqtions report --summary --since 2026-12-06T10:00:00Z --until 2026-12-06T11:00:00Z", "one past hour by device"),
    ("reaqtions logs --since 30m --filter \"record failed\"", "why the transform refused records"),
    ("reaqtions status --format json", "what is deployed and what the lake holds, for scripts"),
    ("reaqtions health --since 1h", "the vital signs of the last hour; exit 5 when degraded"),
    ("reaqtions reprocess --dry-run", "which failed records would be sent again"),
    ("reaqtions teardown", "remove the pipeline (asks first; the lake is kept)"),
    ("reaqtions devices add --devices 3", "three MQTT devices, each a thing, a certificate and a key"),
    ("reaqtions broker", "the local MQTT broker, feeding the local pipeline"),
    ("reaqtions cost --devices 1000", "a fleet's monthly bill, one reading per record and packed"),
    ("reaqtions template iam deployer", "the deployer's IAM policy, filled in"),
];

/// Writes the tool's page and every verb's (sub-verbs too) to `dir` as `reaqtions.1`, `reaqtions-deploy.1`, …
fn man_dir(command: &clap::Command, dir: &std::path::Path) -> Result<Exit> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let mut pages = vec![(command.clone(), String::new())];
    for verb in command.get_subcommands().filter(|c| !c.is_hide_set() && c.get_name() != "help") {
        pages.push((verb.clone(), verb.get_name().to_owned()));
        for sub in verb.get_subcommands().filter(|c| !c.is_hide_set() && c.get_name() != "help") {
            pages.push((sub.clone(), format!("{} {}", verb.get_name(), sub.get_name())));
        }
    }
    let mut bytes = 0;
    for (page_command, verb) in &pages {
        let name = format!("{}.1", page_command.get_display_name().unwrap_or(page_command.get_name()));
        let path = dir.join(&name);
        let text = page(page_command.clone(), verb)?;
        bytes += text.len();
        std::fs::write(&path, &text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    crate::say!(
        "wrote {} to {} ({}); `man -l {}/reaqtions.1` reads one",
        crate::output::count(pages.len() as u64, "manual page"),
        dir.display(),
        crate::output::size(bytes as u64),
        dir.display()
    );
    Ok(Exit::Ok)
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[test]
    fn every_example_parses_and_every_page_ends_with_exit_status() {
        for (example, _) in EXAMPLES {
            // Shell words: a double-quoted run is one word.
            let words: Vec<String> = example
                .split('"')
                .enumerate()
                .flat_map(|(i, part)| {
                    if i % 2 == 1 {
                        vec![part.to_owned()]
                    } else {
                        part.split_whitespace().map(str::to_owned).collect()
                    }
                })
                .collect();
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("the example `{example}` does not parse: {e}");
            }
            assert!(!verb_of(example).is_empty(), "{example} names a verb");
        }
        let mut command = Cli::command();
        command.build();
        let deploy = command.find_subcommand("deploy").unwrap().clone();
        let page = String::from_utf8(page(deploy, "deploy").unwrap()).unwrap();
        assert!(page.contains(".SH \"EXIT STATUS\"") && page.contains("\\fB6\\fR"), "{page}");
        assert!(page.contains(".SH EXAMPLES") && page.contains("reaqtions deploy \\-\\-local"), "{page}");
        assert!(!page.contains("reaqtions simulate"), "a verb's page has its own examples only");
        assert_eq!(verb_of("reaqtions devices add --devices 3"), "devices add");
        assert_eq!(verb_of("reaqtions --local --stack lab report --summary"), "report");
    }

    #[test]
    fn the_manual_directory_holds_a_page_per_verb() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Cli::command();
        command.build();
        man_dir(&command, dir.path()).unwrap();
        for name in ["reaqtions.1", "reaqtions-deploy.1", "reaqtions-devices-add.1", "reaqtions-report.1"] {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(text.starts_with(".ie") || text.contains(".TH"), "{name} is roff");
            assert!(text.contains("EXIT STATUS"), "{name}");
        }
        assert!(!dir.path().join("reaqtions-help.1").exists());
    }
}
