//! One chart as inline SVG, written directly: a line over a band, each broken where a slot has no readings (a
//! new `M` in the path: nothing is drawn across a gap), EPA's AQI category bands behind PM2.5, ticks on round
//! times and round numbers, and for the fleet a strip counting the devices reporting, labelled where it changes.

use std::fmt::Write as _;

use super::axis::{self, Tick};
use super::escape;
use super::fleet::Points;
use crate::aqi;

/// The line's colour (a test finds each series by it).
pub const MEAN_STROKE: &str = "#1F3A93";

/// The x axis: `slots` slots from slot `first`, each point at its slot's middle, ticks where they fall.
pub(crate) struct XAxis {
    pub(crate) first: i64,
    pub(crate) slots: i64,
    /// Ticks, at slots from the first slot's left edge.
    pub(crate) ticks: Vec<(f64, Tick)>,
    pub(crate) desc: &'static str,
    /// The ticks are moments (each carries `data-time`), not hours of any day.
    pub(crate) moments: bool,
}

impl XAxis {
    /// A time axis over buckets `lo..=hi` of `width_ms`, ticked on round clock times.
    pub(crate) fn time(lo: i64, hi: i64, width_ms: i64) -> XAxis {
        let (from, to) = (lo * width_ms, (hi + 1) * width_ms);
        let ticks =
            axis::time_ticks(from, to, 9).into_iter().map(|t| ((t.at - from) as f64 / width_ms as f64, t)).collect();
        XAxis { first: lo, slots: hi - lo + 1, ticks, desc: "time (UTC)", moments: true }
    }

    /// The 24 hours of the day, ticked every 3 hours.
    pub(crate) fn hours_of_day() -> XAxis {
        let ticks = (0..=24)
            .step_by(3)
            .map(|h| (f64::from(h), Tick { at: i64::from(h) * 3_600_000, label: format!("{h:02}:00"), date: None }))
            .collect();
        XAxis { first: 0, slots: 24, ticks, desc: "hour of the day (UTC)", moments: false }
    }
}

/// What to draw and how large.
pub(crate) struct Spec<'a> {
    pub(crate) title: &'a str,
    pub(crate) unit: &'a str,
    pub(crate) size: (u32, u32),
    /// EPA's PM2.5 category bands behind the series.
    pub(crate) aqi_bands: bool,
    /// A strip under the chart counting what each point stands for (the devices reporting).
    pub(crate) counts: bool,
}

const LEFT: f64 = 54.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 36.0;
const STRIP: f64 = 30.0;

/// The chart's SVG, its `<svg>` labelled with the title for screen readers; nothing when there are no points.
pub(crate) fn svg(x: &XAxis, points: &Points, spec: &Spec) -> String {
    if points.is_empty() {
        return String::new();
    }
    let (width, height) = (f64::from(spec.size.0), f64::from(spec.size.1));
    let strip = if spec.counts { STRIP } else { 0.0 };
    let (x0, x1, y0, y1) = (LEFT, width - RIGHT, TOP, height - BOTTOM - strip);
    let slot_px = (x1 - x0) / x.slots as f64;
    let px = |slots: f64| x0 + slots * slot_px;
    let centre = |i: i64| px((i - x.first) as f64 + 0.5);
    let (lo, hi, step) = y_range(points, spec.aqi_bands);
    let py = |v: f64| y1 - (v.clamp(lo, hi) - lo) / (hi - lo) * (y1 - y0);
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        r##"<svg role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11"><text x="{x0}" y="15" font-size="13" font-weight="600">{title}</text><text x="{x1}" y="15" text-anchor="end" fill="#555">{desc}</text>"##,
        title = escape(spec.title),
        desc = x.desc,
    );
    if spec.aqi_bands {
        for (from, to, _, (r, g, b)) in aqi::pm25_bands().filter(|b| b.0 < hi) {
            let (top, bottom) = (py(to.min(hi)), py(from.max(lo)));
            let _ = write!(
                out,
                r#"<rect x="{x0}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="rgb({r},{g},{b})" fill-opacity=".28"/>"#,
                x1 - x0,
                bottom - top
            );
        }
    }
    // Round numbers up the side, with a faint line across.
    let mut v = lo;
    while v <= hi + step * 1e-6 {
        let y = py(v);
        let _ = write!(
            out,
            r##"<path d="M{x0} {y:.1}H{x1}" stroke="#000" stroke-opacity=".12"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 5.0,
            y + 4.0,
            axis::number(v, step)
        );
        v += step;
    }
    let _ = write!(
        out,
        r##"<text transform="translate(12 {:.1}) rotate(-90)" text-anchor="middle" fill="#555">{}</text>"##,
        (y0 + y1) / 2.0,
        escape(spec.unit)
    );
    // The band and the line, one sub-path per run of consecutive slots.
    let runs = runs(points);
    let mut band = String::new();
    let mut line = String::new();
    for run in &runs {
        let (first, last) = (run[0].0, run[run.len() - 1].0);
        let widen = if first == last { 1.5 } else { 0.0 };
        let _ = write!(band, "M{:.1} {:.1}", centre(first) - widen, py(run[0].1.high));
        for (i, p) in run.iter() {
            let _ = write!(band, "L{:.1} {:.1}", centre(*i), py(p.high));
        }
        let _ = write!(band, "L{:.1} {:.1}", centre(last) + widen, py(run[run.len() - 1].1.high));
        let _ = write!(band, "L{:.1} {:.1}", centre(last) + widen, py(run[run.len() - 1].1.low));
        for (i, p) in run.iter().rev() {
            let _ = write!(band, "L{:.1} {:.1}", centre(*i), py(p.low));
        }
        let _ = write!(band, "L{:.1} {:.1}Z", centre(first) - widen, py(run[0].1.low));
        for (k, (i, p)) in run.iter().enumerate() {
            let _ = write!(line, "{}{:.1} {:.1}", if k == 0 { 'M' } else { 'L' }, centre(*i), py(p.line));
        }
        if first == last {
            line.push_str("h0");
        }
    }
    let _ = write!(
        out,
        r#"<path class="band" d="{band}" fill="{MEAN_STROKE}" fill-opacity=".22"/><path class="line" d="{line}" fill="none" stroke="{MEAN_STROKE}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>"#
    );
    let _ = write!(out, r##"<path d="M{x0} {y0}V{y1}H{x1}" fill="none" stroke="#444"/>"##);
    if spec.counts {
        counts(&mut out, points, &centre, slot_px, (y1 + 4.0, y1 + strip - 2.0));
    }
    // Time (or hour) ticks under everything, the date under the first and where the day changes.
    let y_text = height - BOTTOM + 13.0;
    for (slots, tick) in &x.ticks {
        let tx = px(*slots);
        let time = chrono::DateTime::from_timestamp_millis(tick.at).filter(|_| x.moments);
        // A label at the right edge ends at its tick, so the date under it stays on the chart.
        let anchor = if tx > width - 36.0 { "end" } else { "middle" };
        let _ = write!(
            out,
            r##"<path d="M{tx:.1} {y1}v4" stroke="#444"/><text class="tick" x="{tx:.1}" y="{y_text:.1}" text-anchor="{anchor}"{}>{}"##,
            time.map_or_else(String::new, |t| format!(r#" data-time="{}""#, t.format("%Y-%m-%dT%H:%M:%SZ"))),
            tick.label
        );
        if let Some(date) = &tick.date {
            let _ = write!(out, r##"<tspan x="{tx:.1}" dy="13" fill="#555">{date}</tspan>"##);
        }
        out.push_str("</text>");
    }
    out.push_str("</svg>");
    out
}

/// The points in runs of consecutive slots: a missing slot starts a new run.
fn runs(points: &Points) -> Vec<Vec<(i64, super::fleet::Point)>> {
    let mut runs: Vec<Vec<(i64, super::fleet::Point)>> = Vec::new();
    for (&i, &p) in points {
        match runs.last_mut() {
            Some(run) if run[run.len() - 1].0 + 1 == i => run.push((i, p)),
            _ => runs.push(vec![(i, p)]),
        }
    }
    runs
}

/// The strip of counts (devices reporting) between `top` and `bottom`: a bar per point, the count written where
/// it changes (and at the start of each run), unless it would overlap the last one written.
fn counts(out: &mut String, points: &Points, centre: &dyn Fn(i64) -> f64, slot_px: f64, (top, bottom): (f64, f64)) {
    let most = points.values().map(|p| p.count).max().unwrap_or(1).max(1) as f64;
    let bar = |p: &super::fleet::Point| (bottom - top - 11.0) * p.count as f64 / most;
    let mut bars = String::new();
    for (i, p) in points {
        let _ =
            write!(bars, "M{:.1} {bottom:.1}v-{:.1}h{:.1}v{:.1}Z", centre(*i) - slot_px / 2.0, bar(p), slot_px, bar(p));
    }
    let _ = write!(out, r##"<path class="devices" d="{bars}" fill="#777" fill-opacity=".45"/>"##);
    let (mut previous, mut last_label): (Option<(i64, u64)>, f64) = (None, f64::NEG_INFINITY);
    for (i, p) in points {
        let changed = previous.is_none_or(|(j, n)| j + 1 != *i || n != p.count);
        previous = Some((*i, p.count));
        let x = centre(*i);
        if changed && x - last_label > 24.0 {
            last_label = x;
            let _ = write!(
                out,
                r##"<text class="devices" x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#333">{}</text>"##,
                bottom - bar(p) - 2.0,
                p.count
            );
        }
    }
}

/// From 0 (or a little under the lowest value when it is negative or far from 0) to a little over the highest,
/// on round numbers; PM2.5 on its bands shows at least the first two categories.
fn y_range(points: &Points, aqi_bands: bool) -> (f64, f64, f64) {
    let lowest = points.values().map(|p| p.low.min(p.line)).fold(f64::INFINITY, f64::min);
    let highest = points.values().map(|p| p.high.max(p.line)).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((highest - lowest) * 0.06).max(highest.abs() * 0.02).max(0.1);
    let floor = if lowest >= 0.0 && (aqi_bands || lowest < highest * 0.5) { 0.0 } else { lowest - pad };
    let ceiling = if aqi_bands { (highest + pad).max(40.0) } else { highest + pad };
    let step = axis::number_step(floor, ceiling, 5.0);
    ((floor / step).floor() * step, (ceiling / step).ceil() * step, step)
}
