//! Results for people (tables) and machines (JSON) on stdout; messages to people on stderr, from one place
//! ([`say`], silenced by `--quiet`; [`warn`] and [`error`], always). Tracing is for the operator's debug log
//! (`REAQTIONS_LOG`), never for a message a person must read.

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use serde_json::Value;

/// [`say`] with `format!` arguments.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say(format_args!($($arg)*))
    };
}

/// [`warn`] with `format!` arguments.
#[macro_export]
macro_rules! warning {
    ($($arg:tt)*) => {
        $crate::output::warn(format_args!($($arg)*))
    };
}

/// `--quiet`: set once, before any work, by the command that parsed it.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub(crate) fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// A line for people on stderr: what happened, what was decided, what to do next. Nothing with `--quiet`.
pub(crate) fn say(line: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("{line}");
    }
}

/// A warning on stderr (`warning: ` and the line), shown even with `--quiet`.
pub fn warn(line: impl std::fmt::Display) {
    eprintln!("warning: {line}");
}

/// A question on the terminal (stderr, even with `--quiet`: it waits for an answer), and the line answered.
pub(crate) fn ask(question: &str) -> std::io::Result<String> {
    use std::io::Write as _;
    let mut stderr = std::io::stderr();
    write!(stderr, "{question}")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer)
}

/// An error on stderr (`error: ` and the line), shown even with `--quiet`: what ended the command, or what a
/// part running beside it (the local broker) could not do.
pub fn error(line: impl std::fmt::Display) {
    eprintln!("error: {line}");
}

/// How a command prints its result: a table for people, JSON for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// Prints a flat serializable value as a two-column table, or as JSON.
pub(crate) fn print(format: OutputFormat, title: &str, value: &impl Serialize) -> Result<()> {
    let json = serde_json::to_value(value)?;
    match format {
        OutputFormat::Json => line(&serde_json::to_string_pretty(&json)?)?,
        OutputFormat::Table => {
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
            table.set_header([title, ""]);
            add_rows(&mut table, "", &json);
            line(&table.to_string())?;
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

/// `1,234,567`: a whole number with thousands separators.
pub(crate) fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.round());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && c != '-' && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 object`, `2 objects`: a count with its noun (plural with an `s`).
pub(crate) fn count(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// `512 B`, `12.3 kB`, `1.0 MB`: a size in decimal units, as cargo and uv print them.
pub(crate) fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.1} GB", bytes as f64 / 1e9),
    }
}

/// Says where a result went and how big it is: `wrote page.html (1.0 MB)`.
pub(crate) fn wrote(path: &std::path::Path) {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    say(format!("wrote {} ({})", path.display(), size(bytes)));
}

/// A results file (`--output FILE`): written beside its path and moved onto it once the command succeeded, so a
/// command that fails leaves the file as it was (or absent), never empty or half written. A path that is not a
/// regular file (`/dev/stdout`, a pipe) is written directly and never removed.
pub(crate) struct ResultFile {
    file: std::fs::File,
    path: std::path::PathBuf,
    /// The file written while the command runs, beside `path`; `None` when that is `path` itself.
    staged: Option<std::path::PathBuf>,
}

impl ResultFile {
    pub(crate) fn create(path: &std::path::Path) -> Result<ResultFile> {
        use anyhow::Context as _;
        let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file());
        let staged = (!special).then(|| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            path.with_file_name(format!(".{name}.reaqtions-{}", std::process::id()))
        });
        let file = std::fs::File::create(staged.as_deref().unwrap_or(path))
            .with_context(|| format!("cannot create output file {}", path.display()))?;
        Ok(ResultFile { file, path: path.to_owned(), staged })
    }

    /// Moves the results onto their path and says where they went, with their size.
    pub(crate) fn commit(mut self) -> Result<()> {
        use anyhow::Context as _;
        use std::io::Write as _;
        self.file.flush()?;
        if let Some(staged) = self.staged.take() {
            std::fs::rename(&staged, &self.path)
                .with_context(|| format!("cannot move the results onto {}", self.path.display()))?;
        }
        wrote(&self.path);
        Ok(())
    }
}

impl std::io::Write for ResultFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A results file never committed (the command failed) takes its staged file with it.
impl Drop for ResultFile {
    fn drop(&mut self) {
        if let Some(staged) = self.staged.take() {
            let _ = std::fs::remove_file(staged);
        }
    }
}

/// Where results go when `--output FILE` is given (stdout otherwise).
static DESTINATION: std::sync::Mutex<Option<ResultFile>> = std::sync::Mutex::new(None);

/// Sends every result line to `path` instead of stdout; it is replaced only when the command succeeds.
pub(crate) fn write_results_to(path: &std::path::Path) -> Result<()> {
    *DESTINATION.lock().unwrap_or_else(|e| e.into_inner()) = Some(ResultFile::create(path)?);
    Ok(())
}

/// After a command that wrote its results to `--output FILE`: moves them there and says so, with the size.
pub(crate) fn results_written() -> Result<()> {
    match DESTINATION.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(file) => file.commit(),
        None => Ok(()),
    }
}

/// After a command that failed: its `--output FILE` is left as it was (the failure is the answer).
pub(crate) fn results_abandoned() {
    drop(DESTINATION.lock().unwrap_or_else(|e| e.into_inner()).take());
}

/// One line of result on stdout (or the `--output` file). Unlike `println!`, a closed pipe (`reaqtions … | head -1`) is an error the
/// caller returns, and `main` ends quietly on it with exit 0, as ripgrep does.
pub(crate) fn line(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(file) = DESTINATION.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        return file.flush();
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Whether an error is a closed stdout pipe (the reader went away: nothing is wrong).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    let broken = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(broken)
            || e.downcast_ref::<csv::Error>().is_some_and(|c| matches!(c.kind(), csv::ErrorKind::Io(io) if broken(io)))
    })
}
