//! Firehose S3 prefixes: parsing `!{timestamp:…}`, `!{firehose:…}` and `!{partitionKeyFromLambda:…}` expressions,
//! evaluating them the way Firehose does (UTC, Java DateTimeFormatter letters), naming objects, and which hour
//! partitions can hold the readings of a window, for both layouts.

use anyhow::{Result, bail, ensure};
use chrono::{DateTime, Datelike as _, Duration, Timelike as _, Utc};
use rand::Rng as _;
use rand::distr::Alphanumeric;

/// Appended by Firehose when a prefix has no timestamp expression.
const DEFAULT_TIME_FOLDERS: &str = "yyyy/MM/dd/HH";

/// Whether Firehose appends [`DEFAULT_TIME_FOLDERS`] to a prefix made only of partition keys (no timestamp).
/// UNCONFIRMED (awaits a real account): AWS's documented dynamic-partitioning examples show objects directly under
/// the keys, so reaqtions assumes it does not.
pub(crate) const TIME_FOLDERS_AFTER_KEYS: bool = false;

/// The partition keys the transform returns in event mode, in the order the tool's prefix nests them.
pub(crate) const PARTITION_KEYS: [&str; 4] = ["year", "month", "day", "hour"];

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Timestamp(Vec<Field>),
    ErrorType,
    RandomString,
    /// `!{partitionKeyFromLambda:<key>}`, one of [`PARTITION_KEYS`] (by index): the reading's own hour.
    Key(usize),
}

/// One element of a Java DateTimeFormatter pattern.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Year(usize),
    Month(usize),
    Day(usize),
    DayOfYear(usize),
    Hour(usize),
    Minute(usize),
    Second(usize),
    Text(String),
}

/// A parsed S3 prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct Prefix {
    parts: Vec<Part>,
}

impl Prefix {
    /// Parses a prefix; `error` allows `!{firehose:error-output-type}`.
    pub fn parse(text: &str, error: bool) -> Result<Prefix> {
        ensure!(text.len() <= 1024, "prefix is longer than 1024 characters");
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("!{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let Some(len) = rest[start..].find('}') else { bail!("unclosed expression in prefix {text:?}") };
            let expr = &rest[start + 2..start + len];
            parts.push(match expr.split_once(':') {
                Some(("timestamp", pattern)) => Part::Timestamp(parse_pattern(pattern)?),
                Some(("firehose", "random-string")) => Part::RandomString,
                Some(("firehose", "error-output-type")) if error => Part::ErrorType,
                Some(("firehose", "error-output-type")) => {
                    bail!("!{{firehose:error-output-type}} is only allowed in the error prefix")
                }
                Some(("partitionKeyFromLambda", key)) if !error => {
                    match PARTITION_KEYS.iter().position(|k| *k == key) {
                        Some(index) => Part::Key(index),
                        None => bail!(
                            "!{{{expr}}} is not a key the transform returns ({})",
                            PARTITION_KEYS.map(|k| format!("!{{partitionKeyFromLambda:{k}}}")).join(", ")
                        ),
                    }
                }
                Some(("partitionKeyFromLambda", _)) => {
                    bail!("!{{{expr}}}: Firehose allows no partition keys in the error prefix")
                }
                Some(("partitionKeyFromQuery", _)) => {
                    bail!("!{{{expr}}} needs JQ metadata extraction, which reaqtions pipelines do not use")
                }
                _ => bail!("unknown prefix expression !{{{expr}}}"),
            });
            rest = &rest[start + len + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let keyed = parts.iter().any(|p| matches!(p, Part::Key(_)));
        if !parts.iter().any(|p| matches!(p, Part::Timestamp(_))) && (!keyed || TIME_FOLDERS_AFTER_KEYS) {
            parts.push(Part::Timestamp(parse_pattern(DEFAULT_TIME_FOLDERS)?));
            parts.push(Part::Literal("/".into()));
        }
        Ok(Prefix { parts })
    }

    /// The prefix as a partition-projection `storage.location.template` (after the bucket): `yyyy`, `MM`, `dd`
    /// and `HH` become `${year}`, `${month}`, `${day}`, `${hour}`, and the error type `error_type`. `Err` says why
    /// the prefix cannot be projected (a random string, another time field, a missing or repeated one).
    pub(crate) fn projection_template(&self, error_type: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut seen = [0u8; 4];
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::ErrorType => out.push_str(error_type),
                Part::RandomString => return Err("!{firehose:random-string} cannot be projected".into()),
                Part::Key(index) => {
                    seen[*index] += 1;
                    out.push_str(&format!("${{{}}}", PARTITION_KEYS[*index]));
                }
                Part::Timestamp(fields) => {
                    for field in fields {
                        let (index, name) = match field {
                            Field::Year(4) => (0, "year"),
                            Field::Month(2) => (1, "month"),
                            Field::Day(2) => (2, "day"),
                            Field::Hour(2) => (3, "hour"),
                            Field::Text(s) => {
                                out.push_str(s);
                                continue;
                            }
                            other => {
                                return Err(format!(
                                    "the time field {other:?} cannot be projected (use yyyy, MM, dd and HH)"
                                ));
                            }
                        };
                        seen[index] += 1;
                        out.push_str(&format!("${{{name}}}"));
                    }
                }
            }
        }
        for (count, name) in seen.iter().zip(["yyyy", "MM", "dd", "HH"]) {
            if *count != 1 {
                return Err(format!("it must hold !{{timestamp:{name}}} exactly once"));
            }
        }
        if !out.ends_with('/') {
            out.push('/');
        }
        Ok(out)
    }

    pub(crate) fn has_error_type(&self) -> bool {
        self.parts.contains(&Part::ErrorType)
    }

    /// Whether objects are filed by partition keys (event mode) rather than by arrival time alone.
    pub(crate) fn is_keyed(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Key(_)))
    }

    /// Evaluates the prefix for the arrival time of the oldest record in an object (and, for keys, its hour).
    pub(crate) fn render(&self, when: DateTime<Utc>, error_type: &str) -> String {
        self.render_partition(when, when, error_type)
    }

    /// Evaluates the prefix for an object whose oldest record arrived at `arrival`, of the partition whose keys
    /// are `hour`'s ([`reaqtions_lambda::PartitionKeys`]: zero-padded year, month, day, hour).
    pub(crate) fn render_partition(&self, arrival: DateTime<Utc>, hour: DateTime<Utc>, error_type: &str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::ErrorType => out.push_str(error_type),
                Part::RandomString => {
                    out.extend(rand::rng().sample_iter(Alphanumeric).take(11).map(char::from));
                }
                Part::Timestamp(fields) => format_fields(fields, arrival, &mut out),
                Part::Key(index) => {
                    let field = [Field::Year(4), Field::Month(2), Field::Day(2), Field::Hour(2)][*index].clone();
                    format_fields(&[field], hour, &mut out);
                }
            }
        }
        out
    }

    /// The fixed part before the first expression: where every object of this prefix lives.
    pub(crate) fn static_root(&self) -> &str {
        match self.parts.first() {
            Some(Part::Literal(s)) => s,
            _ => "",
        }
    }

    /// The list prefixes of the partition hours `hours` (first and last, as [`Prefix::partition_hours`] gives
    /// them), when the prefix is hour-partitioned and has no random part; `None` when listing cannot be narrowed
    /// that way (the caller lists the static root).
    pub(crate) fn hour_prefixes(&self, hours: PartitionHours, error_type: &str) -> Option<Vec<String>> {
        let hourly = self.parts.iter().any(|p| match p {
            Part::Timestamp(fields) => fields.iter().any(|f| matches!(f, Field::Hour(_))),
            Part::Key(index) => PARTITION_KEYS[*index] == "hour",
            _ => false,
        });
        // A prefix that mixes keys with arrival times cannot be enumerated from hours alone.
        let mixed = self.is_keyed() && self.parts.iter().any(|p| matches!(p, Part::Timestamp(_)));
        let PartitionHours { first: Some(first), last } = hours else { return None };
        if !hourly || mixed || self.parts.contains(&Part::RandomString) || first > last {
            return None;
        }
        let count = (last - first).num_hours() + 1;
        if count > 24 * 366 {
            return None;
        }
        let mut prefixes: Vec<String> =
            (0..count).map(|h| first + Duration::hours(h)).map(|t| self.render(t, error_type)).collect();
        prefixes.dedup();
        Some(prefixes)
    }

    /// The partition hours that can hold the readings measured in `[since, until)` that arrived by `last_arrival`
    /// (`since` `None`: from the first). The one rule behind the scan engine's listing and filtering, the SQL
    /// engines' partition predicates and `simulate --verify`:
    /// - keyed by the reading's hour (event mode): exactly the window's hours, however late a reading arrived;
    /// - by arrival: from the hour before `since`'s own (Firehose files an object under the arrival hour of its
    ///   oldest record, and a buffer straddles the hour) through the hour of the last instant before
    ///   `last_arrival`.
    pub(crate) fn partition_hours(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        last_arrival: DateTime<Utc>,
    ) -> PartitionHours {
        if self.is_keyed() {
            // Without an end, a reading's hour is at most an hour past its arrival (a later TIME is not believed).
            let ahead = Duration::milliseconds(reaqtions_lambda::time::MAX_AHEAD_OF_ARRIVAL_MS);
            PartitionHours {
                first: since.map(hour_of),
                last: last_partition_hour(until.unwrap_or(last_arrival + ahead)),
            }
        } else {
            PartitionHours { first: since.map(first_partition_hour), last: last_partition_hour(last_arrival) }
        }
    }
}

/// The first and last partition hour to read, both included ([`Prefix::partition_hours`]); no first: from the
/// lake's first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionHours {
    pub(crate) first: Option<DateTime<Utc>>,
    pub(crate) last: DateTime<Utc>,
}

impl PartitionHours {
    /// Whether an object filed under `hour` can hold readings of the window.
    pub(crate) fn contains(&self, hour: DateTime<Utc>) -> bool {
        self.first.is_none_or(|f| hour >= f) && hour <= self.last
    }
}

/// The first arrival-partition hour that can hold records that arrived at or after `since`: the hour before
/// `since`'s own (see [`Prefix::partition_hours`]).
pub(crate) fn first_partition_hour(since: DateTime<Utc>) -> DateTime<Utc> {
    hour_of(since) - Duration::hours(1)
}

/// The last partition hour that can hold anything before `until` (exclusive): the hour of the instant before it.
pub(crate) fn last_partition_hour(until: DateTime<Utc>) -> DateTime<Utc> {
    hour_of(until - Duration::nanoseconds(1))
}

/// The start of `t`'s hour.
pub(crate) fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(3600), 0).unwrap_or(t)
}

/// The prefix the tool writes for event mode: `root` (a prefix's fixed start) followed by the transform's keys,
/// `year=…/month=…/day=…/hour=…/`, the same folder names the arrival layout uses.
pub(crate) fn keyed_prefix(root: &str) -> String {
    let mut out = root.to_owned();
    for key in PARTITION_KEYS {
        out.push_str(&format!("{key}=!{{partitionKeyFromLambda:{key}}}/"));
    }
    out
}

fn parse_pattern(pattern: &str) -> Result<Vec<Field>> {
    let mut fields = Vec::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..].iter().position(|&c| c == '\'').map(|p| i + 1 + p);
            let Some(end) = end else { bail!("unclosed quote in timestamp pattern {pattern:?}") };
            fields.push(Field::Text(chars[i + 1..end].iter().collect()));
            i = end + 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        fields.push(match c {
            'y' | 'u' => Field::Year(run),
            'M' => Field::Month(run),
            'd' => Field::Day(run),
            'D' => Field::DayOfYear(run),
            'H' => Field::Hour(run),
            'm' => Field::Minute(run),
            's' => Field::Second(run),
            c if c.is_ascii_alphabetic() => {
                bail!("timestamp pattern letter {c:?} in {pattern:?} is not supported (use y M d D H m s)")
            }
            _ => Field::Text(chars[i..i + run].iter().collect()),
        });
        i += run;
    }
    Ok(fields)
}

fn format_fields(fields: &[Field], t: DateTime<Utc>, out: &mut String) {
    use std::fmt::Write as _;
    for f in fields {
        let _ = match *f {
            Field::Year(2) => write!(out, "{:02}", t.year() % 100),
            Field::Year(n) => write!(out, "{:0n$}", t.year()),
            Field::Month(n) => write!(out, "{:0n$}", t.month()),
            Field::Day(n) => write!(out, "{:0n$}", t.day()),
            Field::DayOfYear(n) => write!(out, "{:0n$}", t.ordinal()),
            Field::Hour(n) => write!(out, "{:0n$}", t.hour()),
            Field::Minute(n) => write!(out, "{:0n$}", t.minute()),
            Field::Second(n) => write!(out, "{:0n$}", t.second()),
            Field::Text(ref s) => write!(out, "{s}"),
        };
    }
}

/// Firehose's object name after the prefix: `<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`.
pub(crate) fn object_name(stream: &str, version: u32, written: DateTime<Utc>) -> String {
    format!("{stream}-{version}-{}-{}", written.format("%Y-%m-%d-%H-%M-%S"), uuid::Uuid::new_v4())
}

/// The hour an object key is partitioned under, from `year=/month=/day=/hour=` or `yyyy/MM/dd/HH/` folders.
pub(crate) fn key_hour(key: &str) -> Option<DateTime<Utc>> {
    let segments: Vec<&str> = key.split('/').collect();
    let digits =
        |s: &str, n: usize| (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok())?;
    for w in segments.windows(4) {
        let strip = |s: &'static str, i: usize| w[i].strip_prefix(s).unwrap_or(w[i]);
        let (y, m, d, h) = (
            digits(strip("year=", 0), 4),
            digits(strip("month=", 1), 2),
            digits(strip("day=", 2), 2),
            digits(strip("hour=", 3), 2),
        );
        if let (Some(y), Some(m), Some(d), Some(h)) = (y, m, d, h) {
            return chrono::NaiveDate::from_ymd_opt(y as i32, m, d)?.and_hms_opt(h, 0, 0).map(|t| t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{DEFAULT_ERROR_PREFIX, DEFAULT_PREFIX};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn default_prefixes_evaluate_in_utc() {
        let t = at("2026-03-07T05:09:59.999Z");
        let p = Prefix::parse(DEFAULT_PREFIX, false).unwrap();
        assert_eq!(p.render(t, ""), "processed/year=2026/month=03/day=07/hour=05/");
        let e = Prefix::parse(DEFAULT_ERROR_PREFIX, true).unwrap();
        assert_eq!(e.render(t, "processing-failed"), "error/processing-failed/year=2026/month=03/day=07/hour=05/");
        assert_eq!(p.static_root(), "processed/year=");
    }

    #[test]
    fn prefix_without_timestamp_gets_hour_folders_appended() {
        let t = at("2026-11-25T21:30:00Z");
        assert_eq!(Prefix::parse("processed/", false).unwrap().render(t, ""), "processed/2026/11/25/21/");
        assert_eq!(Prefix::parse("", false).unwrap().render(t, ""), "2026/11/25/21/");
    }

    #[test]
    fn java_pattern_letters_and_quotes() {
        let t = at("2026-02-03T04:05:06Z");
        let p = Prefix::parse("x/!{timestamp:yy-M-d 'at' HH.mm.ss (DDD)}/", false).unwrap();
        assert_eq!(p.render(t, ""), "x/26-2-3 at 04.05.06 (034)/");
        let r = Prefix::parse("r/!{firehose:random-string}/!{timestamp:yyyy}/", false).unwrap().render(t, "");
        assert_eq!(r.len(), "r/".len() + 11 + "/2026/".len());
    }

    #[test]
    fn bad_prefixes_are_named() {
        assert!(Prefix::parse("p/!{timestamp:yyyy", false).unwrap_err().to_string().contains("unclosed"));
        assert!(Prefix::parse("p/!{timestamp:QQ}/", false).unwrap_err().to_string().contains("'Q'"));
        assert!(Prefix::parse("p/!{firehose:error-output-type}/", false).is_err());
        assert!(Prefix::parse("p/!{partitionKeyFromQuery:id}/", false).unwrap_err().to_string().contains("JQ"));
    }

    #[test]
    fn partition_hours_start_an_hour_early_and_end_before_until() {
        assert_eq!(first_partition_hour(at("2026-11-25T22:40:00Z")), at("2026-11-25T21:00:00Z"));
        // A record that arrived at 22:00:26 can sit in an object filed under hour 21.
        assert_eq!(first_partition_hour(at("2026-11-25T22:00:00Z")), at("2026-11-25T21:00:00Z"));
        assert_eq!(last_partition_hour(at("2026-11-26T00:10:00Z")), at("2026-11-26T00:00:00Z"));
        // `until` is exclusive: the hour starting at it holds nothing before it.
        assert_eq!(last_partition_hour(at("2026-11-26T00:00:00Z")), at("2026-11-25T23:00:00Z"));
    }

    #[test]
    fn hour_prefixes_cover_the_range_only() {
        let p = Prefix::parse(DEFAULT_PREFIX, false).unwrap();
        let hours = PartitionHours { first: Some(at("2026-11-25T21:00:00Z")), last: at("2026-11-26T00:00:00Z") };
        let got = p.hour_prefixes(hours, "").unwrap();
        assert_eq!(
            got,
            [
                "processed/year=2026/month=11/day=25/hour=21/",
                "processed/year=2026/month=11/day=25/hour=22/",
                "processed/year=2026/month=11/day=25/hour=23/",
                "processed/year=2026/month=11/day=26/hour=00/"
            ]
        );
        let random = Prefix::parse("p/!{firehose:random-string}/!{timestamp:yyyy/MM/dd/HH}/", false).unwrap();
        assert_eq!(random.hour_prefixes(hours, ""), None);
    }

    #[test]
    fn arrival_partitions_start_an_hour_early_and_keyed_ones_are_the_window() {
        let (since, until, arrival) =
            (at("2026-11-25T22:40:00Z"), at("2026-11-26T00:10:00Z"), at("2026-11-26T01:10:00Z"));
        let arrival_layout = Prefix::parse(DEFAULT_PREFIX, false).unwrap();
        let hours = arrival_layout.partition_hours(Some(since), Some(until), arrival);
        assert_eq!(hours, PartitionHours { first: Some(at("2026-11-25T21:00:00Z")), last: at("2026-11-26T01:00:00Z") });
        let keyed = Prefix::parse(&keyed_prefix("processed/"), false).unwrap();
        let hours = keyed.partition_hours(Some(since), Some(until), arrival);
        assert_eq!(hours, PartitionHours { first: Some(at("2026-11-25T22:00:00Z")), last: at("2026-11-26T00:00:00Z") });
        assert!(hours.contains(at("2026-11-25T22:00:00Z")) && !hours.contains(at("2026-11-26T01:00:00Z")));
        // Without an end: up to an hour past the last arrival (a later TIME is not believed).
        assert_eq!(keyed.partition_hours(Some(since), None, arrival).last, at("2026-11-26T02:00:00Z"));
        assert_eq!(
            keyed.hour_prefixes(
                PartitionHours { first: Some(at("2026-11-25T23:00:00Z")), last: at("2026-11-25T23:00:00Z") },
                ""
            ),
            Some(vec!["processed/year=2026/month=11/day=25/hour=23/".to_owned()])
        );
    }

    #[test]
    fn keyed_prefixes_render_the_reading_hour_and_project_like_the_arrival_layout() {
        let keyed = Prefix::parse(&keyed_prefix("processed/"), false).unwrap();
        assert!(keyed.is_keyed() && !Prefix::parse(DEFAULT_PREFIX, false).unwrap().is_keyed());
        let rendered = keyed.render_partition(at("2026-11-26T12:05:00Z"), at("2026-03-07T10:00:00Z"), "");
        assert_eq!(rendered, "processed/year=2026/month=03/day=07/hour=10/", "no time folders appended");
        assert_eq!(
            keyed.projection_template("x").unwrap(),
            Prefix::parse(DEFAULT_PREFIX, false).unwrap().projection_template("x").unwrap()
        );
        assert_eq!(keyed.static_root(), "processed/year=");
        let e = Prefix::parse("e/!{partitionKeyFromLambda:hour}/", true).unwrap_err().to_string();
        assert!(e.contains("error prefix"), "{e}");
        let e = Prefix::parse("p/!{partitionKeyFromLambda:device}/", false).unwrap_err().to_string();
        assert!(e.contains("partitionKeyFromLambda:device") && e.contains("partitionKeyFromLambda:hour"), "{e}");
    }

    #[test]
    fn key_hours_from_both_layouts() {
        let h = at("2026-11-25T21:00:00Z");
        assert_eq!(key_hour("processed/year=2026/month=11/day=25/hour=21/s-1-2026-11-25-21-01-02-u"), Some(h));
        assert_eq!(key_hour("processed/2026/11/25/21/s-1-x"), Some(h));
        assert_eq!(key_hour("processed/loose-object.json"), None);
    }

    #[test]
    fn object_names_follow_firehose() {
        let name = object_name("reaqtions-iot-data-stream", 1, at("2026-11-25T21:01:02Z"));
        assert!(name.starts_with("reaqtions-iot-data-stream-1-2026-11-25-21-01-02-"), "{name}");
        assert_eq!(name.len(), "reaqtions-iot-data-stream-1-2026-11-25-21-01-02-".len() + 36);
    }
}
