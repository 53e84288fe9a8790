use chrono::Duration;

use super::*;
use crate::seams::vitals::FiringAlarm;
use crate::seams::vitals::Keeping::{self, CloudWatch};
use crate::settings::PipelineSettings;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn window() -> Window {
    Window::over(at("2026-11-26T12:00:00Z"), at("2026-11-26T12:59:30Z"), at("2026-11-26T12:59:30Z"), CloudWatch)
        .unwrap()
}

fn thresholds() -> Thresholds {
    Thresholds::of(&PipelineSettings::defaults())
}

/// A busy, healthy hour: every series applies and stays within its threshold.
fn healthy() -> Vitals {
    let w = window();
    let all = |v: f64| Series(vec![Some(v); w.points()]);
    Vitals {
        incoming_records: all(600.0),
        incoming_bytes: all(600_000.0),
        throttled_records: all(0.0),
        failed_records: all(0.0),
        freshness_seconds: all(70.0),
        delivery_success: all(1.0),
        lambda_errors: Some(all(0.0)),
        lambda_throttles: Some(all(0.0)),
        lambda_duration_p90_ms: Some(all(12.0)),
        lambda_duration_p90_ms_window: Some(12.0),
        iot_rule_failures: Some(all(0.0)),
        records_per_second_limit: Some(100_000.0),
        bytes_per_second_limit: Some(1_048_576.0),
        ..Vitals::default()
    }
}

#[test]
fn the_period_grows_with_the_window_and_its_age() {
    let now = at("2026-11-26T13:00:00Z");
    let w = Window::over(now - Duration::hours(1), now, now, CloudWatch).unwrap();
    assert_eq!((w.period_seconds, w.points()), (60, 61), "the current minute is the last point");
    assert_eq!(Window::over(now - Duration::hours(24), now, now, CloudWatch).unwrap().period_seconds, 1800);
    assert_eq!(Window::over(now - Duration::days(20), now, now, CloudWatch).unwrap().period_seconds, 43_200);
    let old = Window::over(now - Duration::days(100), now, now, CloudWatch).unwrap();
    assert!(old.period_seconds >= 3600 && old.points() <= 61, "{old:?}");
    assert!(
        Window::over(now - Duration::days(500), now, now, CloudWatch).unwrap_err().to_string().contains("455 days")
    );
    assert!(
        Window::over(now + Duration::hours(1), now, now, CloudWatch)
            .unwrap_err()
            .to_string()
            .contains("at least a minute")
    );
    // The local counters are kept every minute, as long as the data directory: no retention, minute periods when
    // the window is short enough.
    let local = Window::over(now - Duration::days(500), now, now, Keeping::EveryMinute).unwrap();
    assert_eq!(local.period_seconds, 604_800, "the longest period: {local:?}");
    let (long_ago, half_hour) = (now - Duration::days(100), now - Duration::days(100) + Duration::minutes(30));
    let local_long_ago = Window::over(long_ago, half_hour, now, Keeping::EveryMinute).unwrap();
    assert_eq!(local_long_ago.period_seconds, 60, "a short window long ago keeps minute periods locally");
    // On CloudWatch the same half hour 100 days ago exists only as hourly points: the period its age allows.
    let cloudwatch_long_ago = Window::over(long_ago, half_hour, now, CloudWatch).unwrap();
    assert_eq!(cloudwatch_long_ago.period_seconds, 3600, "{cloudwatch_long_ago:?}");
    let w = window();
    assert_eq!(w.index(w.start), Some(0));
    assert_eq!(w.index(w.start - Duration::seconds(1)), None);
    assert_eq!(w.index(w.end), None);
}

#[test]
fn a_busy_stream_within_every_threshold_is_healthy() {
    let h = assess_at(&Place::aws("s"), window(), healthy(), thresholds());
    assert_eq!(h.verdict, Verdict::Healthy, "{:?}", h.findings);
    assert_eq!(h.metrics.incoming_records, 600 * 60);
    assert_eq!(h.metrics.freshness_seconds_max, Some(70.0));
    assert_eq!(h.metrics.lambda_duration_p90_ms, Some(12.0));
    let json = serde_json::to_value(&h).unwrap();
    let keys: Vec<&str> = json["metrics"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 12, "{keys:?}");
    assert_eq!(json["metrics"]["failed_records_source"], "counted");
    assert!(json["metrics"]["iot_rule_failures_since"].is_null());
    for key in ["window_seconds", "verdict", "findings", "metrics"] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    assert_eq!(json["verdict"], "healthy");
}

#[test]
fn a_stalled_delivery_is_degraded_with_a_finding_naming_the_threshold() {
    let mut v = healthy();
    v.freshness_seconds.0[30] = Some(3600.0);
    let h = assess_at(&Place::aws("s"), window(), v, thresholds());
    assert_eq!(h.verdict, Verdict::Degraded);
    let f = &h.findings[0];
    let settings = PipelineSettings::defaults();
    let threshold = crate::seams::vitals::freshness_threshold_seconds(&settings);
    assert_eq!(
        (f.metric.as_str(), f.value, f.threshold),
        ("freshness_seconds_max", Some(3600.0), Some(f64::from(threshold)))
    );
    assert!(f.message.contains("stalled"), "{}", f.message);
}

#[test]
fn nothing_arriving_is_idle_but_data_waiting_is_degraded() {
    let w = window();
    let idle = Vitals {
        incoming_records: Series(vec![Some(0.0); w.points()]),
        freshness_seconds: Series::empty(&w),
        lambda_errors: Some(Series::empty(&w)),
        ..Vitals::default()
    };
    let h = assess_at(&Place::aws("s"), w, idle.clone(), thresholds());
    assert_eq!((h.verdict, h.findings.len()), (Verdict::Idle, 0));
    assert_eq!(h.metrics.freshness_seconds_max, None, "a duration without datapoints is null");
    assert_eq!(h.metrics.lambda_errors, Some(0), "a count without datapoints is 0");
    assert_eq!(h.metrics.iot_rule_failures, None, "no rule: not applicable");
    let mut waiting = idle;
    waiting.freshness_seconds.0[10] = Some(40.0);
    let h = assess_at(&Place::aws("s"), w, waiting, thresholds());
    assert_eq!(h.verdict, Verdict::Degraded, "40 s old data waits, nothing arrives: never idle");
    assert!(h.findings[0].message.contains("wait"), "{:?}", h.findings);
}

#[test]
fn each_crossed_threshold_and_firing_alarm_is_one_finding() {
    let mut v = healthy();
    v.throttled_records.0[1] = Some(5.0);
    v.failed_records_window = Some(7.0);
    v.delivery_success.0[2] = Some(0.5);
    v.lambda_errors.as_mut().unwrap().0[3] = Some(2.0);
    v.lambda_throttles.as_mut().unwrap().0[3] = Some(1.0);
    v.lambda_duration_p90_ms_window = Some(59_000.0);
    v.iot_rule_failures.as_mut().unwrap().0[4] = Some(3.0);
    v.incoming_records.0[5] = Some(95_000.0 * 60.0);
    v.alarms = vec![FiringAlarm { name: "s-freshness".into(), reason: "Threshold Crossed".into() }];
    let h = assess_at(&Place::aws("s"), window(), v, thresholds());
    let metrics: Vec<&str> = h.findings.iter().map(|f| f.metric.as_str()).collect();
    assert_eq!(
        metrics,
        [
            "throttled_records",
            "failed_records",
            "delivery_success",
            "lambda_errors",
            "lambda_throttles",
            "lambda_duration_p90_ms",
            "iot_rule_failures",
            "incoming_records",
            "alarm:s-freshness"
        ]
    );
    assert_eq!(h.metrics.failed_records, 7, "the window's derived count, not the sparkline's sum");
    assert_eq!(h.findings[7].value, Some(95_000.0), "the peak per second");
    assert!(h.findings[8].message.contains("Threshold Crossed"));
    assert_eq!(h.verdict, Verdict::Degraded);
}

#[test]
fn the_table_shows_every_series_and_the_verdict() {
    let h = assess_at(
        &Place::local(std::path::Path::new(crate::seams::DEFAULT_DATA_DIR), "s"),
        window(),
        healthy(),
        thresholds(),
    );
    let text = render::table(&h);
    for row in ["incoming records", "failed records", "oldest undelivered", "iot rule failures"] {
        assert!(text.contains(row), "{row} in\n{text}");
    }
    assert!(text.ends_with("verdict: healthy"), "{text}");
}

/// The failed-records finding's next commands are typed for the pipeline it judged.
#[test]
fn the_hints_name_the_target_they_were_printed_for() {
    let failing = Vitals { failed_records: Series(vec![Some(3.0)]), ..healthy() };
    let message = |place: &Place| {
        let h = assess_at(place, window(), failing.clone(), thresholds());
        h.findings.iter().find(|f| f.metric == "failed_records").expect("a finding").message.clone()
    };
    let local = message(&Place::local(std::path::Path::new("lab dir"), "lab"));
    let typed = "--local --data-dir 'lab dir' --stack lab";
    assert!(local.contains(&format!("`reaqtions logs {typed}`, then `reaqtions reprocess {typed}`")), "{local}");
    let aws = message(&Place::aws(crate::settings::DEFAULT_STACK));
    assert!(aws.contains("`reaqtions logs`, then `reaqtions reprocess`") && !aws.contains("--local"), "{aws}");
}
