//! The page's bucketing on round widths, its fleet statistics, its gaps, its 24-hour AQI, its escaping, its
//! profile and grid, and its size on a day of a hundred devices.

use serde_json::json;

use super::fleet::{Point, quantile};
use super::*;
use crate::simulate::device::{SimulatedDevice, format_time};

fn row(device: &str, time: &str, pm25: f64) -> Row {
    json!({"device_id": device, "TIME": time, "PM2_5": pm25, "T": 20.5}).as_object().unwrap().clone()
}

/// `seconds` after 2026-12-06T00:00:00Z, as devices send `TIME`.
fn at(seconds: i64) -> String {
    format_time(DateTime::from_timestamp(1_796_515_200 + seconds, 0).unwrap())
}

fn html(page: &Page) -> String {
    let mut out = Vec::new();
    write(page, &Context { source: "s3://lake".into(), ..Context::default() }, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The `d` of every path of class `line` in the figure of `device` and `measure`.
fn line_of(html: &str, device: &str, measure: &str) -> String {
    let figure = html
        .split("<figure ")
        .find(|f| f.starts_with(&format!(r#"data-device="{device}" data-measure="{measure}""#)))
        .unwrap_or_else(|| panic!("a figure of {device}'s {measure}"));
    let line = &figure[figure.find(r#"<path class="line" d=""#).expect("a line") + 22..];
    line[..line.find('"').unwrap()].to_owned()
}

/// Readings are placed at when they were measured: the transform's `_reading_time` over the device's `TIME`.
#[test]
fn readings_are_placed_at_their_reading_time() {
    let mut page = Page::default();
    let mut late = row("a", "2026-12-06T10:00:00Z", 5.0);
    late.insert("_reading_time".into(), json!("2026-12-06T09:00:00.000Z"));
    late.insert("_firehose_arrival".into(), json!("2026-12-06T11:00:00.000Z"));
    page.add(&late);
    assert_eq!(page.fleet.first, Some("2026-12-06T09:00:00Z".parse().unwrap()));
    page.add(&row("a", "2026-12-06 09:30:00", 5.0));
    assert_eq!(page.fleet.last, Some("2026-12-06T09:30:00Z".parse().unwrap()), "no zone: UTC");
}

/// A day of one reading a second: drawn at 15 minutes (not 17 min 4 s), every reading in exactly one bucket,
/// the buckets the same as bucketing the readings at 15 minutes directly.
#[test]
fn a_day_is_drawn_in_round_buckets_losing_nothing() {
    let mut page = Page::default();
    for s in 0..86_400 {
        page.add(&row("a", &at(s), (s % 100) as f64));
    }
    assert_eq!(page.width_ms(), 15 * 60_000);
    assert_eq!(page.gathered_ms, 15 * 60_000);
    let drawn = page.drawn(page.devices["a"].series("PM2_5").unwrap());
    assert_eq!(drawn.len(), 96);
    assert_eq!(drawn.values().map(|a| a.n).sum::<u64>(), 86_400);
    assert!(drawn.values().all(|a| a.n == 900 && (a.min, a.max) == (0.0, 99.0)));
    assert_eq!(page.drawn_span(), Some((1_796_515_200 / 900, 1_796_515_200 / 900 + 95)));
}

/// Readings in any order land in the same buckets, whatever width they were first gathered at.
#[test]
fn order_does_not_change_the_buckets() {
    let times: Vec<i64> = (0..5000).map(|i| i * 37 % 5000 * 7).collect();
    let (mut forward, mut shuffled) = (Page::default(), Page::default());
    let mut sorted = times.clone();
    sorted.sort_unstable();
    for s in &sorted {
        forward.add(&row("a", &at(*s), *s as f64));
    }
    for s in &times {
        shuffled.add(&row("a", &at(*s), *s as f64));
    }
    assert_eq!(forward.width_ms(), 5 * 60_000, "35,000 s in at most 120 round buckets");
    let drawn = |p: &Page| p.drawn(p.devices["a"].series("PM2_5").unwrap());
    assert_eq!(drawn(&forward), drawn(&shuffled));
    let direct: std::collections::BTreeSet<i64> = times.iter().map(|s| (1_796_515_200 + s) / 300).collect();
    assert_eq!(drawn(&forward).keys().copied().collect::<std::collections::BTreeSet<_>>(), direct);
}

/// A three-hour hole breaks the fleet's line and a device's line: a new move-to after the gap, no segment
/// across it.
#[test]
fn a_gap_breaks_the_line() {
    let mut page = Page::default();
    for minute in (0..10 * 60).chain(13 * 60..24 * 60) {
        for device in ["a", "b"] {
            page.add(&row(device, &at(minute * 60), 10.0 + (minute % 7) as f64));
        }
    }
    let html = html(&page);
    for who in ["fleet", "a"] {
        let line = line_of(&html, who, "PM2_5");
        let runs: Vec<&str> = line.split('M').skip(1).collect();
        assert_eq!(runs.len(), 2, "{who}: two runs, {line}");
        let x = |point: &str| point.trim_start_matches(['M', 'L']).split(' ').next().unwrap().parse::<f64>().unwrap();
        let last_before = x(runs[0].split('L').next_back().unwrap());
        let first_after = x(runs[1].split('L').next().unwrap());
        // 1100 px for a day: three hours are over 130 px.
        assert!(first_after - last_before > 130.0, "{who}: {last_before} → {first_after}");
    }
    let fleet = fleet::fleet(&page, "PM2_5");
    assert_eq!(fleet.len(), 84, "96 quarter hours less 12 without readings");
}

/// The fleet is the median of the devices' bucket means with their quartiles, and counts who reports: a device
/// joining with other values moves the band and the count, and the line only as the median does.
#[test]
fn the_fleet_is_the_median_of_the_devices_with_their_quartiles() {
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
    assert_eq!(quantile(&[10.0, 20.0, 60.0], 0.25), 15.0);
    assert_eq!(quantile(&[7.0], 0.75), 7.0);
    let mut page = Page::default();
    for s in 0..600 {
        page.add(&row("a", &at(s), 10.0));
        page.add(&row("b", &at(s), 20.0));
        page.add(&row("c", &at(s), [30.0, 90.0, 60.0, 60.0, 60.0][s as usize % 5]));
        if s >= 300 {
            page.add(&row("d", &at(s), 500.0));
        }
    }
    let fleet = fleet::fleet(&page, "PM2_5");
    let first = fleet.values().next().unwrap();
    // Device c's mean is 60: the means are 10, 20, 60.
    assert_eq!(*first, Point { line: 20.0, low: 15.0, high: 40.0, count: 3 });
    let last = fleet.values().next_back().unwrap();
    assert_eq!(*last, Point { line: 40.0, low: 17.5, high: 170.0, count: 4 });
    let html = html(&page);
    assert!(html.contains("the median of the devices' means (line) and their interquartile range"));
    let labels: Vec<&str> = html
        .split(r#"<text class="devices""#)
        .skip(1)
        .map(|t| &t[t.find('>').unwrap() + 1..t.find('<').unwrap()])
        .collect();
    assert_eq!(labels, ["3", "4"], "the count where it changes");
    // A device's own chart keeps its mean and min–max.
    let c = fleet::own(&page, page.devices["c"].series("PM2_5").unwrap());
    assert_eq!(c.values().next().map(|p| (p.line, p.low, p.high)), Some((60.0, 30.0, 90.0)));
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
    let daily = page.devices["a"].tally.daily_aqi().unwrap();
    // 48 readings of 8 and one of 200 within the last 24 h (the 500 is a day older).
    let mean = (47.0 * 8.0 + 200.0) / 48.0;
    assert!((daily.mean - mean).abs() < 1e-9, "{daily:?}");
    assert_eq!(daily.category, "Moderate");
    assert_eq!(daily.index, aqi::pm25_aqi(mean));
    assert!(daily.hours <= 24.0);
    // Without a day of readings, the mean of what there is, and the page says over how long.
    let mut short = Page::default();
    short.add(&row("b", &at(0), 12.0));
    assert!((short.devices["b"].tally.daily_aqi().unwrap().hours - 1.0 / 60.0).abs() < 1e-9);
}

#[test]
fn readings_without_a_time_are_counted_not_charted() {
    let mut page = Page::default();
    page.add(&json!({"PM2_5": 3.0}).as_object().unwrap().clone());
    page.add(&row("a", "not a time", 4.0));
    assert_eq!((page.fleet.readings, page.fleet.untimed), (2, 2));
    assert!(page.devices.values().all(|d| CHARTED.iter().all(|m| d.series(m).is_none())) && page.span.is_none());
    assert!(page.devices.contains_key(NO_DEVICE));
    assert!(html(&page).contains("No readings with a usable time"));
}

/// A device id is producer input: it reaches the page only escaped, in HTML and in the SVG alike.
#[test]
fn device_ids_are_escaped_everywhere() {
    let evil = r#"<script>alert("x")</script>&'"#;
    let mut page = Page::default();
    for s in 0..30 {
        page.add(&row(evil, &at(s), 10.0 + s as f64));
    }
    let html = html(&page);
    assert!(!html.contains("<script"), "no raw script tag");
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
    assert!(html.contains(r#"data-measure="PM2_5" data-points="30""#));
    assert!(html.contains("Failed records were not counted"));
    assert!(html.contains(chart::MEAN_STROKE));
}

/// The table's times are HH:MM with the date once, in the header; its cells do not wrap.
#[test]
fn the_table_gives_times_on_the_clock_and_the_date_once() {
    let mut page = Page::default();
    page.add(&row("aq-0001", &at(7 * 3600 + 5 * 60), 10.0));
    page.add(&row("aq-0001", &at(86_400 + 60), 10.0));
    let html = html(&page);
    assert!(html.contains("<th>first (UTC, 2026-12-06)</th>"), "{html}");
    assert!(html.contains("<td>07:05</td><td>12-07 00:01</td>"));
    assert!(html.contains("white-space:nowrap"));
    assert!(html.find("<h2>Fleet</h2>").unwrap() < html.find("<h2>Summary</h2>").unwrap(), "fleet first");
}

/// Two days or more: PM2.5 by hour of the day, its median and quartiles over the readings of that hour.
#[test]
fn two_days_show_the_hour_of_day_profile() {
    let mut page = Page::default();
    for minute in 0..2 * 24 * 60 {
        let hour = minute / 60 % 24;
        let v = if hour == 8 { 30.0 + (minute % 4) as f64 } else { 5.0 };
        page.add(&row("a", &at(minute * 60), v));
    }
    let profile = fleet::profile(&page);
    assert_eq!(profile.len(), 24);
    let (rush, night) = (profile[&8], profile[&3]);
    assert!((rush.line / 31.5 - 1.0).abs() < 0.03 && rush.low < rush.high, "{rush:?}");
    assert!((night.line / 5.0 - 1.0).abs() < 0.02 && night.count == 120, "{night:?}");
    assert!(html(&page).contains(r#"data-device="fleet by hour of the day""#));
    let mut day = Page::default();
    day.add(&row("a", &at(0), 5.0));
    day.add(&row("a", &at(86_399), 5.0));
    assert!(!html(&day).contains("by hour of the day"), "one day has no profile");
}

/// A day of a hundred devices, as `simulate` makes them: a device × hour grid instead of a hundred charts, and a
/// page whose size depends on devices and buckets, not readings (one reading every 4 minutes keeps the test
/// quick; the same day at one a minute, through `report`, made a page of the same size).
#[test]
fn a_hundred_devices_make_a_grid_and_a_bounded_page() {
    let start = DateTime::from_timestamp(1_796_515_200, 0).unwrap();
    let mut devices: Vec<SimulatedDevice> = (0..100).map(|i| SimulatedDevice::new(i, 3)).collect();
    let mut page = Page::default();
    let mut bytes = Vec::new();
    let began = std::time::Instant::now();
    for minute in (0..24 * 60).step_by(4) {
        let time = format_time(start + chrono::Duration::minutes(minute));
        for device in &mut devices {
            bytes.clear();
            device.next_reading(&time, "run1", &mut bytes);
            page.add(&serde_json::from_slice(&bytes).unwrap());
        }
    }
    let html = html(&page);
    eprintln!(
        "100 devices × 360 readings: {:.2} MB in {:.1} s",
        html.len() as f64 / 1e6,
        began.elapsed().as_secs_f64()
    );
    assert!(html.len() < 1_000_000, "{} bytes", html.len());
    assert!(html.contains(r#"<figure data-grid-ms="3600000" data-devices="100">"#));
    assert_eq!(html.matches("<rect ").count() - html.matches(r#"fill-opacity=".28""#).count(), 100 * 24 + 1);
    assert!(!html.contains("<article>"), "no chart per device");
    assert!(html.find("data-grid-ms").unwrap() < html.find("<h2>Summary</h2>").unwrap());
}

/// A large fleet's grid over seconds has a column per drawn bucket, not one hour-wide column.
#[test]
fn a_short_span_grids_by_its_buckets() {
    let mut page = Page::default();
    for s in 0..5 {
        for d in 0..13 {
            page.add(&row(&format!("aq-{d:04}"), &at(s), 5.0));
        }
    }
    let grid = fleet::grid(&page).unwrap();
    assert_eq!((grid.width_ms, grid.columns, grid.rows.len()), (1000, 5, 13));
}
