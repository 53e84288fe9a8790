//! Progress for long work: an indicatif bar on a terminal, plain periodic lines on stderr otherwise; nothing under
//! `--quiet` (the output mode [`crate::output`] decides once).

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often plain progress lines are printed off a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

pub(crate) struct Progress {
    label: &'static str,
    bar: Option<ProgressBar>,
    last_line: Instant,
    quiet: bool,
}

impl Progress {
    /// `total` of 0 means unknown. Silent under `--quiet` (machine output on stdout stays clean either way).
    pub(crate) fn new(label: &'static str, total: u64) -> Self {
        Progress::shown_if(label, total, true)
    }

    /// [`Progress::new`], also silent when `shown` is false: work too short to show, or a part of a command that
    /// reports it otherwise (the demo's own run).
    pub(crate) fn shown_if(label: &'static str, total: u64, shown: bool) -> Self {
        let quiet = !shown || crate::output::quiet();
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = if total > 0 { ProgressBar::new(total) } else { ProgressBar::new_spinner() };
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(label);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { label, bar, last_line: Instant::now(), quiet }
    }

    /// Updates the position and the message (shown on the bar, or printed every few seconds off a terminal).
    pub(crate) fn update(&mut self, position: u64, message: impl FnOnce() -> String) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
            bar.set_message(message());
        } else if !self.quiet && self.last_line.elapsed() >= PLAIN_EVERY {
            self.last_line = Instant::now();
            eprintln!("{}: {}", self.label, message());
        }
    }

    /// A line of progress (a stack event, a step): above the spinner on a terminal, on stderr otherwise.
    pub(crate) fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.set_message(line.trim().to_owned());
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
