//! The report's flags as Athena SQL over the lake tables (`report --engine athena`): the time filter becomes
//! partition predicates on `year/month/day/hour` for the partitions the lake's layout files the window's readings
//! under ([`Query::partition_hours`]: exactly the window's hours when filed by the reading's hour, widened for
//! lateness when filed by arrival), grouped into whole years, months and days where the range covers them so a
//! long range stays a short predicate, plus the exact filter the scan engine applies on the reading time; devices
//! go as execution parameters, never into the text. Result columns map back to the readings' own names.

use chrono::{DateTime, Datelike as _, Duration, DurationRound as _, Timelike as _, Utc};

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

/// The filters every engine applies: the partitions under `prefix` that can hold readings measured in the window
/// (from `floor` without `--since`), the reading time, and the devices.
fn filters(query: &Query, prefix: &Prefix, floor: DateTime<Utc>, parameters: &mut Vec<String>) -> Vec<String> {
    let hours = query.partition_hours(prefix);
    let mut wheres = vec![partitions(hours.first.unwrap_or(floor), hours.last)];
    if let Some(since) = query.since {
        wheres.push(format!("{} >= {}", reading_time(), timestamp(since)));
    }
    if let Some(until) = query.until {
        wheres.push(format!("{} < {}", reading_time(), timestamp(until)));
    }
    if !query.devices.is_empty() {
        let marks = vec!["?"; query.devices.len()].join(", ");
        wheres.push(format!("device_id IN ({marks})"));
        parameters.extend(query.devices.iter().map(|d| literal(d)));
    }
    wheres
}

fn with_where(mut sql: String, wheres: &[String]) -> String {
    if !wheres.is_empty() {
        sql.push_str("\nWHERE ");
        sql.push_str(&wheres.join("\n  AND "));
    }
    sql
}

/// The readings that match `query` in the table `table` over the lake filed by `prefix`, oldest first; `floor`
/// is the first partition hour read without `--since` ([`partition_floor`]).
pub fn readings(query: &Query, prefix: &Prefix, floor: DateTime<Utc>, table: &str) -> Statement {
    let mut parameters = Vec::new();
    let columns: Vec<String> = FIELDS.iter().map(|(column, _)| format!("\"{column}\"")).collect();
    let wheres = filters(query, prefix, floor, &mut parameters);
    let sql = with_where(format!("SELECT {}\nFROM \"{table}\"", columns.join(", ")), &wheres)
        + &format!("\nORDER BY {}, device_id, seq", reading_time());
    Statement { sql, parameters }
}

/// The per-device summary `report --summary` shows, aggregated by Athena (arguments as [`readings`]).
pub fn summary(query: &Query, prefix: &Prefix, floor: DateTime<Utc>, table: &str) -> Statement {
    let mut parameters = Vec::new();
    let wheres = filters(query, prefix, floor, &mut parameters);
    let select = format!(
        "SELECT coalesce(device_id, {}) AS device_id, count(*) AS readings, min(\"time\") AS first_time, \
         max(\"time\") AS last_time, round(avg(pm2_5), 2) AS pm2_5_mean, max(pm2_5) AS pm2_5_max, \
         round(avg(pm10), 2) AS pm10_mean, max(pm10) AS pm10_max, max(aqi) AS aqi_max\nFROM \"{table}\"",
        literal(super::summary::NO_DEVICE)
    );
    let sql = with_where(select, &wheres) + "\nGROUP BY 1\nORDER BY 1";
    Statement { sql, parameters }
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
        assert!(s.sql.starts_with("SELECT \"device_id\", \"seq\""));
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
            assert!(
                s.sql.contains(&format!("{} >= from_iso8601_timestamp('2026-11-25T10:00:00.000Z')", reading_time()))
            );
            assert!(
                s.sql.contains(&format!("{} < from_iso8601_timestamp('2026-11-25T11:00:00.000Z')", reading_time()))
            );
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
        for part in
            ["count(*) AS readings", "round(avg(pm2_5), 2)", "max(aqi) AS aqi_max", "GROUP BY 1", "device_id IN (?)"]
        {
            assert!(s.sql.contains(part), "{part}: {}", s.sql);
        }
        assert!(s.sql.contains("'(no device_id)'"));
        assert_eq!(field_name("pm2_5"), "PM2_5");
        assert_eq!(field_name("eco2"), "eCO2");
        assert_eq!(field_name("other"), "other");
    }
}
