//! The HTML of the report page: a header naming the window, the source and how time is read; the fleet (PM2.5 on
//! EPA's category bands with the devices reporting, the hour-of-day profile when the readings span two days or
//! more, the other measures); the summary table (failed records by device) then each device's charts, or for
//! more than [`GRID_OVER`] devices one device × time grid then the table. One file: inline CSS and SVG, no
//! script, no network. Every producer-given string (device ids, above all) is escaped.

use std::io::Write;

use anyhow::Result;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::chart::{self, Spec, XAxis};
use super::fleet::{self, Points};
use super::{CHARTED, Page, Tally, axis, escape, grid};
use crate::aqi;
use crate::report::{ErrorCounts, UNATTRIBUTED};

/// What the page says about where its rows came from.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The lake or query the rows came from, e.g. `s3://bucket (read by this process)` or a local lake's folder.
    pub source: String,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Failed records in the window; `None` when they were not counted.
    pub errors: Option<ErrorCounts>,
}

/// Over this many devices, one grid instead of a chart per device.
pub(crate) const GRID_OVER: usize = 12;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;color:#1b1b1b;background:#fff;margin:24px auto;\
max-width:1180px;padding:0 16px}h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:\
1px solid #ccc}h3{font-size:15px;margin:18px 0 4px}.meta{color:#444;margin:2px 0}.scroll{overflow-x:auto}\
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;\
white-space:nowrap}th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}.legend{display:flex;\
flex-wrap:wrap;gap:4px 14px;padding:0;margin:4px 0;list-style:none;font-size:12px}.legend li{display:flex;\
align-items:center;gap:6px}.swatch{width:18px;height:12px;border:1px solid #555;display:inline-block;\
vertical-align:middle}.grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:4px 0}figcaption{font-size:12px;\
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

/// A time in the table: `HH:MM` on the table's date, `MM-DD HH:MM` on another.
fn clock(t: Option<DateTime<Utc>>, date: Option<NaiveDate>) -> String {
    match t {
        Some(t) if Some(t.date_naive()) == date => t.format("%H:%M").to_string(),
        Some(t) => t.format("%m-%d %H:%M").to_string(),
        None => "–".to_owned(),
    }
}

/// Which chart, and what its caption says the line and band are.
struct Chart<'a> {
    who: &'a str,
    measure: &'a str,
    size: (u32, u32),
    counts: bool,
    caption: String,
}

/// One chart in a figure naming the device, the measure and the points drawn (for people and for tests).
fn figure(out: &mut dyn Write, x: &XAxis, points: &Points, width_ms: i64, c: &Chart) -> Result<()> {
    if points.is_empty() {
        return Ok(());
    }
    let title = format!("{}: {} ({})", c.who, c.measure, unit(c.measure));
    let spec =
        Spec { title: &title, unit: unit(c.measure), size: c.size, aqi_bands: c.measure == "PM2_5", counts: c.counts };
    write!(
        out,
        r#"<figure data-device="{}" data-measure="{}" data-points="{}" data-bucket-ms="{width_ms}" style="max-width:{}px">{}<figcaption>{}: {}{}</figcaption></figure>"#,
        escape(c.who),
        c.measure,
        points.len(),
        c.size.0,
        chart::svg(x, points, &spec),
        escape(&title),
        c.caption,
        if spec.aqi_bands { ", on EPA's AQI category bands" } else { "" }
    )?;
    Ok(())
}

fn summary_row(out: &mut dyn Write, who: &str, d: &Tally, date: Option<NaiveDate>, failed: Option<u64>) -> Result<()> {
    let pm = |f: fn(&super::Agg) -> f64| d.pm25.as_ref().map_or_else(|| "–".to_owned(), |a| format!("{:.1}", f(a)));
    let aqi_cell = d.daily_aqi().map_or_else(
        || "–".to_owned(),
        |a| {
            let (r, g, b) = aqi::color(f64::from(a.index));
            let hours = match a.hours {
                h if h >= 23.5 => String::new(),
                h if h >= 1.0 => format!(" ({h:.1} h)"),
                h => format!(" ({:.0} min)", h * 60.0),
            };
            format!(
                r#"{:.1} → {} <span class="swatch" style="background:rgb({r},{g},{b})"></span> {}{hours}"#,
                a.mean, a.index, a.category
            )
        },
    );
    writeln!(
        out,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(who),
        crate::output::thousands(d.readings as f64),
        clock(d.first, date),
        clock(d.last, date),
        pm(super::Agg::mean),
        pm(|a| a.max),
        aqi_cell,
        failed.map_or_else(|| "not counted".to_owned(), |n| n.to_string())
    )?;
    Ok(())
}

fn table(out: &mut dyn Write, page: &Page, ctx: &Context) -> Result<()> {
    let date = page.fleet.first.map(|t| t.date_naive());
    writeln!(out, "<section><h2>Summary</h2><div class=\"scroll\"><table><thead><tr><th>device</th><th>readings</th>")?;
    writeln!(
        out,
        "<th>first (UTC{0})</th><th>last (UTC{0})</th><th>PM2.5 mean</th><th>PM2.5 max</th><th>24-hour PM2.5 → AQI</th>\
         <th>failed records</th></tr></thead><tbody>",
        date.map_or_else(String::new, |d| format!(", {d}"))
    )?;
    let failed = |device: &str| ctx.errors.as_ref().map(|e| e.by_device.get(device).copied().unwrap_or(0));
    for (id, device) in &page.devices {
        summary_row(out, id, &device.tally, date, failed(id))?;
    }
    let all_failed = ctx.errors.as_ref().map(|e| e.by_code.values().sum());
    summary_row(out, "fleet", &page.fleet, date, all_failed)?;
    writeln!(out, "</tbody></table></div>")?;
    writeln!(
        out,
        "<p class=\"meta\">Times on {} unless dated. 24-hour PM2.5 → AQI: the mean of the 24 hours ending at the \
         last reading and its EPA daily index (with less than a day of readings, the mean of what there is, over \
         the hours given).</p>",
        date.map_or_else(|| "the first reading's date".to_owned(), |d| d.to_string())
    )?;
    match &ctx.errors {
        Some(errors) => {
            let counted = if errors.by_code.is_empty() {
                "No failed records in the window.".to_owned()
            } else {
                let codes: Vec<String> = errors.by_code.iter().map(|(c, n)| format!("{n} {}", escape(c))).collect();
                let unattributed = errors.by_device.get(UNATTRIBUTED).copied().unwrap_or(0);
                format!(
                    "Failed records in the window: {}; {unattributed} could not be tied to a device.",
                    codes.join(", ")
                )
            };
            let undecided = match errors.undecided {
                0 => String::new(),
                n => format!(" {n} more could not be matched to the devices or window asked for, and are not counted."),
            };
            writeln!(out, "<p class=\"meta\">{counted}{undecided}</p>")?;
        }
        None => writeln!(out, "<p class=\"meta\">Failed records were not counted for this source.</p>")?,
    }
    writeln!(out, "</section>")?;
    Ok(())
}

fn legend(out: &mut dyn Write) -> Result<()> {
    writeln!(out, "<ul class=\"legend\"><li>EPA AQI categories for PM2.5 (2024 breakpoints):</li>")?;
    for (from, to, category, (r, g, b)) in aqi::pm25_bands() {
        // EPA's ranges: each ends 0.1 under the next one's start (concentrations are truncated to 0.1).
        let range = if to.is_finite() { format!("{from:.1}–{:.1}", to - 0.1) } else { format!("≥ {from:.1}") };
        writeln!(
            out,
            r#"<li><span class="swatch" style="background:rgb({r},{g},{b})"></span>{category}: {range} µg/m³</li>"#
        )?;
    }
    writeln!(out, "</ul>")?;
    Ok(())
}

/// The fleet: PM2.5 with the devices reporting, the profile over two days or more, the other measures.
fn fleet_section(out: &mut dyn Write, page: &Page, x: &XAxis) -> Result<()> {
    let width_ms = page.width_ms();
    let per = axis::words(width_ms);
    let n = page.devices.len();
    writeln!(out, "<section><h2>Fleet</h2>")?;
    legend(out)?;
    let caption = |counts: bool| {
        format!(
            "per {per}, the median of the devices' means (line) and their interquartile range, the middle half of \
             the devices, 25th to 75th percentile (band){}",
            if counts {
                "; the grey strip counts the devices reporting in each bucket, written where it changes"
            } else {
                ""
            }
        )
    };
    let pm = Chart { who: "fleet", measure: "PM2_5", size: (1100, 330), counts: true, caption: caption(true) };
    figure(out, x, &fleet::fleet(page, "PM2_5"), width_ms, &pm)?;
    if let Some((lo, hi)) = page.drawn_span()
        && (hi - lo + 1) * width_ms >= 2 * axis::DAY
    {
        let profile = Chart {
            who: "fleet by hour of the day",
            measure: "PM2_5",
            size: (1100, 260),
            counts: false,
            caption: "every reading of every day and device in each hour of the day: their median (line) and \
                      interquartile range, 25th to 75th percentile (band)"
                .to_owned(),
        };
        figure(out, &XAxis::hours_of_day(), &fleet::profile(page), 3_600_000, &profile)?;
    }
    writeln!(out, "<details open><summary>The fleet's other measures ({n} devices)</summary><div class=\"grid\">")?;
    for measure in CHARTED.iter().skip(1) {
        let chart = Chart { who: "fleet", measure, size: (540, 220), counts: false, caption: caption(false) };
        figure(out, x, &fleet::fleet(page, measure), width_ms, &chart)?;
    }
    writeln!(out, "</div></details></section>")?;
    Ok(())
}

fn devices_section(out: &mut dyn Write, page: &Page, x: &XAxis) -> Result<()> {
    let width_ms = page.width_ms();
    let caption = format!("per {}, its mean (line) and its min and max (band)", axis::words(width_ms));
    writeln!(out, "<section><h2>Devices</h2>")?;
    if page.devices.len() > GRID_OVER {
        if let Some(grid) = fleet::grid(page) {
            writeln!(
                out,
                "<figure data-grid-ms=\"{}\" data-devices=\"{}\">{}<figcaption>Each device's mean PM2.5 per {} \
                 (UTC), in the colour of its EPA AQI category; grey: no readings.</figcaption></figure>",
                grid.width_ms,
                grid.rows.len(),
                grid::svg(&grid, 1100),
                axis::words(grid.width_ms)
            )?;
        }
    } else {
        for (id, device) in &page.devices {
            writeln!(out, "<article><h3>{}</h3>", escape(id))?;
            let own = |measure: &str| device.series(measure).map(|s| fleet::own(page, s)).unwrap_or_default();
            let chart = |measure, size| Chart { who: id, measure, size, counts: false, caption: caption.clone() };
            figure(out, x, &own("PM2_5"), width_ms, &chart("PM2_5", (1100, 240)))?;
            writeln!(out, "<details><summary>The other measures of {}</summary><div class=\"grid\">", escape(id))?;
            for measure in CHARTED.iter().skip(1) {
                figure(out, x, &own(measure), width_ms, &chart(measure, (540, 200)))?;
            }
            writeln!(out, "</div></details></article>")?;
        }
    }
    writeln!(out, "</section>")?;
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
        "<p class=\"meta\">Readings from {} to {} (UTC), each placed at when it was measured (the transform's \
         <code>_reading_time</code>, else the device's <code>TIME</code>, read as UTC when it carries no zone). Each \
         point is a {} bucket; a bucket without readings breaks the line.{}</p><p class=\"meta\">Made by reaqtions \
         at {}.</p></header>",
        time(fleet.first),
        time(fleet.last),
        axis::words(page.width_ms()),
        if fleet.untimed > 0 {
            format!(" {} readings without a usable time are counted, not charted.", fleet.untimed)
        } else {
            String::new()
        },
        time(Some(Utc::now()))
    )?;
    let x = page.drawn_span().map(|(lo, hi)| XAxis::time(lo, hi, page.width_ms()));
    match &x {
        Some(x) => fleet_section(out, page, x)?,
        None => {
            writeln!(out, "<section><h2>Fleet</h2><p class=\"meta\">No readings with a usable time.</p></section>")?
        }
    }
    // A large fleet's grid is short and says more than its long table: it comes first.
    let large = page.devices.len() > GRID_OVER;
    if let Some(x) = x.as_ref().filter(|_| large) {
        devices_section(out, page, x)?;
    }
    table(out, page, ctx)?;
    if let Some(x) = x.as_ref().filter(|_| !large) {
        devices_section(out, page, x)?;
    }
    writeln!(out, "</body></html>")?;
    out.flush()?;
    Ok(())
}
