//! The page's bucketing, its 24-hour AQI, its escaping and its HTML.

use serde_json::json;

use super::*;

fn row(device: &str, time: &str, pm25: f64) -> Row {
    json!({"device_id": device, "TIME": time, "PM2_5": pm25, "T": 20.5}).as_object().unwrap().clone()
}

fn at(seconds: i64) -> String {
    DateTime::from_timestamp(1_795_000_000 + seconds, 0).unwrap().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[test]
fn time_is_the_readings_own_and_utc_without_a_zone() {
    let t = |s: &str| reading_time(&json!({ "TIME": s }).as_object().unwrap().clone());
    assert_eq!(t("2026-11-25T21:00:00.000000"), Some("2026-11-25T21:00:00Z".parse().unwrap()));
    assert_eq!(t("2026-11-25 21:00:00"), Some("2026-11-25T21:00:00Z".parse().unwrap()));
    assert_eq!(t("2026-11-25T22:00:00+01:00"), Some("2026-11-25T21:00:00Z".parse().unwrap()));
    assert_eq!(t("yesterday"), None);
}

/// A day of one reading a second: the width doubles until the day fits in 120 buckets, and every reading is in
/// exactly one bucket with the min, mean and max of the readings in it.
#[test]
fn buckets_double_until_the_span_fits_and_lose_nothing() {
    let mut page = Page::default();
    for s in 0..86_400 {
        page.add(&row("a", &at(s), (s % 100) as f64));
    }
    let (lo, hi) = page.span.unwrap();
    assert!(hi - lo < MAX_BUCKETS, "{lo}..{hi}");
    assert_eq!(page.width_ms, 1000 * 1024, "the first power of two over 86,400 s / 120");
    let series = &page.devices["a"].series("PM2_5").unwrap();
    assert!(series.len() as i64 <= MAX_BUCKETS);
    assert_eq!(series.values().map(|a| a.n).sum::<u64>(), 86_400);
    let full = series.values().find(|a| a.n == 1024).unwrap();
    assert_eq!((full.min, full.max), (0.0, 99.0));
    assert_eq!(page.fleet.series("T").unwrap().values().map(|a| a.n).sum::<u64>(), 86_400);
}

/// Readings in any order land in the same buckets.
#[test]
fn order_does_not_change_the_buckets() {
    let times: Vec<i64> = (0..5000).map(|i| i * 37 % 5000 * 3).collect();
    let (mut forward, mut shuffled) = (Page::default(), Page::default());
    let mut sorted = times.clone();
    sorted.sort_unstable();
    for s in &sorted {
        forward.add(&row("a", &at(*s), *s as f64));
    }
    for s in &times {
        shuffled.add(&row("a", &at(*s), *s as f64));
    }
    assert_eq!(forward.width_ms, shuffled.width_ms);
    assert_eq!(forward.devices["a"].series, shuffled.devices["a"].series);
}

/// The AQI comes from the mean of the last 24 hours, not from single readings: a spike does not make a day
/// unhealthy, and readings older than a day are out of it.
#[test]
fn the_aqi_is_the_24_hour_mean() {
    let mut page = Page::default();
    page.add(&row("a", &at(0), 500.0));
    for s in 1..=48 {
        page.add(&row("a", &at(86_400 + s * 1800), 8.0));
    }
    page.add(&row("a", &at(86_400 + 49 * 1800), 200.0));
    let daily = page.devices["a"].daily_aqi().unwrap();
    // 48 readings of 8 and one of 200 within the last 24 h (the 500 is a day older).
    let mean = (47.0 * 8.0 + 200.0) / 48.0;
    assert!((daily.mean - mean).abs() < 1e-9, "{daily:?}");
    assert_eq!(daily.category, "Moderate");
    assert_eq!(daily.index, aqi::pm25_aqi(mean));
    assert!(daily.hours <= 24.0);
    // Without a day of readings, the mean of what there is, and the page says over how long.
    let mut short = Page::default();
    short.add(&row("b", &at(0), 12.0));
    assert!((short.devices["b"].daily_aqi().unwrap().hours - 1.0 / 60.0).abs() < 1e-9);
}

#[test]
fn readings_without_a_time_are_counted_not_charted() {
    let mut page = Page::default();
    page.add(&json!({"PM2_5": 3.0}).as_object().unwrap().clone());
    page.add(&row("a", "not a time", 4.0));
    assert_eq!((page.fleet.readings, page.fleet.untimed), (2, 2));
    assert!(CHARTED.iter().all(|m| page.fleet.series(m).is_none()) && page.span.is_none());
    assert!(page.devices.contains_key(NO_DEVICE));
}

/// A device id is producer input: it reaches the page only escaped, in HTML and in the SVG alike.
#[test]
fn device_ids_are_escaped_everywhere() {
    let evil = r#"<script>alert("x")</script>&'"#;
    let mut page = Page::default();
    for s in 0..30 {
        page.add(&row(evil, &at(s), 10.0 + s as f64));
    }
    let mut html = Vec::new();
    write(&page, &Context { source: "s3://lake".into(), ..Context::default() }, &mut html).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(!html.contains("<script"), "no raw script tag");
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
    assert!(html.contains(r#"data-measure="PM2_5" data-points="30""#));
    assert!(html.contains("Failed records were not counted"));
    assert!(html.contains(chart::MEAN_STROKE));
}
