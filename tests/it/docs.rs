//! Docs that cannot go stale: every command line in README.md and docs/ is parsed with the CLI's own definition
//! (unknown verbs and flags fail), and docs/reference.md is what `reaqtions man --markdown` prints today.

use std::path::Path;

use clap::CommandFactory as _;

/// A documented command line against the CLI: the verbs must exist, each flag on its verb (or global), old
/// spellings refused. `[…]` is optional, `a|b` a choice, `<NAME>` or CAPITALS a value, `...` more of them.
fn check(line: &str) -> Result<(), String> {
    let mut root = reaqtions::cli::Cli::command();
    root.build();
    let line = line.replace("\\|", "|");
    let mut tokens = line.split_whitespace().peekable();
    if tokens.next() != Some("reaqtions") {
        return Err("does not start with reaqtions".into());
    }
    let mut path = vec![&root];
    while let Some(raw) = tokens.next() {
        if [">", "|", "&&", ";", "#", "2>", "<"].contains(&raw) {
            break; // the shell's part of the line
        }
        let token = raw.trim_start_matches(['[', '(']).trim_end_matches([']', ')', ',']);
        if token.is_empty() || token == "..." || token == "…" || token == "|" {
            continue;
        }
        let args = || path.iter().flat_map(|c| c.get_arguments()).collect::<Vec<_>>();
        if token.starts_with('-') {
            let mut takes_value = false;
            for choice in token.split('|').filter(|c| !c.is_empty()) {
                let (flag, inline) = choice.split_once('=').map_or((choice, false), |(f, _)| (f, true));
                let arg = if let Some(long) = flag.strip_prefix("--") {
                    args().into_iter().find(|a| a.get_long() == Some(long))
                } else {
                    let shorts: Vec<char> = flag.trim_start_matches('-').chars().collect();
                    let all = args();
                    if shorts.iter().all(|s| all.iter().any(|a| a.get_short() == Some(*s))) {
                        all.into_iter().find(|a| a.get_short() == shorts.last().copied())
                    } else {
                        None
                    }
                };
                let Some(arg) = arg else {
                    let verb: Vec<&str> = path.iter().map(|c| c.get_name()).collect();
                    return Err(format!("`{}` has no flag {flag}", verb.join(" ")));
                };
                let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
                takes_value |= arg.get_action().takes_values() && !inline && !optional;
            }
            if takes_value {
                tokens.next();
            }
            continue;
        }
        // A placeholder: <NAME> or CAPITALS.
        let placeholder = token.starts_with('<') && token.ends_with('>')
            || token.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_-.".contains(c));
        if placeholder {
            continue;
        }
        let current = *path.last().unwrap();
        let verbs: Vec<&str> = token.split('|').collect();
        let found: Vec<&clap::Command> =
            verbs.iter().filter_map(|v| current.get_subcommands().find(|c| c.get_name() == *v)).collect();
        if found.len() == verbs.len() && !found.is_empty() {
            path.push(found[0]);
        } else if current.has_subcommands() && !current.get_arguments().any(|a| a.is_positional()) {
            return Err(format!("`{}` has no verb {token}", current.get_name()));
        }
    }
    Ok(())
}

/// Every command line of a Markdown text: code-block lines and inline code that start with `reaqtions`, and the
/// verb rows of a table (`| \`verb …\` |`).
fn command_lines(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let (mut in_code, mut verb_table) = (false, false);
    for line in text.lines() {
        // A table of verbs is one whose header's first column is `verb` or `command`.
        if line.starts_with("| verb |") || line.starts_with("| command |") {
            verb_table = true;
            continue;
        }
        if !line.starts_with('|') {
            verb_table = false;
        }
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let trimmed = line.trim_start().trim_start_matches("$ ");
        if in_code {
            if trimmed.starts_with("reaqtions ") || trimmed == "reaqtions" {
                found.push(trimmed.to_owned());
            }
            continue;
        }
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && span.starts_with("reaqtions ") {
                found.push(span.to_owned());
            }
        }
        if verb_table && let Some(cell) = line.strip_prefix("| `").and_then(|rest| rest.split('`').next()) {
            for verb in cell.split(", ") {
                found.push(format!("reaqtions {verb}"));
            }
        }
    }
    found
}

#[test]
fn every_documented_command_line_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let (mut checked, mut problems) = (0, Vec::new());
    for file in &files {
        for line in command_lines(&std::fs::read_to_string(file).unwrap()) {
            checked += 1;
            if let Err(why) = check(&line) {
                problems.push(format!("{}: {line}\n  {why}", file.strip_prefix(root).unwrap().display()));
            }
        }
    }
    eprintln!("checked {checked} command lines in {} files", files.len());
    assert!(checked > 50, "only {checked} command lines found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_bad_line_is_refused_and_placeholders_pass() {
    for good in [
        "reaqtions deploy [--buffer-size-mib MIB] [--alarms|--no-alarms] [--format json]",
        "reaqtions devices add --devices N",
        "reaqtions --local --stack lab simulate --devices 20 --duration 5m --verify",
        "reaqtions report --format csv --output readings.csv | head -1",
        "reaqtions -q status",
    ] {
        assert_eq!(check(good), Ok(()), "{good}");
    }
    assert!(check("reaqtions deploy --no-such-flag").unwrap_err().contains("--no-such-flag"));
    assert!(check("reaqtions deploys").unwrap_err().contains("deploys"));
    assert!(check("reaqtions deploy --buffer-size 5").unwrap_err().contains("--buffer-size"), "an old spelling");
    let planted =
        "Run `reaqtions simulate --devicez 5` to see.\n\n| verb | what |\n| --- | --- |\n| `frobnicate` | nothing |\n";
    let lines = command_lines(planted);
    assert_eq!(lines, ["reaqtions simulate --devicez 5", "reaqtions frobnicate"]);
    assert!(lines.iter().all(|l| check(l).is_err()));
}

#[test]
fn the_reference_is_what_the_cli_says_today() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(root.join("docs/reference.md")).unwrap_or_default();
    let today = reaqtions::commands::help::reference();
    assert!(
        committed == today,
        "docs/reference.md is out of date: run `cargo run -q -- man --markdown > docs/reference.md`"
    );
}

#[test]
fn every_verb_has_a_man_page() {
    let env = crate::Env::default();
    let mut root = reaqtions::cli::Cli::command();
    root.build();
    for verb in root.get_subcommands().filter(|c| c.get_name() != "help") {
        let page = env.ok(&["man", verb.get_name()]);
        assert!(page.contains(&format!("reaqtions\\-{}", verb.get_name())), "{}: {page:.200}", verb.get_name());
    }
    let add = env.ok(&["man", "devices", "add"]);
    assert!(add.contains("\\-\\-devices"), "{add:.300}");
    let out = env.cmd(&["man", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Digits grouped by thousands: `1,036,800`.
fn grouped(whole: &str) -> String {
    let mut out = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `$1,234.56`, as docs/cost.md writes dollars.
fn dollars(usd: f64) -> String {
    let cents = format!("{usd:.2}");
    let (whole, fraction) = cents.split_once('.').unwrap();
    format!("${}.{fraction}", grouped(whole))
}

/// A quantity as `cost` prints it: thousands grouped from 1,000, else two decimals.
fn quantity(q: f64) -> String {
    if q >= 1000.0 { grouped(&format!("{q:.0}")) } else { format!("{q:.2}") }
}

/// The figures of docs/cost.md are what `cost` prints today for the fleet it names: month 1 both ways, each row of
/// the year's table (the year's bill, the lake's own storage, month 12, one query over the last month), and
/// partitioning event's part: dynamic partitioning's fees, a day's backlog, and month 1 with arrival instead.
#[test]
fn the_cost_figures_are_what_cost_prints_today() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cost.md")).unwrap();
    // Compared with line breaks as spaces: a figure may wrap anywhere.
    let doc = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let env = crate::Env::default();
    let fleet = ["cost", "--devices", "1000", "--rate", "1", "--linger", "22s", "--months", "12", "--format", "json"];
    let run = |extra: &[&str]| -> Vec<serde_json::Value> {
        serde_json::from_str(&env.ok(&[&fleet[..], extra].concat())).unwrap()
    };
    let sum = |rows: &[serde_json::Value], scenario: &str, compression: &str, wanted: &dyn Fn(&str, u64) -> bool| {
        (rows.iter())
            .filter(|r| r["scenario"] == scenario && r["compression"] == compression)
            .filter(|r| wanted(r["component"].as_str().unwrap(), r["month"].as_u64().unwrap()))
            .map(|r| r["usd"].as_f64().unwrap())
            .sum::<f64>()
    };
    let standard = run(&[]);
    let month_1 = |rows: &[serde_json::Value], scenario: &str, component: &'static str| {
        sum(rows, scenario, "gzip", &move |c, m| c == component && m == 1)
    };
    let said = format!(
        "**{} in month 1 one reading per record, {} packed with a 22 s linger**, of which Firehose ingestion is {} \
         against {}.",
        dollars(month_1(&standard, "per-reading", "total")),
        dollars(month_1(&standard, "packed", "total")),
        dollars(month_1(&standard, "per-reading", "firehose_ingestion")),
        dollars(month_1(&standard, "packed", "firehose_ingestion")),
    );
    assert!(doc.contains(&said), "docs/cost.md should say:\n{said}");

    let storage = |c: &str| {
        c.starts_with("s3_storage")
            || c == "s3_transitions"
            || c == "s3_early_deletion"
            || c.starts_with("s3_monitoring")
    };
    let cold = |class: &'static str| {
        run(&["--cold-after-days", "30", "--cold-storage-class", class, "--expire-processed-after-days", "395"])
    };
    let (glacier, tiering) = (cold("GLACIER_IR"), cold("INTELLIGENT_TIERING"));
    for (label, rows, compression) in [
        ("plain, Standard", &standard, "none"),
        ("gzip, Standard (the default)", &standard, "gzip"),
        ("gzip, Glacier IR after 30 days, expiry at 395 (`examples/reaqtions.yaml`)", &glacier, "gzip"),
        ("gzip, Intelligent-Tiering after 30 days, expiry at 395", &tiering, "gzip"),
    ] {
        let row = format!(
            "| {label} | {} | {} | {} | {} |",
            dollars(sum(rows, "packed", compression, &|c, _| c == "total")),
            dollars(sum(rows, "packed", compression, &|c, _| storage(c))),
            dollars(sum(rows, "packed", compression, &|c, m| c == "total" && m == 12)),
            dollars(sum(rows, "packed", compression, &|c, m| c == "athena_query_month" && m == 12)),
        );
        assert!(doc.contains(&row), "docs/cost.md's table should have the row\n{row}");
    }

    // Partitioning event: the month's fees for GB and objects, and the objects of a day's backlog.
    let packed_1 = |component: &str| {
        let row = standard.iter().find(|r| {
            r["scenario"] == "packed" && r["compression"] == "gzip" && r["month"] == 1 && r["component"] == component
        });
        let row = row.unwrap_or_else(|| panic!("no {component} row in month 1"));
        (row["quantity"].as_f64().unwrap(), row["usd"].as_f64().unwrap())
    };
    let ((gb, gb_usd), (objects, objects_usd)) =
        (packed_1("firehose_partitioned_gb"), packed_1("firehose_partitioned_objects"));
    let (backlog, backlog_usd) = packed_1("partitioned_objects_backlog");
    let partitioned = format!(
        "**{} of dynamic partitioning in month 1 ({} for {} GB, {} for {} objects)**; **with a day's backlog in every \
         flush, {} objects a month: {} in object fees and S3 PUTs against {}**",
        dollars(gb_usd + objects_usd),
        dollars(gb_usd),
        quantity(gb),
        dollars(objects_usd),
        quantity(objects),
        quantity(backlog),
        dollars(backlog_usd),
        dollars(objects_usd + packed_1("s3_put").1),
    );
    assert!(doc.contains(&partitioned), "docs/cost.md should say:\n{partitioned}");
    let arrival = run(&["--partitioning", "arrival"]);
    assert!(!arrival.iter().any(|r| r["component"].as_str().unwrap().contains("partitioned")), "event mode only");
    let arrival = format!(
        "With `--partitioning arrival` (stacks created before) month 1 packed is **{}**.",
        dollars(month_1(&arrival, "packed", "total"))
    );
    assert!(doc.contains(&arrival), "docs/cost.md should say:\n{arrival}");
}
