//! The HTML of the report page: a header naming the window, the source and how time is read; EPA's category
//! legend; the summary table (failed records by device); the fleet's charts; each device's PM2.5 with its
//! other measures in a `<details>`. One file: inline CSS and SVG, no script, no network. Every producer-given
//! string (device ids, above all) is escaped.

use std::io::Write;

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};

use super::chart::{self, Spec};
use super::{CHARTED, DeviceCharts, Page, escape};
use crate::aqi;
use crate::report::{ErrorCounts, UNATTRIBUTED};

/// What the page says about where its rows came from.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The lake or query the rows came from, e.g. `s3://bucket (scan)`.
    pub source: String,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Failed records in the window; `None` when they were not counted.
    pub errors: Option<ErrorCounts>,
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;color:#1b1b1b;background:#fff;margin:24px auto;\
max-width:1180px;padding:0 16px}h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:\
1px solid #ccc}h3{font-size:15px;margin:18px 0 4px}.meta{color:#444;margin:2px 0}table{border-collapse:collapse;\
margin:8px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2}td:first-child,\
th:first-child{text-align:left}.legend{display:flex;flex-wrap:wrap;gap:6px 14px;padding:0;list-style:none}\
.legend li{display:flex;align-items:center;gap:6px}.swatch{width:18px;height:12px;border:1px solid #555;\
display:inline-block}.grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:4px 0}figcaption{font-size:12px;\
color:#444}details summary{cursor:pointer;color:#1F3A93}@media print{body{margin:0;max-width:none}\
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}article,figure{break-inside:avoid}}";

fn unit(measure: &str) -> &'static str {
    match measure {
        "PM01" | "PM2_5" | "PM10" => "µg/m³",
        "NO2" | "TVOC" => "ppb",
        "CO" | "eCO2" => "ppm",
        "P" => "hPa",
        "T" => "°C",
        "RH" => "%",
        _ => "index",
    }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "–".to_owned(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// A bucket width in words: "1 s", "4 min 16 s", "2 h 16 min".
fn width(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// One chart in a figure naming the device, the measure and the points drawn (for people and for tests).
fn figure(
    out: &mut dyn Write,
    page: &Page,
    who: &str,
    device: &DeviceCharts,
    measure: &str,
    size: (u32, u32),
) -> Result<()> {
    let Some(series) = device.series(measure) else { return Ok(()) };
    let title = format!("{who}: {measure} ({})", unit(measure));
    let spec = Spec { title: &title, unit: unit(measure), size, aqi_bands: measure == "PM2_5" };
    write!(
        out,
        r#"<figure data-device="{}" data-measure="{measure}" data-points="{}" data-bucket-ms="{}">{}<figcaption>{}: mean per {} (line), min–max (band){}</figcaption></figure>"#,
        escape(who),
        series.len(),
        page.width_ms,
        chart::svg(page, series, &spec)?,
        escape(&title),
        width(page.width_ms),
        if spec.aqi_bands { ", on EPA's AQI category bands" } else { "" }
    )?;
    Ok(())
}

fn summary_row(out: &mut dyn Write, who: &str, d: &DeviceCharts, failed: Option<u64>) -> Result<()> {
    let pm = |f: fn(&super::Agg) -> f64| d.pm25.as_ref().map_or_else(|| "–".to_owned(), |a| format!("{:.1}", f(a)));
    let daily = d.daily_aqi();
    let aqi_cell = daily.as_ref().map_or_else(
        || "–".to_owned(),
        |a| {
            let (r, g, b) = aqi::color(f64::from(a.index));
            format!(
                r#"{:.1} → {} <span class="swatch" style="background:rgb({r},{g},{b})"></span> {}{}"#,
                a.mean,
                a.index,
                a.category,
                match a.hours {
                    h if h >= 23.5 => String::new(),
                    h if h >= 1.0 => format!(" (from {h:.1} h of readings)"),
                    h => format!(" (from {:.0} min of readings)", h * 60.0),
                }
            )
        },
    );
    writeln!(
        out,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(who),
        crate::output::thousands(d.readings as f64),
        time(d.first),
        time(d.last),
        pm(super::Agg::mean),
        pm(|a| a.max),
        aqi_cell,
        failed.map_or_else(|| "not counted".to_owned(), |n| n.to_string())
    )?;
    Ok(())
}

/// Writes the page.
pub fn write(page: &Page, ctx: &Context, out: &mut dyn Write) -> Result<()> {
    let fleet = &page.fleet;
    let window = format!(
        "{} to {}",
        ctx.since.map_or_else(|| "the first reading".to_owned(), |t| time(Some(t))),
        ctx.until.map_or_else(|| "the last".to_owned(), |t| time(Some(t)))
    );
    writeln!(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(out, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")?;
    writeln!(out, "<title>reaqtions report: {}</title><style>{STYLE}</style></head><body>", escape(&window))?;
    writeln!(
        out,
        "<header><h1>Air quality: {} devices, {} readings</h1>",
        page.devices.len(),
        crate::output::thousands(fleet.readings as f64)
    )?;
    writeln!(
        out,
        "<p class=\"meta\">Readings measured from {}. Source: {}.</p>",
        escape(&window),
        escape(&ctx.source)
    )?;
    writeln!(
        out,
        "<p class=\"meta\">Readings from {} to {} (UTC). Time is each reading's own <code>TIME</code>, read as UTC \
         when it carries no zone (the original fleet's does not). Each point is a {} bucket: the line its mean, the \
         band its min and max.{}</p><p class=\"meta\">Made by reaqtions at {}.</p></header>",
        time(fleet.first),
        time(fleet.last),
        width(page.width_ms),
        if fleet.untimed > 0 {
            format!(" {} readings without a usable TIME are counted, not charted.", fleet.untimed)
        } else {
            String::new()
        },
        time(Some(Utc::now()))
    )?;
    writeln!(out, "<section><h2>EPA AQI categories for PM2.5 (2024 breakpoints)</h2><ul class=\"legend\">")?;
    for (from, to, category, (r, g, b)) in aqi::pm25_bands() {
        // EPA's ranges: each ends 0.1 under the next one's start (concentrations are truncated to 0.1).
        let range = if to.is_finite() { format!("{from:.1}–{:.1}", to - 0.1) } else { format!("≥ {from:.1}") };
        writeln!(
            out,
            r#"<li><span class="swatch" style="background:rgb({r},{g},{b})"></span>{category}: {range} µg/m³</li>"#
        )?;
    }
    writeln!(out, "</ul></section>")?;

    writeln!(out, "<section><h2>Summary</h2><table><thead><tr><th>device</th><th>readings</th><th>first TIME</th>")?;
    writeln!(
        out,
        "<th>last TIME</th><th>PM2.5 mean</th><th>PM2.5 max</th><th>24-hour mean PM2.5 → AQI (EPA daily index, \
         ending at the last reading)</th><th>failed records</th></tr></thead><tbody>"
    )?;
    let failed = |device: &str| ctx.errors.as_ref().map(|e| e.by_device.get(device).copied().unwrap_or(0));
    for (id, device) in &page.devices {
        summary_row(out, id, device, failed(id))?;
    }
    let all_failed = ctx.errors.as_ref().map(|e| e.by_code.values().sum());
    summary_row(out, "fleet", fleet, all_failed)?;
    writeln!(out, "</tbody></table>")?;
    match &ctx.errors {
        Some(errors) if !errors.by_code.is_empty() => {
            let codes: Vec<String> = errors.by_code.iter().map(|(c, n)| format!("{n} {}", escape(c))).collect();
            let unattributed = errors.by_device.get(UNATTRIBUTED).copied().unwrap_or(0);
            writeln!(
                out,
                "<p class=\"meta\">Failed records in the window: {}; {unattributed} could not be tied to a device.</p>",
                codes.join(", ")
            )?;
        }
        Some(_) => writeln!(out, "<p class=\"meta\">No failed records in the window.</p>")?,
        None => writeln!(out, "<p class=\"meta\">Failed records were not counted for this source.</p>")?,
    }
    writeln!(out, "</section>")?;

    writeln!(out, "<section><h2>Fleet</h2>")?;
    figure(out, page, "fleet", fleet, "PM2_5", (1100, 300))?;
    writeln!(out, "<details open><summary>The other measures</summary><div class=\"grid\">")?;
    for measure in CHARTED.iter().skip(1) {
        figure(out, page, "fleet", fleet, measure, (540, 220))?;
    }
    writeln!(out, "</div></details></section><section><h2>Devices</h2>")?;
    for (id, device) in &page.devices {
        writeln!(out, "<article><h3>{}</h3>", escape(id))?;
        figure(out, page, id, device, "PM2_5", (1100, 260))?;
        writeln!(out, "<details><summary>The other measures of {}</summary><div class=\"grid\">", escape(id))?;
        for measure in CHARTED.iter().skip(1) {
            figure(out, page, id, device, measure, (540, 200))?;
        }
        writeln!(out, "</div></details></article>")?;
    }
    writeln!(out, "</section></body></html>")?;
    out.flush()?;
    Ok(())
}
