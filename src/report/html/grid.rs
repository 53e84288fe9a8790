//! The device × time grid of a large fleet, as SVG: one row per device, one cell per hour over half a day or more
//! (wider to keep at most [`GRID_COLUMNS`](super::fleet::GRID_COLUMNS); narrower on a shorter span), coloured by
//! the EPA AQI category of the cell's mean PM2.5; grey where the device sent nothing. Each cell's tooltip gives its
//! mean and index.

use std::fmt::Write as _;

use super::axis;
use super::escape;
use super::fleet::Grid;
use crate::aqi;

const LABELS: f64 = 96.0;
const HEADER: f64 = 34.0;
const ROW: f64 = 14.0;

pub(crate) fn svg(grid: &Grid, width: u32) -> String {
    let width = f64::from(width);
    let height = HEADER + ROW * grid.rows.len() as f64 + 4.0;
    let cell = (width - LABELS - 12.0) / grid.columns as f64;
    let from = grid.first * grid.width_ms;
    let x = |ms: i64| LABELS + (ms - from) as f64 / grid.width_ms as f64 * cell;
    let mut out = String::with_capacity(256 + grid.rows.len() * grid.columns as usize * 96);
    let _ = write!(
        out,
        r##"<svg role="img" aria-label="PM2.5 by device and {} (UTC), in AQI colours" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11"><rect x="{LABELS}" y="{HEADER}" width="{:.1}" height="{:.1}" fill="#e8e8e8"/>"##,
        axis::words(grid.width_ms),
        cell * grid.columns as f64,
        ROW * grid.rows.len() as f64
    );
    for tick in axis::time_ticks(from, from + grid.columns * grid.width_ms, 9) {
        let tx = x(tick.at);
        let date = tick.date.as_deref().map_or_else(String::new, |d| format!(r##" <tspan fill="#555">{d}</tspan>"##));
        // A label at the right edge ends at its tick, so its date stays on the grid.
        let anchor = if tx > width - 80.0 { "end" } else { "middle" };
        let _ = write!(
            out,
            r##"<path d="M{tx:.1} {:.1}V{height}" stroke="#fff" stroke-width="1.5"/><text class="tick" x="{tx:.1}" y="{:.1}" text-anchor="{anchor}">{}{date}</text>"##,
            HEADER - 6.0,
            HEADER - 10.0,
            tick.label
        );
    }
    for (row, (device, cells)) in grid.rows.iter().enumerate() {
        let y = HEADER + ROW * row as f64;
        let id = escape(device);
        let _ = write!(out, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{id}</text>"#, LABELS - 6.0, y + ROW - 3.0);
        for (&i, &mean) in cells {
            let index = aqi::pm25_aqi(mean);
            let (r, g, b) = aqi::color(f64::from(index));
            let at = chrono::DateTime::from_timestamp_millis(i * grid.width_ms).unwrap_or_default();
            let _ = write!(
                out,
                r##"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="#{r:02x}{g:02x}{b:02x}"><title>{id} {}: {mean:.1} µg/m³, AQI {index} {}</title></rect>"##,
                x(i * grid.width_ms),
                cell - 1.0,
                ROW - 1.0,
                at.format("%Y-%m-%d %H:%M"),
                aqi::category(f64::from(index))
            );
        }
    }
    out.push_str("</svg>");
    out
}
