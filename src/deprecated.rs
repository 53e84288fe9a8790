//! Old flag spellings: a flag renamed after its setting keeps its old name as a hidden clap alias, and the
//! command line that uses one hears, in one line, what the flag is called now. Read from the clap definition
//! itself, so a rename is declared once (the alias) and warned about without a list to keep. `--output table|json`
//! alone was the format before `--output` named a file: it still means the format, and is named here too.

use std::ffi::OsString;

/// The names `--output` took when it was the format: alone (no `--format`), they still mean the format.
pub(crate) const OLD_OUTPUT_FORMATS: [&str; 2] = ["table", "json"];

/// One warning line (without `warning: `) per old spelling on the command line, for the verb it runs.
pub fn warnings(command: &clap::Command, args: impl IntoIterator<Item = OsString>) -> Vec<String> {
    let tokens: Vec<String> = args.into_iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    // The verb path (`devices add`), so a spelling is judged by the flags of the verb it was given to.
    let mut path = vec![command];
    for token in &tokens {
        if token == "--" {
            break;
        }
        let current = *path.last().expect("the path starts with the command");
        if let Some(sub) =
            current.get_subcommands().find(|s| s.get_name() == token || s.get_all_aliases().any(|a| a == token))
        {
            path.push(sub);
        }
    }
    let args: Vec<&clap::Arg> = path.iter().flat_map(|c| c.get_arguments()).collect();
    let mut said = Vec::new();
    if let Some(name) = old_output_format(&tokens, &args) {
        said.push(format!("--output {name} is now --format {name} (a file named {name} is --output ./{name})"));
    }
    for (i, token) in tokens.iter().enumerate() {
        if token == "--" {
            break;
        }
        let Some(flag) = token.strip_prefix("--") else { continue };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        if let Some(arg) = args
            .iter()
            .find(|a| a.get_long() != Some(name) && a.get_all_aliases().is_some_and(|all| all.contains(&name)))
        {
            let now = arg.get_long().unwrap_or(name);
            said.push(format!("--{name} is now --{now} (the old spelling still works in this release)"));
            continue;
        }
        // A switch (`--alarms` / `--no-alarms`) given a value in the old style.
        let switch = args.iter().any(|a| a.get_long() == Some(&format!("no-{name}")));
        let given = value.or_else(|| tokens.get(i + 1).map(String::as_str).filter(|v| matches!(*v, "true" | "false")));
        if switch && let Some(given) = given {
            said.push(format!(
                "--{name} {given} is now --{name} or --no-{name} (the old spelling still works in this release)"
            ));
        }
    }
    said
}

/// The format an old `--output table|json` names: alone, on a verb whose `--format` takes it.
fn old_output_format<'t>(tokens: &'t [String], args: &[&clap::Arg]) -> Option<&'t str> {
    let given: Vec<&String> = tokens.iter().take_while(|t| *t != "--").collect();
    if given.iter().any(|t| *t == "--format" || t.starts_with("--format=")) {
        return None;
    }
    let value = given.iter().enumerate().find_map(|(i, token)| match token.strip_prefix("--output") {
        Some("") => given.get(i + 1).map(|v| v.as_str()),
        Some(rest) => rest.strip_prefix('='),
        None => None,
    })?;
    let format = args.iter().find(|a| a.get_long() == Some("format"))?;
    let takes = format.get_possible_values().iter().any(|v| v.matches(value, false));
    (takes && OLD_OUTPUT_FORMATS.contains(&value)).then_some(value)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn said(line: &str) -> Vec<String> {
        warnings(&crate::cli::Cli::command(), line.split_whitespace().map(OsString::from))
    }

    #[test]
    fn an_old_spelling_is_named_with_the_new_one() {
        assert_eq!(
            said("reaqtions --local deploy --buffer-size 3 --arch=arm64 --alarms false"),
            [
                "--buffer-size is now --buffer-size-mib (the old spelling still works in this release)",
                "--arch is now --architecture (the old spelling still works in this release)",
                "--alarms false is now --alarms or --no-alarms (the old spelling still works in this release)",
            ]
        );
        assert!(said("reaqtions deploy --buffer-size-mib 3 --alarms --no-dashboard --prefix p/").is_empty());
        // Judged by the verb's own flags: `cost` has the settings too, `status` does not.
        assert_eq!(said("reaqtions cost --devices 1 --lambda-memory 512").len(), 1);
        assert!(said("reaqtions status -- --buffer-size").is_empty());
    }

    /// The format and the file a verb's `--format` and `--output` mean.
    fn shape(line: &str) -> (crate::output::OutputFormat, Option<std::path::PathBuf>) {
        use crate::cli::Command;
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(line.split_whitespace()).unwrap();
        let shape = match cli.command {
            Command::Status(a) => a.shape,
            Command::Logs(a) => a.shape,
            Command::Devices(a) => a.shape,
            Command::Teardown(a) => a.shape,
            other => panic!("no shape in {other:?}"),
        };
        (shape.format, shape.output)
    }

    #[test]
    fn an_explicit_format_wins_and_the_output_is_then_a_file() {
        use crate::output::OutputFormat::{Json, Table};
        assert_eq!(shape("reaqtions status --output json"), (Json, None));
        assert_eq!(shape("reaqtions logs --output table"), (Table, None));
        assert_eq!(shape("reaqtions status --format table --output json"), (Table, Some("json".into())));
        assert_eq!(shape("reaqtions devices add --format json --output table"), (Json, Some("table".into())));
        assert_eq!(shape("reaqtions teardown --output json"), (Json, None));
        assert_eq!(shape("reaqtions devices add --output json"), (Json, None));
        assert_eq!(shape("reaqtions status --output ./json"), (Table, Some("./json".into())));
        assert_eq!(shape("reaqtions status --format json --output s.json"), (Json, Some("s.json".into())));
    }

    #[test]
    fn output_table_or_json_alone_is_the_old_spelling_of_the_format() {
        let now = "--output json is now --format json (a file named json is --output ./json)";
        assert_eq!(said("reaqtions status --output json"), [now]);
        assert_eq!(said("reaqtions logs --output=json"), [now]);
        assert_eq!(said("reaqtions report --output table").len(), 1);
        // An explicit --format wins: the name is a file's.
        assert!(said("reaqtions status --format table --output json").is_empty());
        assert!(said("reaqtions report --format=csv --output json").is_empty());
        // Files, whatever their names.
        assert!(said("reaqtions status --output ./json").is_empty());
        assert!(said("reaqtions report --output html").is_empty());
        assert!(said("reaqtions status --output out.json").is_empty());
    }
}
