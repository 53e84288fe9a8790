//! The report engine on AWS (`report --engine athena` and `report --sql`): the report's flags as SQL over the
//! lake table, run in the stack's workgroup and database, each reading once unless `--keep-duplicates` (the SQL
//! drops copies by the scan engine's rule and says per row how many), the rows written in the same formats as the
//! scan engine (with the readings' own field names and a missing field left out, as the scan engine leaves it),
//! then the copies dropped, data scanned and its estimated cost.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::aqi::pm25_category;
use crate::aws::Aws;
use crate::aws::athena::{estimated_usd, for_each_row, run};
use crate::aws::cloudformation::{describe, output};
use crate::aws::s3::first_keys;
use crate::aws::stack::Deployed;
use crate::copies::CopyCounts;
use crate::prefix::{Prefix, key_hour};
use crate::progress::Progress;
use crate::report::columns::Columns;
use crate::report::sql::{COPY_COLUMNS, Statement, field_name, partition_floor, readings, summary};
use crate::report::summary::DeviceSummary;
use crate::report::writer::RowWriter;
use crate::report::{Request, Row};
use crate::settings::DEFAULT_PREFIX;

/// Set by Ctrl-C: the running query is stopped.
static STOP: AtomicBool = AtomicBool::new(false);

/// `errors`: the failed records an HTML page shows. Returns the copies dropped and conflicts kept when the query
/// counted them (the report's flags without `--keep-duplicates`).
pub(crate) fn report(
    aws: &Aws,
    stack: &str,
    request: &Request,
    errors: Option<crate::report::ErrorCounts>,
    out: &mut dyn Write,
) -> Result<Option<CopyCounts>> {
    let described = aws.block_on(describe(&aws.cloudformation(), stack))?;
    let stack_outputs = described.with_context(|| {
        format!(
            "no stack {stack} in {}: the Athena engine queries the lake table `reaqtions deploy` creates",
            aws.region()
        )
    })?;
    let database = output(&stack_outputs, "GlueDatabase")?;
    let workgroup = output(&stack_outputs, "Workgroup")?;
    let table = output(&stack_outputs, "ReadingsTable")?;
    let deployed = Deployed::from_stack(&stack_outputs)?;
    // The layout the table's partitions follow: the stack's prefix, keyed by the reading's hour or by arrival.
    let prefix = Prefix::parse(&deployed.prefix, false)?;
    let statement = match (&request.sql, request.summary) {
        (Some(sql), _) => Statement { sql: sql.clone(), parameters: vec![] },
        (None, summarize) => {
            let query = &request.query;
            let floor = match partition_floor(query, &prefix) {
                Some(floor) => floor,
                None => oldest_partition(aws, &deployed, &prefix, query.until)?,
            };
            if summarize { summary(query, &prefix, floor, &table) } else { readings(query, &prefix, floor, &table) }
        }
    };
    tracing::info!(sql = %statement.sql, parameters = ?statement.parameters, "athena query");
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed));
    let client = aws.athena();
    let mut progress = Progress::new("athena", 0);
    let finished = aws.block_on(run(
        &client,
        &workgroup,
        &database,
        &statement.sql,
        &statement.parameters,
        &STOP,
        &mut |state, scanned, elapsed| {
            progress.update(0, || {
                format!("{state}, {:.1} MB scanned, {:.1} s", scanned as f64 / 1e6, elapsed.as_secs_f64())
            })
        },
    ));
    progress.finish();
    let finished = finished?;
    let columns = match (&request.sql, request.summary) {
        // A query of the user's: its own columns, in its order.
        (Some(_), _) => Columns::with(&[]),
        (None, true) => DeviceSummary::columns(),
        (None, false) => Columns::default(),
    };
    let context = crate::report::html::Context {
        source: format!("Athena, table {table} of {database} in workgroup {workgroup}"),
        since: request.query.since,
        until: request.query.until,
        errors,
    };
    let mut writer = RowWriter::new(request.format, columns, out)?.with_context(context);
    let mut newest_arrival = None;
    let mut copies = CopyCounts::default();
    let rows = aws.block_on(for_each_row(&client, &finished.id, |row| {
        let row = if request.sql.is_some() {
            row
        } else if request.summary {
            let row = summary_row(row);
            copies.dropped += row.get("copies_dropped").and_then(Value::as_u64).unwrap_or(0);
            copies.conflicts += row.get("conflicts").and_then(Value::as_u64).unwrap_or(0);
            row
        } else {
            let (row, counted) = reading_row(row);
            copies.dropped += counted.dropped;
            copies.conflicts += counted.conflicts;
            if request.query.until.is_some() {
                newest_arrival = newest_arrival.max(crate::report::arrival_time(&row));
            }
            row
        };
        writer.write(row)
    }))?;
    writer.finish()?;
    crate::say!(
        "report: {} from Athena query {} in {:.1} s; scanned {:.1} MB, about ${:.5} (at $5 per TB, {} MB minimum)",
        crate::output::count(rows, "row"),
        finished.id,
        finished.elapsed.as_secs_f64(),
        finished.scanned_bytes as f64 / 1e6,
        estimated_usd(finished.scanned_bytes),
        crate::limits::ATHENA_MINIMUM_SCANNED_MB
    );
    if request.sql.is_some() {
        return Ok(None);
    }
    crate::report::lateness_said(&request.query, &prefix, newest_arrival);
    Ok((!request.query.keep_duplicates).then_some(copies))
}

/// How far back a query without `--since` reads: without a bound, Athena lists every projected partition
/// (2024-2099 by hour, ~680,000) before it reads anything. The lake's oldest processed object names the first
/// hour holding readings (the default prefix and the keys the tool writes for the reading's hour sort by time: one
/// listing call); when no key can be dated (a custom prefix, or an emulator's literal keys), the last
/// [`DEFAULT_WINDOW_DAYS`] days. stderr says which.
fn oldest_partition(
    aws: &Aws,
    deployed: &Deployed,
    prefix: &Prefix,
    until: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>> {
    let bucket = &deployed.bucket;
    let end = until.map_or_else(|| "now".to_owned(), |u| u.format("%Y-%m-%dT%H:%MZ").to_string());
    let sorted_by_time = deployed.prefix == DEFAULT_PREFIX || prefix.is_keyed();
    let keys = if sorted_by_time {
        let root = prefix.static_root().to_owned();
        aws.block_on(first_keys(&aws.s3(), bucket, deployed.account().as_deref(), &root, 100))?
    } else {
        Vec::new()
    };
    if sorted_by_time && keys.is_empty() {
        crate::say!("report: no --since and no processed objects in s3://{bucket}: reading the last hour only");
        return Ok(Utc::now() - chrono::Duration::hours(1));
    }
    if let Some(hour) = keys.iter().find_map(|k| key_hour(k)) {
        crate::say!(
            "report: no --since: partitions from {} (the lake's oldest object) to {end}",
            hour.format("%Y-%m-%dT%H:00Z")
        );
        return Ok(hour);
    }
    let floor = until.unwrap_or_else(Utc::now) - chrono::Duration::days(DEFAULT_WINDOW_DAYS);
    crate::say!(
        "report: no --since: the last {DEFAULT_WINDOW_DAYS} days' partitions, {} to {end} (the lake's keys carry no \
         date to start from); pass --since to reach further",
        floor.format("%Y-%m-%dT%H:00Z")
    );
    Ok(floor)
}

/// The window of a query without `--since` when the lake cannot say where its data starts.
const DEFAULT_WINDOW_DAYS: i64 = 7;

/// A reading as the scan engine shows it: its own field names, and a field it did not have left out; and the
/// copies of it the query dropped and whether it is a conflict ([`COPY_COLUMNS`], absent when copies are kept).
fn reading_row(mut row: Row) -> (Row, CopyCounts) {
    let [dropped, conflict] = COPY_COLUMNS.map(|c| row.remove(c).and_then(|v| v.as_u64()).unwrap_or(0));
    let row = row.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (field_name(&k).to_owned(), v)).collect();
    (row, CopyCounts { dropped, conflicts: conflict })
}

/// The summary's row, as `report --summary` shows it on the scan engine.
fn summary_row(row: Row) -> Row {
    let get = |k: &str| row.get(k).cloned().unwrap_or(Value::Null);
    let aqi = row.get("aqi_max").and_then(Value::as_f64);
    let day_mean = row.get("pm2_5_day_mean").and_then(Value::as_f64);
    let mut out = Row::new();
    out.insert("device_id".into(), get("device_id"));
    out.insert("readings".into(), get("readings"));
    out.insert("first_TIME".into(), get("first_time"));
    out.insert("last_TIME".into(), get("last_time"));
    out.insert("PM2_5_mean".into(), get("pm2_5_mean"));
    out.insert("PM2_5_max".into(), get("pm2_5_max"));
    out.insert("PM10_mean".into(), get("pm10_mean"));
    out.insert("PM10_max".into(), get("pm10_max"));
    out.insert("AQI_max".into(), aqi.map_or(Value::Null, |a| Value::from(a.round() as i64)));
    // The page's rule, as the scan engine's summary ([`crate::aqi::DailyMean`]): SQL gave the mean.
    out.insert("AQI_category".into(), day_mean.map_or(Value::Null, |m| Value::from(pm25_category(m))));
    // Counted unless copies were kept, as the scan engine's summary counts them.
    for column in ["copies_dropped", "conflicts"] {
        if let Some(n) = row.get(column) {
            out.insert(column.into(), n.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::DeviceSummary as ScanSummary;

    /// The same data through both engines: the scan engine's rows from the lake's lines, and the rows Athena
    /// answers for the generated SQL (typed cells, lowercase columns, NULL for a missing field).
    #[test]
    fn both_engines_give_the_same_rows() {
        let lines = [
            r#"{"device_id":"aq-1","seq":1,"TIME":"2026-11-25T21:00:00.000001Z","NO2":21.5,"PM2_5":9.75,"AQI":41,"_firehose_arrival":"2026-11-25T21:00:01.123Z","_reading_time":"2026-11-25T21:00:00.000Z"}"#,
            r#"{"TIME":"2026-11-25T21:00:02","PM2_5":null,"PM10":15.0,"_firehose_arrival":"2026-11-25T21:00:03.000Z","_reading_time":"2026-11-25T21:00:02.000Z"}"#,
        ];
        let scan: Vec<Row> = lines
            .iter()
            .map(|l| serde_json::from_str::<Row>(l).unwrap())
            .map(|r| r.into_iter().filter(|(_, v)| !v.is_null()).collect())
            .collect();
        let athena: Vec<Row> = [
            serde_json::json!({"device_id":"aq-1","seq":1,"sim_run":null,"time":"2026-11-25T21:00:00.000001Z","user_input":null,"no2":21.5,"co":null,"pm01":null,"pm2_5":9.75,"pm10":null,"aqi":41.0,"eco2":null,"tvoc":null,"p":null,"t":null,"rh":null,"_firehose_arrival":"2026-11-25T21:00:01.123Z","_reading_time":"2026-11-25T21:00:00.000Z"}),
            serde_json::json!({"device_id":null,"seq":null,"sim_run":null,"time":"2026-11-25T21:00:02","user_input":null,"no2":null,"co":null,"pm01":null,"pm2_5":null,"pm10":15.0,"aqi":null,"eco2":null,"tvoc":null,"p":null,"t":null,"rh":null,"_firehose_arrival":"2026-11-25T21:00:03.000Z","_reading_time":"2026-11-25T21:00:02.000Z"}),
        ]
        .into_iter()
        .map(|v| reading_row(v.as_object().unwrap().clone()).0)
        .collect();
        assert_eq!(athena.len(), scan.len());
        for (a, s) in athena.iter().zip(&scan) {
            let mut keys_a: Vec<&String> = a.keys().collect();
            let mut keys_s: Vec<&String> = s.keys().collect();
            keys_a.sort();
            keys_s.sort();
            assert_eq!(keys_a, keys_s, "same fields");
            for (k, v) in s {
                assert_eq!(a[k].as_f64().or(a[k].as_str().map(|_| 0.0)), v.as_f64().or(v.as_str().map(|_| 0.0)), "{k}");
                assert_eq!(a[k].as_str(), v.as_str(), "{k}");
            }
        }

        // The summary: the scan engine's aggregation and the SQL one's answer give the same row.
        let mut scan_summary = ScanSummary::default();
        for l in lines {
            scan_summary.add(&serde_json::from_str(l).unwrap());
        }
        let scan_rows: Vec<Row> = scan_summary.rows().collect();
        let athena_row = summary_row(
            serde_json::json!({"device_id":"aq-1","readings":1,"first_time":"2026-11-25T21:00:00.000001Z","last_time":"2026-11-25T21:00:00.000001Z","pm2_5_mean":9.75,"pm2_5_max":9.75,"pm10_mean":null,"pm10_max":null,"aqi_max":41.0,"pm2_5_day_mean":9.75})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(&athena_row, scan_rows.iter().find(|r| r["device_id"] == "aq-1").unwrap());
    }

    /// A reading's copy columns are summed and left out of its row; the summary's are kept, as the scan engine's.
    #[test]
    fn the_copy_columns_are_counted_not_shown() {
        let row =
            serde_json::json!({"device_id":"aq-1","seq":1,"pm2_5":9.5,"no2":null,"_copies_dropped":2,"_conflict":1});
        let (row, counts) = reading_row(row.as_object().unwrap().clone());
        assert_eq!(counts, CopyCounts { dropped: 2, conflicts: 1 });
        assert_eq!(serde_json::Value::Object(row), serde_json::json!({"device_id":"aq-1","seq":1,"PM2_5":9.5}));
        let kept = serde_json::json!({"device_id":"aq-1","seq":1});
        assert_eq!(reading_row(kept.as_object().unwrap().clone()).1, CopyCounts::default(), "--keep-duplicates");
        let summary = serde_json::json!({"device_id":"aq-1","readings":3,"copies_dropped":2,"conflicts":1});
        let row = summary_row(summary.as_object().unwrap().clone());
        assert_eq!((&row["copies_dropped"], &row["conflicts"]), (&2.into(), &1.into()));
        let columns: Vec<&String> = row.keys().collect();
        assert_eq!(columns, crate::report::summary::COLUMNS, "the scan engine's summary columns, in its order");
        let kept = summary_row(serde_json::json!({"device_id":"aq-1","readings":3}).as_object().unwrap().clone());
        assert!(!kept.contains_key("copies_dropped"), "not counted, not said");
    }
}
