//! Results for people (tables) and machines (JSON) on stdout; messages go to stderr.

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use serde_json::Value;

/// How a command prints its result: a table for people, JSON for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// Prints a flat serializable value as a two-column table, or as JSON.
pub fn print(format: OutputFormat, title: &str, value: &impl Serialize) -> Result<()> {
    let json = serde_json::to_value(value)?;
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&json)?),
        OutputFormat::Table => {
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
            table.set_header([title, ""]);
            add_rows(&mut table, "", &json);
            println!("{table}");
        }
    }
    Ok(())
}

fn add_rows(table: &mut Table, path: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let name = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                add_rows(table, &name, v);
            }
        }
        Value::Null => {
            table.add_row([path, "-"]);
        }
        Value::Number(n) if n.is_f64() => {
            table.add_row([path.to_owned(), format!("{:.2}", n.as_f64().unwrap_or_default())]);
        }
        Value::String(s) => {
            table.add_row([path, s.as_str()]);
        }
        other => {
            table.add_row([path.to_owned(), other.to_string()]);
        }
    }
}

/// `1 object`, `2 objects`: a count with its noun (plural with an `s`).
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}
