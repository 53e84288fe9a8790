//! Lambda: what is deployed (last modified, code sha256) and a post-deploy smoke test of the Firehose contract.

use anyhow::{Result, anyhow};
use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use base64_simd::STANDARD as B64;
use reaqtions_lambda::{FirehoseEvent, FirehoseRecord, FirehoseResponse, TransformResult};

/// The deployed function's identity.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FunctionInfo {
    pub(crate) last_modified: String,
    pub(crate) code_sha256: String,
    pub(crate) runtime: String,
    pub(crate) state: String,
}

pub(crate) async fn function_info(client: &Client, name: &str) -> Result<Option<FunctionInfo>> {
    match client.get_function().function_name(name).send().await {
        Ok(out) => Ok(out.configuration().map(|c| FunctionInfo {
            last_modified: c.last_modified().unwrap_or_default().to_owned(),
            code_sha256: c.code_sha256().unwrap_or_default().to_owned(),
            runtime: c.runtime().map(|r| r.as_str().to_owned()).unwrap_or_default(),
            state: c.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        })),
        Err(e) if super::error::judge(&e) == crate::error::Kind::NotFound => Ok(None),
        Err(e) => Err(super::fail(format!("cannot read function {name}"))(e)),
    }
}

/// How the smoke test went.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Smoke {
    Passed,
    /// The endpoint's Lambda cannot run code (an emulator without a container runtime).
    CannotRun(String),
}

/// A small Firehose event: one good reading, one malformed, one empty.
pub(crate) fn smoke_event() -> FirehoseEvent {
    let record = |id: &str, data: &[u8]| FirehoseRecord {
        record_id: id.into(),
        approximate_arrival_timestamp: chrono::Utc::now().timestamp_millis() as f64,
        data: B64.encode_to_string(data),
    };
    FirehoseEvent {
        invocation_id: format!("reaqtions-smoke-{}", uuid::Uuid::new_v4()),
        records: vec![
            record("ok", br#"{"TIME":"2026-01-01T00:00:00","NO2":1.5,"PM2_5":3.0}"#),
            record("bad", br#"{"NO2":"not a number"}"#),
            record("empty", b""),
        ],
        ..FirehoseEvent::default()
    }
}

/// Checks a response against the contract for [`smoke_event`].
pub(crate) fn check_smoke_response(response: &FirehoseResponse) -> Result<()> {
    let got: Vec<(&str, TransformResult)> = response.records.iter().map(|r| (r.record_id.as_str(), r.result)).collect();
    let want =
        [("ok", TransformResult::Ok), ("bad", TransformResult::ProcessingFailed), ("empty", TransformResult::Dropped)];
    if got != want {
        return Err(anyhow!("the function answered {got:?}, expected {want:?}"));
    }
    let line = B64.decode_to_vec(&response.records[0].data).map_err(|_| anyhow!("Ok data is not base64"))?;
    if !line.ends_with(b"\n") || serde_json::from_slice::<serde_json::Value>(&line).is_err() {
        return Err(anyhow!("Ok data is not one JSON line"));
    }
    Ok(())
}

/// Lambda answers a function error with its JSON error object (`errorMessage`, `errorType`); a body without
/// one came from an endpoint that ran no code (moto without Docker answers its container runtime's complaint).
fn ran_no_code(body: &[u8]) -> bool {
    let error = serde_json::from_slice::<serde_json::Value>(body).ok();
    error.as_ref().and_then(|e| e.get("errorMessage")).is_none()
}

/// Invokes the function with [`smoke_event`] and checks the contract.
pub(crate) async fn smoke_test(client: &Client, name: &str) -> Result<Smoke> {
    let payload = serde_json::to_vec(&smoke_event())?;
    let out = match client.invoke().function_name(name).payload(Blob::new(payload)).send().await {
        Ok(out) => out,
        Err(e) => {
            let error = super::fail(format!("smoke test: invoking {name} failed"))(e);
            // An endpoint that does not implement Invoke (status 501 or NotImplemented) cannot run it.
            if crate::error::kind(&error) == Some(crate::error::Kind::Unsupported) {
                return Ok(Smoke::CannotRun(format!("{error:#}")));
            }
            return Err(error);
        }
    };
    if let Some(error) = out.function_error() {
        let body = out.payload().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned()).unwrap_or_default();
        if ran_no_code(body.as_bytes()) {
            return Ok(Smoke::CannotRun(body));
        }
        return Err(anyhow!("smoke test: {name} raised {error}: {body}"));
    }
    let body = out.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
    let response: FirehoseResponse = serde_json::from_slice(&body)
        .map_err(|e| anyhow!("smoke test: {name} did not answer a Firehose response ({e})"))?;
    check_smoke_response(&response).map_err(|e| e.context(format!("smoke test of {name}")))?;
    Ok(Smoke::Passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transform_itself_passes_the_smoke_check() {
        let (response, _) = reaqtions_lambda::transform_event(&smoke_event(), reaqtions_lambda::Partitioning::Arrival);
        check_smoke_response(&response).unwrap();
        let mut wrong = response.clone();
        wrong.records.swap(0, 1);
        assert!(check_smoke_response(&wrong).is_err());
    }

    #[test]
    fn a_function_error_without_lambdas_error_object_means_no_code_ran() {
        assert!(ran_no_code(b"error running docker: Error while fetching server API version"));
        assert!(ran_no_code(b""));
        assert!(!ran_no_code(br#"{"errorMessage":"boom","errorType":"Runtime.ExitError"}"#));
    }
}
