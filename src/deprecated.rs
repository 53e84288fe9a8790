//! Old flag spellings: a flag renamed after its setting keeps its old name as a hidden clap alias, and the
//! command line that uses one hears, in one line, what the flag is called now. Read from the clap definition
//! itself, so a rename is declared once (the alias) and warned about without a list to keep.

use std::ffi::OsString;

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
}
