//! The report's flags as Athena SQL over the lake tables (`report --engine athena`): the time filter becomes
//! partition predicates on `year/month/day/hour` for the partitions the lake's layout files the window's readings
//! under ([`Query::partition_hours`]: exactly the window's hours when filed by the reading's hour, widened for
//! lateness when filed by arrival), grouped into whole years, months and days where the range covers them so a
//! long range stays a short predicate, plus the exact filter the scan engine applies on the reading time; devices
//! go as execution parameters, never into the text. Each reading is answered once, by the scan engine's rule
//! ([`crate::copies`], [`once`]), unless the query keeps duplicates. Result columns map back to the readings' own
//! names. The stack's saved query (`<stack>-readings-once`) is [`saved_readings_once`].

use chrono::{DateTime, Datelike as _, Duration, DurationRound as _, TimeZone as _, Timelike as _, Utc};

use super::Query;
use crate::prefix::Prefix;

/// The readings' fields as the table has them (lowercase) and as the readings carry them.
pub const FIELDS: [(&str, &str); 18] = [
    ("device_id", "device_id"),
    ("seq", "seq"),
    ("sim_run", "sim_run"),
    ("time", "TIME"),
    ("user_input", "USER_INPUT"),
    ("no2", "NO2"),
    ("co", "CO"),
    ("pm01", "PM01"),
    ("pm2_5", "PM2_5"),
    ("pm10", "PM10"),
    ("aqi", "AQI"),
    ("eco2", "eCO2"),
    ("tvoc", "TVOC"),
    ("p", "P"),
    ("t", "T"),
    ("rh", "RH"),
    ("_firehose_arrival", "_firehose_arrival"),
    ("_reading_time", "_reading_time"),
];

/// A SQL text and its positional execution parameters (SQL literals).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    /// One SQL literal per `?` of `sql`, in order (what Athena's `ExecutionParameters` take).
    pub parameters: Vec<String>,
}

/// A string as a SQL literal: quoted, inner quotes doubled.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn timestamp(t: DateTime<Utc>) -> String {
    format!("from_iso8601_timestamp('{}')", t.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
}

/// Partition predicates for every hour from `since` to `until` (inclusive), grouped into whole days, months and
/// years where the range covers them.
pub(crate) fn partitions(since: DateTime<Utc>, until: DateTime<Utc>) -> String {
    let hour = |t: DateTime<Utc>| t.duration_trunc(Duration::hours(1)).unwrap_or(t);
    let (mut at, end) = (hour(since), hour(until));
    let mut clauses: Vec<String> = Vec::new();
    while at <= end {
        let day_start = at.hour() == 0;
        let month_start = day_start && at.day() == 1;
        let year_start = month_start && at.month() == 1;
        let next_year = at.with_year(at.year() + 1).unwrap_or(at);
        let next_month =
            if at.month() == 12 { next_year.with_month(1) } else { at.with_month(at.month() + 1) }.unwrap_or(at);
        if year_start && next_year - Duration::hours(1) <= end {
            clauses.push(format!("(year = {})", at.year()));
            at = next_year;
        } else if month_start && next_month - Duration::hours(1) <= end {
            clauses.push(format!("(year = {} AND month = {})", at.year(), at.month()));
            at = next_month;
        } else {
            // The hours of this day within the range.
            let last = (at + Duration::hours(i64::from(23 - at.hour()))).min(end);
            let (a, b) = (at.hour(), last.hour());
            let hours = if a == 0 && b == 23 { String::new() } else { format!(" AND hour BETWEEN {a} AND {b}") };
            clauses.push(format!("(year = {} AND month = {} AND day = {}{hours})", at.year(), at.month(), at.day()));
            at = last + Duration::hours(1);
        }
    }
    if clauses.is_empty() { "FALSE".into() } else { format!("({})", clauses.join(" OR ")) }
}

/// The first partition hour a query with `--since` reads under `prefix` ([`Query::partition_hours`]). Without
/// `--since` the caller derives a floor from the lake: every query the tool writes is bounded, since the table
/// projects 2024-2099 by hour and an unbounded query lists all.
pub fn partition_floor(query: &Query, prefix: &Prefix) -> Option<DateTime<Utc>> {
    query.partition_hours(prefix).first
}

/// When a row's reading was measured, in SQL: the scan engine's rule ([`super::reading_time`]), with the
/// transform's bounds (`reaqtions_lambda::time`): its `_reading_time`; for a row without one the device's `time`
/// (UTC when it has no zone) unless it is before the first reading year or too far ahead of the arrival, then the
/// arrival; a row without an arrival (not written by the transform) has its `time`.
fn reading_time() -> String {
    use reaqtions_lambda::time::{EARLIEST_READING_MS, MAX_AHEAD_OF_ARRIVAL_MS};
    let earliest = DateTime::from_timestamp_millis(EARLIEST_READING_MS).expect("a valid instant");
    let (time, arrival) =
        ("try(from_iso8601_timestamp(\"time\"))", "try(from_iso8601_timestamp(\"_firehose_arrival\"))");
    format!(
        "coalesce(try(from_iso8601_timestamp(\"_reading_time\")), CASE WHEN {arrival} IS NULL THEN {time} \
         WHEN {time} >= {} AND {time} <= {arrival} + INTERVAL '{}' SECOND THEN {time} ELSE {arrival} END)",
        timestamp(earliest),
        MAX_AHEAD_OF_ARRIVAL_MS / 1000
    )
}

/// A query's filters: those on the table's scan (the partitions under `prefix` that can hold readings measured in
/// the window, from `floor` without `--since`, and the devices), and the window on the reading time `at` (SQL).
struct Filters {
    scan: Vec<String>,
    window: Vec<String>,
}

impl Filters {
    fn new(query: &Query, prefix: &Prefix, floor: DateTime<Utc>, at: &str, parameters: &mut Vec<String>) -> Filters {
        let hours = query.partition_hours(prefix);
        let mut scan = vec![partitions(hours.first.unwrap_or(floor), hours.last)];
        if !query.devices.is_empty() {
            let marks = vec!["?"; query.devices.len()].join(", ");
            scan.push(format!("device_id IN ({marks})"));
            parameters.extend(query.devices.iter().map(|d| literal(d)));
        }
        let mut window = Vec::new();
        if let Some(since) = query.since {
            window.push(format!("{at} >= {}", timestamp(since)));
        }
        if let Some(until) = query.until {
            window.push(format!("{at} < {}", timestamp(until)));
        }
        Filters { scan, window }
    }

    /// All of them, on the scan (every copy kept).
    fn all(self) -> Vec<String> {
        self.scan.into_iter().chain(self.window).collect()
    }
}

fn with_where(mut sql: String, wheres: &[String]) -> String {
    if !wheres.is_empty() {
        sql.push_str("\nWHERE ");
        sql.push_str(&wheres.join("\n  AND "));
    }
    sql
}

/// The two fields the pipeline appends, left out of a reading's content ([`crate::copies`]).
const PIPELINE_FIELDS: [&str; 2] = [reaqtions_lambda::ARRIVAL_FIELD, reaqtions_lambda::READING_TIME_FIELD];

/// The time of a reading's key when it has no `seq`: the device's own `time` (`_reading_time` follows each copy's
/// arrival where the device's clock is not believed, so it cannot key a copy).
const TIME_OF_KEY: &str = "nullif(\"time\", '')";

/// The order copies are numbered in, the scan engine's as near as SQL gets: the object's key (`"$path"`), then,
/// since Trino has no line number within an object, the arrival (Firehose writes a batch's records in the order it
/// received them) and the reading time. Lines tied on all three are alike in every column: either may be kept.
const COPY_ORDER: &str = "object_path, \"_firehose_arrival\", \"_reading_time\"";

/// The readings in `table` that pass `filters`, each once, as the CTE `kept` (the readings' columns; `reading_at`,
/// when it was measured; `copies_dropped`, the later copies of its reading that were dropped; `conflict`, 1 when
/// its key came earlier with other values): the scan engine's rule ([`crate::copies`]) in SQL.
///
/// - `lines` reads the table with the partition predicates (and the devices) in its own WHERE, directly on the
///   table scan: Athena prunes partitions from them before any window function runs, and the JSON objects of
///   those partitions are read whole either way, so dropping copies scans the same bytes as keeping them. It
///   gives each line its reading time, its object (`"$path"`), the time of its key (NULL for a reading keyed by its
///   `seq`) and whether it has a key at all (a device id, and a seq or a time).
/// - `numbered` keeps the window's lines (the scan engine, too, drops copies among the window's readings) and
///   numbers the lines of each reading, its key and its content (every column but the two the pipeline adds), in
///   [`COPY_ORDER`]; NULLs group together, as a field missing from both lines is the same. The partition columns
///   are in no PARTITION BY: a retry's copy filed under a later hour (by arrival, or by a reading time that
///   follows the arrival) is the same reading.
/// - `kept` keeps the first line of each reading, and every line without a key, and marks a kept line whose key
///   an earlier kept line had: a conflict.
///
/// The content compared is the table's columns, not the line's bytes: a field the table lacks, or another
/// spelling of one value (`9.5` and `9.50`), makes a conflict to the scan engine and a copy here.
fn once(table: &str, filters: &Filters) -> String {
    let key = "device_id, key_time, CASE WHEN seq >= 0 THEN sim_run END, CASE WHEN seq >= 0 THEN seq END";
    let content: Vec<String> = FIELDS
        .iter()
        .filter(|(column, _)| !PIPELINE_FIELDS.contains(column))
        .map(|(column, _)| format!("\"{column}\""))
        .collect();
    let reading = format!("key_time, {}", content.join(", "));
    let lines = with_where(
        format!(
            "SELECT {},\n  \"$path\" AS object_path, {} AS reading_at,\n  \
             CASE WHEN seq >= 0 THEN NULL ELSE {TIME_OF_KEY} END AS key_time,\n  \
             coalesce(device_id <> '' AND (seq >= 0 OR {TIME_OF_KEY} IS NOT NULL), false) AS keyed\nFROM \"{table}\"",
            reading_columns().join(", "),
            reading_time()
        ),
        &filters.scan,
    );
    let numbered = with_where(
        format!(
            "SELECT lines.*,\n  \
             CASE WHEN keyed THEN row_number() OVER (PARTITION BY {reading} ORDER BY {COPY_ORDER}) ELSE 1 END \
             AS copy_number,\n  \
             CASE WHEN keyed THEN count(*) OVER (PARTITION BY {reading}) - 1 ELSE 0 END AS copies_dropped\n\
             FROM lines"
        ),
        &filters.window,
    );
    format!(
        "WITH lines AS (\n{lines}\n),\nnumbered AS (\n{numbered}\n),\nkept AS (\nSELECT numbered.*,\n  \
         CASE WHEN keyed AND row_number() OVER (PARTITION BY {key} ORDER BY {COPY_ORDER}) > 1 THEN 1 ELSE 0 END \
         AS conflict\nFROM numbered\nWHERE copy_number = 1\n)\n"
    )
}

/// The columns of a readings query, quoted.
fn reading_columns() -> Vec<String> {
    FIELDS.iter().map(|(column, _)| format!("\"{column}\"")).collect()
}

/// A readings query's result columns beside the readings': the later copies of the row's reading dropped, and 1
/// when the row is a conflict ([`once`]). The engine sums them and leaves them out of the rows.
pub(crate) const COPY_COLUMNS: [&str; 2] = ["_copies_dropped", "_conflict"];

/// The readings that match `query` in the table `table` over the lake filed by `prefix`, oldest first, each
/// once unless the query keeps duplicates; `floor` is the first partition hour read without `--since`
/// ([`partition_floor`]).
pub fn readings(query: &Query, prefix: &Prefix, floor: DateTime<Utc>, table: &str) -> Statement {
    let mut parameters = Vec::new();
    let columns = reading_columns().join(", ");
    let sql = if query.keep_duplicates {
        let filters = Filters::new(query, prefix, floor, &reading_time(), &mut parameters);
        with_where(format!("SELECT {columns}\nFROM \"{table}\""), &filters.all())
            + &format!("\nORDER BY {}, device_id, seq", reading_time())
    } else {
        let filters = Filters::new(query, prefix, floor, "reading_at", &mut parameters);
        let [copies, conflict] = COPY_COLUMNS;
        once(table, &filters)
            + &format!(
                "SELECT {columns}, copies_dropped AS \"{copies}\", conflict AS \"{conflict}\"\nFROM kept\n\
                 ORDER BY reading_at, device_id, seq"
            )
    };
    Statement { sql, parameters }
}

/// The per-device summary `report --summary` shows, aggregated by Athena (arguments as [`readings`]); unless
/// the query keeps duplicates, over each reading once, with `copies_dropped` and `conflicts` per device.
/// `pm2_5_day_mean` is the rule of [`crate::aqi::DailyMean`] in SQL, for the category: the mean PM2.5 of the
/// readings measured in the 1,440 whole minutes ending with the minute of the device's last PM2.5 reading.
pub fn summary(query: &Query, prefix: &Prefix, floor: DateTime<Utc>, table: &str) -> Statement {
    let mut parameters = Vec::new();
    let day = format!("INTERVAL '{}' MINUTE", crate::aqi::DAY_MINUTES);
    let aggregates = format!(
        "SELECT coalesce(device_id, {}) AS device_id, count(*) AS readings, min(\"time\") AS first_time, \
         max(\"time\") AS last_time, round(avg(pm2_5), 2) AS pm2_5_mean, max(pm2_5) AS pm2_5_max, \
         round(avg(pm10), 2) AS pm10_mean, max(pm10) AS pm10_max, max(aqi) AS aqi_max, \
         avg(CASE WHEN date_trunc('minute', reading_at) > date_trunc('minute', pm2_5_last) - {day} THEN pm2_5 END) \
         AS pm2_5_day_mean",
        literal(super::summary::NO_DEVICE)
    );
    // Each row beside the time of its device's last PM2.5 reading, which the day of the mean ends with.
    let with_last = "\nFROM (SELECT kept.*, max(CASE WHEN pm2_5 IS NOT NULL THEN reading_at END) OVER \
                     (PARTITION BY device_id) AS pm2_5_last FROM kept) AS kept";
    let sql = if query.keep_duplicates {
        let filters = Filters::new(query, prefix, floor, &reading_time(), &mut parameters);
        let lines = with_where(
            format!("SELECT {}, {} AS reading_at\nFROM \"{table}\"", reading_columns().join(", "), reading_time()),
            &filters.all(),
        );
        format!("WITH kept AS (\n{lines}\n)\n{aggregates}{with_last}")
    } else {
        once(table, &Filters::new(query, prefix, floor, "reading_at", &mut parameters))
            + &aggregates
            + ", sum(copies_dropped) AS copies_dropped, sum(conflict) AS conflicts"
            + with_last
    };
    Statement { sql: sql + "\nGROUP BY 1\nORDER BY 1", parameters }
}

/// The stack's saved query (`AWS::Athena::NamedQuery` `<stack>-readings-once` in templates/pipeline.yaml, and
/// examples/athena/readings_once.sql): yesterday's readings (UTC, Athena's session zone), each once, oldest
/// first, over the lake filed by `prefix`. It is [`readings`] for that window with the default lateness, its
/// partitions and bounds written relative to `current_date` so that it stays right from day to day. `current_date`
/// is one value for the whole query, so the predicates are constants to the planner (DuckDB prunes by them,
/// `tests/it/duckdb.rs`); that Athena's partition projection prunes by them too is unconfirmed: the query's bytes
/// scanned show it.
pub fn saved_readings_once(prefix: &Prefix, table: &str) -> String {
    let day = |offset: i64| match offset {
        0 => "current_date".to_owned(),
        n if n < 0 => format!("current_date - INTERVAL '{}' DAY", -n),
        n => format!("current_date + INTERVAL '{n}' DAY"),
    };
    let midnight = |offset: i64| format!("CAST({} AS timestamp with time zone)", day(offset));
    let filters = Filters {
        scan: vec![yesterdays_partitions(prefix, &day)],
        window: vec![format!("reading_at >= {}", midnight(-1)), format!("reading_at < {}", midnight(0))],
    };
    once(table, &filters)
        + &format!("SELECT {}\nFROM kept\nORDER BY reading_at, device_id, seq", reading_columns().join(", "))
}

/// The partitions under `prefix` that hold yesterday's readings, by the one rule ([`Query::partition_hours`] for
/// the window of a day, with the default lateness), as predicates on the days `day(offset)` names relative to
/// today.
fn yesterdays_partitions(prefix: &Prefix, day: &dyn Fn(i64) -> String) -> String {
    // Any midnight: the rule counts hours, so the offsets from it are the same every day.
    let today = Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).single().expect("a valid day");
    let hours = Query::window(Some(today - Duration::days(1)), Some(today)).partition_hours(prefix);
    let (first, last) = (hours.first.expect("the window has a start") - today, hours.last - today);
    let (mut at, last) = (first.num_hours(), last.num_hours());
    let mut clauses = Vec::new();
    while at <= last {
        let offset = at.div_euclid(24);
        let (a, b) = (at.rem_euclid(24), (last - offset * 24).min(23));
        let hours = if a == 0 && b == 23 { String::new() } else { format!(" AND hour BETWEEN {a} AND {b}") };
        let d = day(offset);
        clauses.push(format!("(year = year({d}) AND month = month({d}) AND day = day({d}){hours})"));
        at = (offset + 1) * 24;
    }
    format!("({})", clauses.join(" OR "))
}

/// The readings' own name of a result column (Athena answers in lowercase).
pub(crate) fn field_name(column: &str) -> &str {
    FIELDS.iter().find(|(c, _)| *c == column).map_or(column, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// The lake filed by arrival (a stack deployed before the layout could be chosen).
    fn arrival() -> Prefix {
        Prefix::parse(crate::settings::DEFAULT_PREFIX, false).unwrap()
    }

    /// The lake filed by the reading's hour (the keys the tool writes for event mode).
    fn keyed() -> Prefix {
        Prefix::parse(&crate::prefix::keyed_prefix("processed/"), false).unwrap()
    }

    /// A lake floor far from every test's times, to show which bound a statement used.
    fn floor() -> DateTime<Utc> {
        t("2026-01-01T00:00:00Z")
    }

    #[test]
    fn without_since_the_partitions_start_at_the_lakes_floor_and_every_query_is_bounded() {
        let q = Query::default();
        for s in [readings(&q, &arrival(), floor(), "readings"), summary(&q, &keyed(), floor(), "readings")] {
            assert!(s.sql.contains("WHERE ((year = 2026 AND month = 1)"), "bounded from the floor: {}", s.sql);
            assert!(s.parameters.is_empty());
            assert!(s.sql.contains("FROM \"readings\""));
        }
        let until = Query { until: Some(t("2026-01-01T05:10:00Z")), ..Query::default() };
        let s = readings(&until, &arrival(), floor(), "readings");
        let hours = "((year = 2026 AND month = 1 AND day = 1 AND hour BETWEEN 0 AND 6))";
        assert!(s.sql.contains(hours), "until 05:10 and an hour for late arrivals: {}", s.sql);
        assert!(s.sql.starts_with("WITH lines AS (\nSELECT \"device_id\", \"seq\""), "{}", s.sql);
        let s = readings(&until, &keyed(), floor(), "readings");
        let hours = "((year = 2026 AND month = 1 AND day = 1 AND hour BETWEEN 0 AND 5))";
        assert!(s.sql.contains(hours), "filed by the reading's hour: until 05:10, no lateness: {}", s.sql);
        assert_eq!(partition_floor(&until, &arrival()).unwrap_or(floor()), floor());
        let since = Query { since: Some(t("2026-11-25T21:30:00Z")), ..Query::default() };
        let before = Some(t("2026-11-25T20:00:00Z"));
        assert_eq!(partition_floor(&since, &arrival()), before, "the hour before --since's own");
        assert_eq!(partition_floor(&since, &keyed()), Some(t("2026-11-25T21:00:00Z")), "--since's own hour");
    }

    /// A reading measured at 10:59 that arrived at 12:05: filed by its hour, the window 10:00-11:00 reads exactly
    /// hour 10 (and 12:00-13:00 exactly hour 12), whatever `--late` says; filed by arrival, from hour 9 to the
    /// lateness allowance. The row filter is the reading time on both.
    #[test]
    fn a_keyed_lake_is_read_in_exactly_the_windows_hours() {
        let ten = Query::window(Some(t("2026-11-25T10:00:00Z")), Some(t("2026-11-25T11:00:00Z")));
        for late in [Some(Duration::zero()), Some(Duration::hours(6)), None] {
            let s = readings(&Query { late, ..ten.clone() }, &keyed(), floor(), "readings");
            let hour = "WHERE ((year = 2026 AND month = 11 AND day = 25 AND hour BETWEEN 10 AND 10))\n";
            assert!(s.sql.contains(hour), "--late {late:?}: {}", s.sql);
            assert!(s.sql.contains(&format!("{} AS reading_at", reading_time())), "{}", s.sql);
            assert!(s.sql.contains("WHERE reading_at >= from_iso8601_timestamp('2026-11-25T10:00:00.000Z')\n"));
            assert!(s.sql.contains("  AND reading_at < from_iso8601_timestamp('2026-11-25T11:00:00.000Z')\n"));
            let every =
                readings(&Query { late, ..ten.clone() }.keeping_duplicates(true), &keyed(), floor(), "readings");
            assert!(every.sql.contains(hour), "--late {late:?}: {}", every.sql);
            let since = format!("{} >= from_iso8601_timestamp('2026-11-25T10:00:00.000Z')", reading_time());
            assert!(every.sql.contains(&since), "{}", every.sql);
        }
        let twelve = Query::window(Some(t("2026-11-25T12:00:00Z")), Some(t("2026-11-25T13:00:00Z")));
        let s = summary(&twelve, &keyed(), floor(), "readings");
        assert!(s.sql.contains("WHERE ((year = 2026 AND month = 11 AND day = 25 AND hour BETWEEN 12 AND 12))\n"));
        let s = readings(&ten, &arrival(), floor(), "readings");
        let widened = "WHERE ((year = 2026 AND month = 11 AND day = 25 AND hour BETWEEN 9 AND 11))\n";
        assert!(s.sql.contains(widened), "by arrival: an hour before, an hour of lateness: {}", s.sql);
    }

    #[test]
    fn hours_within_one_day() {
        assert_eq!(
            partitions(t("2026-11-25T21:10:00Z"), t("2026-11-25T23:59:00Z")),
            "((year = 2026 AND month = 11 AND day = 25 AND hour BETWEEN 21 AND 23))"
        );
    }

    #[test]
    fn across_a_day_boundary() {
        assert_eq!(
            partitions(t("2026-11-25T22:00:00Z"), t("2026-11-26T01:30:00Z")),
            "((year = 2026 AND month = 11 AND day = 25 AND hour BETWEEN 22 AND 23) OR \
             (year = 2026 AND month = 11 AND day = 26 AND hour BETWEEN 0 AND 1))"
        );
    }

    #[test]
    fn across_a_month_and_a_year_boundary_whole_days_and_months_are_grouped() {
        let p = partitions(t("2025-11-30T23:00:00Z"), t("2027-01-02T05:00:00Z"));
        assert_eq!(
            p,
            "((year = 2025 AND month = 11 AND day = 30 AND hour BETWEEN 23 AND 23) OR (year = 2025 AND month = 12) OR \
             (year = 2026) OR (year = 2027 AND month = 1 AND day = 1) OR \
             (year = 2027 AND month = 1 AND day = 2 AND hour BETWEEN 0 AND 5))"
        );
        let feb = partitions(t("2028-02-01T00:00:00Z"), t("2028-02-29T23:00:00Z"));
        assert_eq!(feb, "((year = 2028 AND month = 2))", "a leap February is a whole month");
    }

    #[test]
    fn since_and_until_give_partitions_and_the_exact_time() {
        let q = Query {
            since: Some(t("2026-11-25T21:30:00Z")),
            until: Some(t("2026-11-25T22:15:00Z")),
            ..Query::default()
        };
        let s = readings(&q, &arrival(), partition_floor(&q, &arrival()).unwrap_or(floor()), "readings");
        assert!(s.sql.contains("hour BETWEEN 20 AND 23"), "an hour before since, an hour of lateness: {}", s.sql);
        assert!(s.sql.contains("coalesce(try(from_iso8601_timestamp(\"_reading_time\"))"), "{}", s.sql);
        let all = Query { late: None, ..q };
        let s = readings(&all, &arrival(), partition_floor(&all, &arrival()).unwrap_or(floor()), "readings");
        assert!(
            s.sql.contains("(year = 2026 AND month = 11 AND day = 26)"),
            "--late all reads every later partition: {}",
            s.sql
        );
        assert!(s.sql.contains(">= from_iso8601_timestamp('2026-11-25T21:30:00.000Z')"), "{}", s.sql);
        assert!(s.sql.contains("< from_iso8601_timestamp('2026-11-25T22:15:00.000Z')"), "{}", s.sql);
    }

    #[test]
    fn devices_are_parameters_and_quotes_cannot_change_the_query() {
        let evil = "aq-1'); DROP TABLE readings; --";
        let q = Query { devices: vec!["aq-0001".into(), evil.into()], ..Query::default() };
        let s = readings(&q, &keyed(), floor(), "readings");
        assert!(s.sql.contains("device_id IN (?, ?)"), "{}", s.sql);
        assert!(!s.sql.contains("DROP") && !s.sql.contains("aq-0001"), "values never spliced: {}", s.sql);
        assert_eq!(s.parameters, ["'aq-0001'", "'aq-1''); DROP TABLE readings; --'"]);
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn the_summary_aggregates_per_device_in_sql() {
        let q = Query { since: Some(t("2026-11-25T21:00:00Z")), devices: vec!["aq-1".into()], ..Query::default() };
        let s = summary(&q, &arrival(), partition_floor(&q, &arrival()).unwrap_or(floor()), "readings");
        let day_mean = "avg(CASE WHEN date_trunc('minute', reading_at) > date_trunc('minute', pm2_5_last) - \
                        INTERVAL '1440' MINUTE THEN pm2_5 END) AS pm2_5_day_mean";
        let last = "max(CASE WHEN pm2_5 IS NOT NULL THEN reading_at END) OVER (PARTITION BY device_id) AS pm2_5_last";
        for part in [
            "count(*) AS readings",
            "round(avg(pm2_5), 2)",
            "max(aqi) AS aqi_max",
            day_mean,
            last,
            "GROUP BY 1",
            "device_id IN (?)",
        ] {
            assert!(s.sql.contains(part), "{part}: {}", s.sql);
        }
        assert!(s.sql.contains("'(no device_id)'"));
        assert_eq!(field_name("pm2_5"), "PM2_5");
        assert_eq!(field_name("eco2"), "eCO2");
        assert_eq!(field_name("other"), "other");
    }

    /// Every copy of a reading dropped by the scan engine's key, content, order and NULL rule; the partition
    /// predicates on the table scan itself, and no partition column in a PARTITION BY.
    #[test]
    fn copies_are_dropped_in_sql_by_the_scan_engines_rule() {
        let q = Query::window(Some(t("2026-11-25T10:00:00Z")), Some(t("2026-11-25T11:00:00Z")));
        let s = readings(&q, &arrival(), floor(), "readings");
        let content = "\"device_id\", \"seq\", \"sim_run\", \"time\", \"user_input\", \"no2\", \"co\", \"pm01\", \
                       \"pm2_5\", \"pm10\", \"aqi\", \"eco2\", \"tvoc\", \"p\", \"t\", \"rh\"";
        let order = "ORDER BY object_path, \"_firehose_arrival\", \"_reading_time\")";
        for part in [
            "\"$path\" AS object_path".to_owned(),
            format!("row_number() OVER (PARTITION BY key_time, {content} {order}"),
            format!("count(*) OVER (PARTITION BY key_time, {content}) - 1"),
            "CASE WHEN seq >= 0 THEN NULL ELSE nullif(\"time\", '') END AS key_time".to_owned(),
            "coalesce(device_id <> '' AND (seq >= 0 OR ".to_owned(),
            "CASE WHEN keyed THEN row_number()".to_owned(),
            format!(
                "row_number() OVER (PARTITION BY device_id, key_time, CASE WHEN seq >= 0 THEN sim_run END, \
                 CASE WHEN seq >= 0 THEN seq END {order} > 1"
            ),
            "WHERE copy_number = 1\n".to_owned(),
            "copies_dropped AS \"_copies_dropped\", conflict AS \"_conflict\"\nFROM kept".to_owned(),
        ] {
            assert!(s.sql.contains(&part), "{part}\n{}", s.sql);
        }
        for partition_by in s.sql.split("PARTITION BY ").skip(1) {
            let columns = &partition_by[..partition_by.find(" ORDER BY").or(partition_by.find(')')).unwrap()];
            for column in ["year", "month", "day", "hour", "_firehose_arrival", "_reading_time\","] {
                assert!(!columns.split([',', ' ']).any(|c| c.trim_matches('"') == column), "{column} in {columns}");
            }
        }
        // The partition predicates are the scan's own WHERE, under every window function; the window on the
        // reading time is applied before the copies are numbered.
        let (lines, rest) = s.sql.split_once("\n),\nnumbered AS (").unwrap();
        let scan = "FROM \"readings\"\nWHERE ((year = 2026 AND month = 11 AND day = 25 AND hour BETWEEN 9 AND 11))";
        assert!(lines.ends_with(scan), "{lines}");
        assert!(lines.contains(&format!("{} AS reading_at", reading_time())));
        assert!(!lines.contains("OVER") && !rest.contains("year ="), "{}", s.sql);
        let window = "FROM lines\nWHERE reading_at >= from_iso8601_timestamp('2026-11-25T10:00:00.000Z')\n  \
                      AND reading_at < from_iso8601_timestamp('2026-11-25T11:00:00.000Z')\n),\nkept AS (";
        assert!(rest.contains(window), "{rest}");
        assert!(rest.ends_with("FROM kept\nORDER BY reading_at, device_id, seq"));
    }

    #[test]
    fn keeping_duplicates_is_the_plain_query() {
        let q = Query::window(Some(t("2026-11-25T10:00:00Z")), None).keeping_duplicates(true);
        let s = readings(&q, &keyed(), floor(), "readings");
        assert!(s.sql.starts_with("SELECT \"device_id\", \"seq\""), "{}", s.sql);
        assert!(s.sql.contains("\nFROM \"readings\"\nWHERE ((year = 2026"));
        assert!(!s.sql.contains("OVER") && !s.sql.contains("_copies_dropped"), "{}", s.sql);
        let s = summary(&q, &keyed(), floor(), "readings");
        assert!(s.sql.starts_with("WITH kept AS (\nSELECT \"device_id\", \"seq\""), "{}", s.sql);
        assert!(s.sql.contains("\nSELECT coalesce(device_id, '(no device_id)') AS device_id, count(*)"));
        assert!(!s.sql.contains("row_number") && !s.sql.contains("copies_dropped"), "{}", s.sql);
        assert!(s.sql.contains("pm2_5_day_mean"), "the category's rule either way: {}", s.sql);
    }

    #[test]
    fn the_summary_counts_each_reading_once_and_the_copies_per_device() {
        let q = Query { since: Some(t("2026-11-25T21:00:00Z")), devices: vec!["aq-1".into()], ..Query::default() };
        let s = summary(&q, &keyed(), floor(), "readings");
        assert!(s.sql.starts_with("WITH lines AS ("), "{}", s.sql);
        assert!(s.sql.contains("AND device_id IN (?)\n),\nnumbered AS ("), "devices filtered on the scan: {}", s.sql);
        let tail = "count(*) AS readings, min(\"time\") AS first_time";
        assert!(s.sql.contains(tail), "{}", s.sql);
        let copies = "sum(copies_dropped) AS copies_dropped, sum(conflict) AS conflicts\nFROM (SELECT kept.*";
        assert!(s.sql.contains(copies), "{}", s.sql);
        assert!(s.sql.ends_with("FROM kept) AS kept\nGROUP BY 1\nORDER BY 1"), "{}", s.sql);
        assert_eq!(s.parameters, ["'aq-1'"]);
    }

    /// The saved query: yesterday's partitions by the one rule, the day's bounds from `current_date`.
    #[test]
    fn the_saved_query_reads_yesterday_by_the_layouts_rule() {
        let event = saved_readings_once(&keyed(), "readings");
        let yesterday = "current_date - INTERVAL '1' DAY";
        let day = format!("(year = year({yesterday}) AND month = month({yesterday}) AND day = day({yesterday}))");
        assert!(event.contains(&format!("FROM \"readings\"\nWHERE ({day})\n")), "{event}");
        let before = "current_date - INTERVAL '2' DAY";
        let widened = format!(
            "WHERE ((year = year({before}) AND month = month({before}) AND day = day({before}) AND hour BETWEEN 23 \
             AND 23) OR {day} OR (year = year(current_date) AND month = month(current_date) AND day = \
             day(current_date) AND hour BETWEEN 0 AND 0))\n"
        );
        let arrival = saved_readings_once(&arrival(), "readings");
        assert!(arrival.contains(&widened), "an hour before, an hour of lateness: {arrival}");
        for sql in [&event, &arrival] {
            assert!(sql.contains(&format!("WHERE reading_at >= CAST({yesterday} AS timestamp with time zone)\n")));
            assert!(sql.contains("  AND reading_at < CAST(current_date AS timestamp with time zone)\n)"));
            assert!(sql.contains("WHERE copy_number = 1\n") && !sql.contains('?'), "{sql}");
        }
        assert_eq!(event.replace(&format!("WHERE ({day})"), &widened[..widened.len() - 1]), arrival);
    }
}
