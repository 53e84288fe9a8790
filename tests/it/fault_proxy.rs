//! A fault-injecting HTTP proxy on loopback, in front of moto: fails a share of PutRecordBatch entries with
//! ServiceUnavailableException (those entries are not forwarded, so they are really lost unless resent) and a
//! share of whole calls with HTTP 503; or, duplicating, forwards every entry and still reports a share of them
//! failed (the API's "might have failed" case: the client's retry then makes a real copy in the lake); or,
//! denying, answers every PutRecordBatch with AccessDeniedException as an endpoint enforcing a policy without
//! `firehose:PutRecordBatch` would. Everything else is forwarded unchanged.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

use crate::upstream::{Incoming, Loopback, pass_on, reply};

#[derive(Default)]
pub(crate) struct FaultStats {
    pub failed_entries: AtomicU64,
    pub failed_calls: AtomicU64,
    pub forwarded_entries: AtomicU64,
    /// Entries forwarded and reported failed all the same (duplicating only).
    pub delivered_but_failed: AtomicU64,
}

/// What the front does with a PutRecordBatch.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Fails a share of entries without forwarding them, and a share of calls with 503.
    Drop,
    /// Forwards every entry; a share of those never failed before is reported failed anyway.
    Duplicate,
    /// Refuses every call.
    Deny,
}

pub(crate) struct FaultProxy {
    _front: Loopback,
    pub url: String,
    pub stats: Arc<FaultStats>,
}

impl FaultProxy {
    /// Every PutRecordBatch is denied.
    pub(crate) fn denying(upstream_url: &str) -> FaultProxy {
        Self::run(upstream_url, 0.0, 0.0, 1, Mode::Deny)
    }

    /// Every entry is forwarded, and `entry_failure` of those not failed before are reported failed all the same,
    /// so the client resends readings the lake already holds: each such reading lands exactly twice.
    pub(crate) fn duplicating(upstream_url: &str, entry_failure: f64, seed: u64) -> FaultProxy {
        Self::run(upstream_url, entry_failure, 0.0, seed, Mode::Duplicate)
    }

    /// `entry_failure` of the entries and `call_failure` of the PutRecordBatch calls fail.
    pub(crate) fn start(upstream_url: &str, entry_failure: f64, call_failure: f64, seed: u64) -> FaultProxy {
        Self::run(upstream_url, entry_failure, call_failure, seed, Mode::Drop)
    }

    fn run(upstream_url: &str, entry_failure: f64, call_failure: f64, seed: u64, mode: Mode) -> FaultProxy {
        let upstream = upstream_url.trim_start_matches("http://").to_owned();
        let stats = Arc::new(FaultStats::default());
        let stats2 = Arc::clone(&stats);
        let mut rng = SmallRng::seed_from_u64(seed);
        // The entries (their base64 data) reported failed once already: a resend goes through.
        let mut failed_once: HashSet<String> = HashSet::new();
        let front = Loopback::start(move |request| {
            let target = (request.headers.iter())
                .find(|h| h.field.equiv("X-Amz-Target"))
                .map(|h| h.value.as_str().to_owned())
                .unwrap_or_default();
            let body = &request.body;
            if !target.ends_with(".PutRecordBatch") {
                return pass_on(&upstream, &request);
            }
            let (status, content_type, out) = if mode == Mode::Deny {
                stats2.failed_calls.fetch_add(1, Ordering::Relaxed);
                let stream: Value = serde_json::from_slice(body).unwrap_or_default();
                let stream = stream["DeliveryStreamName"].as_str().unwrap_or("?").to_owned();
                let message = format!(
                    "User: arn:aws:iam::123456789012:user/analyst is not authorized to perform: \
                             firehose:PutRecordBatch on resource: \
                             arn:aws:firehose:us-east-1:123456789012:deliverystream/{stream}"
                );
                let answer = json!({"__type": "AccessDeniedException", "message": message});
                (400, "application/x-amz-json-1.1", serde_json::to_vec(&answer).unwrap())
            } else if rng.random_bool(call_failure) {
                stats2.failed_calls.fetch_add(1, Ordering::Relaxed);
                (
                    503,
                    "application/x-amz-json-1.1",
                    br#"{"__type":"ServiceUnavailableException","message":"Slow down."}"#.to_vec(),
                )
            } else {
                let mut input: Value = serde_json::from_slice(body).unwrap();
                let records = input["Records"].as_array().cloned().unwrap_or_default();
                let fail: Vec<bool> = match mode {
                    Mode::Duplicate => records
                        .iter()
                        .map(|r| {
                            let data = r["Data"].as_str().unwrap_or_default();
                            !failed_once.contains(data)
                                && rng.random_bool(entry_failure)
                                && failed_once.insert(data.to_owned())
                        })
                        .collect(),
                    _ => records.iter().map(|_| rng.random_bool(entry_failure)).collect(),
                };
                let kept: Vec<Value> = if mode == Mode::Duplicate {
                    stats2
                        .delivered_but_failed
                        .fetch_add(fail.iter().filter(|f| **f).count() as u64, Ordering::Relaxed);
                    records.clone()
                } else {
                    records.iter().zip(&fail).filter(|(_, f)| !**f).map(|(r, _)| r.clone()).collect()
                };
                let mut ids = Vec::new();
                if !kept.is_empty() {
                    input["Records"] = Value::Array(kept.clone());
                    let forwarded = serde_json::to_vec(&input).unwrap();
                    let request = Incoming { body: forwarded, ..request };
                    let (status, _, answer) = pass_on(&upstream, &request);
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
                    let answer: Value = serde_json::from_slice(&answer).unwrap();
                    ids = answer["RequestResponses"].as_array().unwrap().clone();
                    stats2.forwarded_entries.fetch_add(kept.len() as u64, Ordering::Relaxed);
                }
                let mut ids = ids.into_iter();
                let responses: Vec<Value> = fail
                    .iter()
                    .map(|f| {
                        if *f {
                            if mode == Mode::Duplicate {
                                ids.next(); // delivered: its id is not said
                            }
                            stats2.failed_entries.fetch_add(1, Ordering::Relaxed);
                            json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."})
                        } else {
                            ids.next().unwrap()
                        }
                    })
                    .collect();
                let failed = fail.iter().filter(|f| **f).count();
                let answer = json!({"FailedPutCount": failed, "Encrypted": false, "RequestResponses": responses});
                (200, "application/x-amz-json-1.1", serde_json::to_vec(&answer).unwrap())
            };
            reply(status, content_type, out)
        });
        FaultProxy { url: front.url.clone(), _front: front, stats }
    }
}
