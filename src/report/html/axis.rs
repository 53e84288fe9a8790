//! Round times for the page: the bucket widths a chart may use (1/2/5/10/15/30 s or min, 1/2/3/6/12 h, 1 d, then
//! 2 d and weeks), the width the readings are gathered at meanwhile (one that divides every width the page may
//! still choose, so buckets merge exactly), the time ticks on round clock times with the date where it changes,
//! and numbers without needless decimals.

use chrono::{DateTime, Datelike as _};

const S: i64 = 1000;
const MIN: i64 = 60 * S;
const H: i64 = 60 * MIN;
pub(crate) const DAY: i64 = 24 * H;

/// The round widths, narrowest first; past the last, it doubles.
const LADDER: [i64; 20] = [
    S,
    2 * S,
    5 * S,
    10 * S,
    15 * S,
    30 * S,
    MIN,
    2 * MIN,
    5 * MIN,
    10 * MIN,
    15 * MIN,
    30 * MIN,
    H,
    2 * H,
    3 * H,
    6 * H,
    12 * H,
    DAY,
    2 * DAY,
    7 * DAY,
];

/// The `i`th round width.
fn ladder(i: usize) -> i64 {
    match LADDER.get(i) {
        Some(w) => *w,
        None => LADDER[LADDER.len() - 1].saturating_mul(1 << (i - LADDER.len() + 1).min(40)),
    }
}

/// Buckets of `width` from the one holding `from` to the one holding `to` (milliseconds since the epoch).
pub(crate) fn buckets(from: i64, to: i64, width: i64) -> i64 {
    to.div_euclid(width) - from.div_euclid(width) + 1
}

/// The narrowest round width at or over `at_least` that keeps `from..=to` in at most `max` buckets.
pub(crate) fn round_width(from: i64, to: i64, max: i64, at_least: i64) -> i64 {
    (0..).map(ladder).find(|&w| w >= at_least && buckets(from, to, w) <= max).expect("the ladder doubles without end")
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The width to gather at while the page may still choose `width` or any wider round width: their greatest
/// common divisor (1 s under 15 s, 5 s under 15 s, 15 s, 30 s, 1 min, 5 min, 30 min, 1 h, 3 h, …). Each such width
/// divides the next one, so gathered buckets merge into any of them exactly.
pub(crate) fn gathering_width(width: i64) -> i64 {
    let from = (0..).position(|i| ladder(i) >= width).expect("the ladder doubles without end");
    // Past the list every width is a multiple of its last one.
    (from..LADDER.len().max(from + 1)).map(ladder).fold(0, gcd)
}

/// A width in words: "1 s", "15 min", "3 h", "1 d".
pub(crate) fn words(ms: i64) -> String {
    match ms {
        ms if ms % DAY == 0 => format!("{} d", ms / DAY),
        ms if ms % H == 0 => format!("{} h", ms / H),
        ms if ms % MIN == 0 => format!("{} min", ms / MIN),
        ms if ms % S == 0 => format!("{} s", ms / S),
        ms => format!("{ms} ms"),
    }
}

/// A tick on the time axis: where (ms since the epoch) and its label, a second line (the date) where the day
/// changes and on the first tick.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tick {
    pub(crate) at: i64,
    pub(crate) label: String,
    pub(crate) date: Option<String>,
}

/// Ticks on round clock times (UTC) over `from..to`, at most `max` of them: every 3 or 6 hours on a day, every
/// few minutes on an hour, each day on a week.
pub(crate) fn time_ticks(from: i64, to: i64, max: i64) -> Vec<Tick> {
    let step = (0..)
        .map(ladder)
        .find(|&w| to.div_euclid(w) - (from + w - 1).div_euclid(w) < max)
        .expect("the ladder doubles without end");
    let first = (from + step - 1).div_euclid(step) * step;
    let mut ticks = Vec::new();
    let mut previous: Option<(i32, chrono::NaiveDate)> = None;
    let mut at = first;
    while at <= to {
        let Some(time) = DateTime::from_timestamp_millis(at) else { break };
        let (year, day) = (time.year(), time.date_naive());
        let (label, date) = if step >= DAY {
            let new_year = previous.is_none_or(|(y, _)| y != year);
            (time.format("%b %-d").to_string(), new_year.then(|| year.to_string()))
        } else {
            let label = time.format(if step < MIN { "%H:%M:%S" } else { "%H:%M" }).to_string();
            (label, previous.is_none_or(|(_, d)| d != day).then(|| day.format("%Y-%m-%d").to_string()))
        };
        previous = Some((year, day));
        ticks.push(Tick { at, label, date });
        at += step;
    }
    ticks
}

/// A tick step for `lo..hi` giving about `count` ticks: 1, 2 or 5 times a power of ten.
pub(crate) fn number_step(lo: f64, hi: f64, count: f64) -> f64 {
    let raw = ((hi - lo) / count).max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude)
}

/// A number as an axis shows it: no needless decimals ("40", "2.5", "0.25"), for ticks `step` apart.
pub(crate) fn number(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize + 1;
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    if text == "-0" { "0".to_owned() } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        reaqtions_lambda::time::parse_utc_ms(text.as_bytes()).unwrap()
    }

    /// The narrowest round width keeping at most 120 buckets, for spans from seconds to weeks.
    #[test]
    fn widths_are_round() {
        let from = ms("2026-12-06T00:00:00Z");
        let width = |span: i64| words(round_width(from, from + span - 1, 120, 1));
        assert_eq!(width(5 * S), "1 s");
        assert_eq!(width(10 * MIN), "5 s");
        assert_eq!(width(H), "30 s");
        assert_eq!(width(3 * H), "2 min");
        assert_eq!(width(DAY), "15 min");
        assert_eq!(width(2 * DAY), "30 min");
        assert_eq!(width(7 * DAY), "2 h");
        assert_eq!(width(30 * DAY), "6 h");
        assert_eq!(width(100 * DAY), "1 d");
        assert_eq!(width(400 * DAY), "7 d");
        // Each gathering width divides every round width from there on.
        for i in 0..LADDER.len() + 3 {
            let g = gathering_width(ladder(i));
            assert!(g <= ladder(i) && (i..LADDER.len() + 4).all(|j| ladder(j) % g == 0), "{}", words(ladder(i)));
            assert!((0..LADDER.len() + 4).any(|j| ladder(j) == g), "{} is round", words(g));
        }
        assert_eq!(gathering_width(10 * S), 5 * S);
        assert_eq!(gathering_width(10 * MIN), 5 * MIN);
        assert_eq!(gathering_width(2 * H), H);
    }

    /// The day: ticks every 3 hours from midnight (not 23:53, 05:26, …), the date on the first and at
    /// the next midnight.
    #[test]
    fn ticks_fall_on_round_times_with_the_date_where_it_changes() {
        let ticks = time_ticks(ms("2026-12-05T23:53:00Z"), ms("2026-12-06T22:06:00Z"), 9);
        let labels: Vec<&str> = ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"]);
        assert_eq!(ticks[0].date.as_deref(), Some("2026-12-06"));
        assert!(ticks[1..].iter().all(|t| t.date.is_none()));
        assert!(ticks.iter().all(|t| t.at % (3 * H) == 0));
        let day = time_ticks(ms("2026-12-06T00:00:00Z"), ms("2026-12-07T00:00:00Z"), 9);
        assert_eq!((day.len(), day[8].label.as_str(), day[8].date.as_deref()), (9, "00:00", Some("2026-12-07")));
        // Seconds on a short span; days (and the year once) on a long one.
        let short = time_ticks(ms("2026-12-06T10:00:00.300Z"), ms("2026-12-06T10:00:05.300Z"), 9);
        assert_eq!(short[0].label, "10:00:01");
        let weeks = time_ticks(ms("2026-11-29T00:00:00Z"), ms("2026-12-13T00:00:00Z"), 9);
        assert_eq!((weeks[0].label.as_str(), weeks[0].date.as_deref()), ("Nov 29", Some("2026")));
        assert!(weeks.windows(2).all(|w| w[1].at - w[0].at == 2 * DAY) && weeks[1].date.is_none());
    }

    #[test]
    fn numbers_carry_no_needless_decimals() {
        assert_eq!(number(40.0, 10.0), "40");
        assert_eq!(number(2.5, 0.5), "2.5");
        assert_eq!(number(0.30000000000000004, 0.1), "0.3");
        assert_eq!(number(1.0, 0.2), "1");
        assert_eq!(number(-0.0, 5.0), "0");
        assert_eq!(number(1020.0, 20.0), "1020");
        assert_eq!(number_step(0.0, 40.0, 5.0), 10.0);
        assert_eq!(number_step(980.0, 1060.0, 5.0), 20.0);
        assert_eq!(number_step(0.0, 1.0, 5.0), 0.2);
    }
}
