//! Athena: a query run in the stack's workgroup and database — started, polled with backoff (state, data
//! scanned and time shown as it goes), stopped on Ctrl-C — and its result pages streamed as typed rows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState};
use serde_json::{Map, Number, Value};

/// Athena bills $5 per TB scanned, each query at least [`crate::limits::ATHENA_MINIMUM_SCANNED_MB`].
pub(crate) fn estimated_usd(scanned_bytes: i64) -> f64 {
    let billed = scanned_bytes.max(i64::from(crate::limits::ATHENA_MINIMUM_SCANNED_MB) * 1_000_000) as f64;
    billed / 1e12 * 5.0
}

/// A finished query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finished {
    pub(crate) id: String,
    pub(crate) scanned_bytes: i64,
    pub(crate) elapsed: Duration,
}

/// Runs `sql` (with positional `parameters`, SQL literals) in `workgroup` on `database` until it succeeds; a
/// failed or cancelled query is an error with Athena's reason. `interrupted` stops the query.
pub(crate) async fn run(
    client: &Client,
    workgroup: &str,
    database: &str,
    sql: &str,
    parameters: &[String],
    interrupted: &AtomicBool,
    on_progress: &mut dyn FnMut(&str, i64, Duration),
) -> Result<Finished> {
    let started = Instant::now();
    let out = client
        .start_query_execution()
        .query_string(sql)
        .work_group(workgroup)
        .query_execution_context(QueryExecutionContext::builder().database(database).build())
        .set_execution_parameters((!parameters.is_empty()).then(|| parameters.to_vec()))
        .send()
        .await
        .map_err(super::fail(format!("cannot start the query in workgroup {workgroup}")))?;
    let id = out.query_execution_id().unwrap_or_default().to_owned();
    let mut delay = Duration::from_millis(200);
    loop {
        if interrupted.load(Ordering::Relaxed) {
            let _ = client.stop_query_execution().query_execution_id(&id).send().await;
            bail!("query {id} stopped (interrupted)");
        }
        let execution = client
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .map_err(super::fail(format!("cannot follow query {id}")))?;
        let execution = execution.query_execution();
        let status = execution.and_then(|e| e.status());
        let state = status.and_then(|s| s.state()).cloned().unwrap_or(QueryExecutionState::Queued);
        let scanned = execution.and_then(|e| e.statistics()).and_then(|s| s.data_scanned_in_bytes()).unwrap_or(0);
        on_progress(state.as_str(), scanned, started.elapsed());
        match state {
            QueryExecutionState::Succeeded => {
                return Ok(Finished { id, scanned_bytes: scanned, elapsed: started.elapsed() });
            }
            QueryExecutionState::Failed | QueryExecutionState::Cancelled => {
                let reason = status
                    .and_then(|s| s.athena_error().and_then(|a| a.error_message()).or(s.state_change_reason()))
                    .unwrap_or("no reason given");
                bail!("query {id} {}: {reason}", state.as_str());
            }
            _ => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// A cell as JSON, by the column's Athena type: numbers as numbers, booleans as booleans, NULL as null.
fn cell(value: Option<&str>, kind: &str) -> Value {
    let Some(text) = value else { return Value::Null };
    match kind {
        "tinyint" | "smallint" | "integer" | "bigint" => {
            text.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        "float" | "double" | "real" | "decimal" => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(text.to_owned()), Value::Number),
        "boolean" => Value::Bool(text == "true"),
        _ => Value::String(text.to_owned()),
    }
}

/// Streams the result rows of a finished query to `row` (column name → typed value), page by page (1,000 rows
/// a page); a SELECT's first row, which repeats the column names, is left out.
pub(crate) async fn for_each_row(
    client: &Client,
    id: &str,
    mut row: impl FnMut(Map<String, Value>) -> Result<()>,
) -> Result<u64> {
    let mut pages = client.get_query_results().query_execution_id(id).max_results(1000).into_paginator().send();
    let mut columns: Vec<(String, String)> = Vec::new();
    let mut first_page = true;
    let mut rows = 0;
    while let Some(page) = pages.next().await {
        let page = page.map_err(super::fail(format!("cannot read the results of query {id}")))?;
        let Some(set) = page.result_set() else { continue };
        if columns.is_empty() {
            columns = set
                .result_set_metadata()
                .map(|m| m.column_info().iter().map(|c| (c.name().to_owned(), c.r#type().to_owned())).collect())
                .unwrap_or_default();
        }
        for (n, r) in set.rows().iter().enumerate() {
            let data: Vec<Option<&str>> = r.data().iter().map(|d| d.var_char_value()).collect();
            let is_header = first_page
                && n == 0
                && !columns.is_empty()
                && data.iter().zip(&columns).all(|(d, (name, _))| *d == Some(name.as_str()));
            if is_header {
                continue;
            }
            let mut map = Map::new();
            for (i, value) in data.into_iter().enumerate() {
                let (name, kind) =
                    columns.get(i).map_or((format!("_col{i}"), "varchar"), |(n, k)| (n.clone(), k.as_str()));
                map.insert(name, cell(value, kind));
            }
            rows += 1;
            row(map)?;
        }
        first_page = false;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
    use aws_sdk_athena::operation::start_query_execution::StartQueryExecutionOutput;
    use aws_sdk_athena::types::{AthenaError, QueryExecution, QueryExecutionStatistics, QueryExecutionStatus};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn state(s: QueryExecutionState, error: Option<&'static str>) -> GetQueryExecutionOutput {
        let mut status = QueryExecutionStatus::builder().state(s);
        if let Some(message) = error {
            status = status.athena_error(AthenaError::builder().error_message(message).build());
        }
        let execution = QueryExecution::builder()
            .query_execution_id("q1")
            .status(status.build())
            .statistics(QueryExecutionStatistics::builder().data_scanned_in_bytes(123_456_789).build())
            .build();
        GetQueryExecutionOutput::builder().query_execution(execution).build()
    }

    #[tokio::test]
    async fn a_failed_query_says_athenas_reason() {
        let start = mock!(Client::start_query_execution)
            .then_output(|| StartQueryExecutionOutput::builder().query_execution_id("q1").build());
        let get = mock!(Client::get_query_execution)
            .sequence()
            .output(|| state(QueryExecutionState::Running, None))
            .output(|| {
                state(QueryExecutionState::Failed, Some("COLUMN_NOT_FOUND: line 1:8: Column 'x' cannot be resolved"))
            })
            .build();
        let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, &[&start, &get]);
        let mut states = Vec::new();
        let e = run(&client, "wg", "db", "SELECT x", &[], &AtomicBool::new(false), &mut |s, _, _| {
            states.push(s.to_owned())
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("query q1 FAILED") && e.contains("COLUMN_NOT_FOUND"), "{e}");
        assert_eq!(states, ["RUNNING", "FAILED"]);
    }

    #[tokio::test]
    async fn a_query_that_succeeds_reports_what_it_scanned() {
        let start = mock!(Client::start_query_execution)
            .match_requests(|r| r.work_group() == Some("wg") && r.execution_parameters() == ["'aq-1'"])
            .then_output(|| StartQueryExecutionOutput::builder().query_execution_id("q1").build());
        let get = mock!(Client::get_query_execution).then_output(|| state(QueryExecutionState::Succeeded, None));
        let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, &[&start, &get]);
        let done = run(&client, "wg", "db", "SELECT 1", &["'aq-1'".into()], &AtomicBool::new(false), &mut |_, _, _| {})
            .await
            .unwrap();
        assert_eq!((done.id.as_str(), done.scanned_bytes), ("q1", 123_456_789));
        assert!((estimated_usd(done.scanned_bytes) - 0.000_617_283_945).abs() < 1e-9);
        assert!((estimated_usd(1) - 0.00005).abs() < 1e-12, "10 MB minimum");
    }

    #[tokio::test]
    async fn pages_are_followed_and_only_the_first_row_of_the_first_page_is_the_header() {
        use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
        use aws_sdk_athena::types::{ColumnInfo, Datum, ResultSet, ResultSetMetadata, Row as AthenaRow};
        let page = |values: &[&str], token: Option<&'static str>| {
            let rows: Vec<AthenaRow> = values
                .iter()
                .map(|v| AthenaRow::builder().data(Datum::builder().var_char_value(*v).build()).build())
                .collect();
            let info = ColumnInfo::builder().name("n").r#type("bigint").build().unwrap();
            let set = ResultSet::builder()
                .set_rows(Some(rows))
                .result_set_metadata(ResultSetMetadata::builder().column_info(info).build())
                .build();
            GetQueryResultsOutput::builder().result_set(set).set_next_token(token.map(str::to_owned)).build()
        };
        let results = mock!(Client::get_query_results)
            .sequence()
            .output(move || page(&["n", "1", "2"], Some("next")))
            .output(move || page(&["n", "3"], None))
            .build();
        let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, &[&results]);
        let mut seen = Vec::new();
        let n = for_each_row(&client, "q1", |row| {
            seen.push(row["n"].clone());
            Ok(())
        })
        .await
        .unwrap();
        // A value equal to the column name on a later page is data, not a header.
        assert_eq!(n, 4);
        assert_eq!(seen, [Value::from(1), Value::from(2), Value::from("n"), Value::from(3)]);
    }

    #[test]
    fn cells_take_their_columns_types() {
        assert_eq!(cell(Some("42"), "bigint"), Value::from(42));
        assert_eq!(cell(Some("9.5"), "double"), Value::from(9.5));
        assert_eq!(cell(None, "double"), Value::Null);
        assert_eq!(cell(Some("aq-1"), "varchar"), Value::from("aq-1"));
        assert_eq!(cell(Some("true"), "boolean"), Value::Bool(true));
    }
}
