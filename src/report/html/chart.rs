//! One chart as inline SVG, drawn with plotters' SVG backend: a measure's mean per bucket as a line over its
//! min–max band, with EPA's AQI category bands behind PM2.5; the title and axis labels are SVG text.

use anyhow::{Result, anyhow};
use chrono::Duration;
use plotters::prelude::*;

use super::{Page, Series};
use crate::aqi;

/// The mean line's color (a test finds each series by it).
pub const MEAN_STROKE: &str = "#1F3A93";
const MEAN: RGBColor = RGBColor(0x1F, 0x3A, 0x93);

/// What to draw and how large.
pub(crate) struct Spec<'a> {
    pub(crate) title: &'a str,
    pub(crate) unit: &'a str,
    pub(crate) size: (u32, u32),
    /// EPA's PM2.5 category bands behind the series.
    pub(crate) aqi_bands: bool,
}

/// The chart's SVG, its `<svg>` labelled with the title for screen readers.
pub(crate) fn svg(page: &Page, series: &Series, spec: &Spec) -> Result<String> {
    let Some((lo, hi)) = page.span else { return Ok(String::new()) };
    let width_s = page.width_ms as f64 / 1000.0;
    let x_max = (hi - lo + 1) as f64 * width_s;
    let x = |index: i64| (index - lo) as f64 * width_s + width_s / 2.0;
    let (y_lo, y_hi) = y_range(series, spec.aqi_bands);
    let start = page.bucket_start(lo);
    let label_format = if x_max <= 600.0 {
        "%H:%M:%S"
    } else if x_max <= 2.0 * 86_400.0 {
        "%H:%M"
    } else if x_max <= 90.0 * 86_400.0 {
        "%m-%d %H:%M"
    } else {
        "%Y-%m-%d"
    };
    let time_label = |s: &f64| (start + Duration::milliseconds((s * 1000.0) as i64)).format(label_format).to_string();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, spec.size).into_drawing_area();
        root.fill(&WHITE).map_err(plot)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(spec.title, ("sans-serif", 15))
            .margin(8)
            .margin_right(28)
            .x_label_area_size(34)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..x_max, y_lo..y_hi)
            .map_err(plot)?;
        if spec.aqi_bands {
            let bands = aqi::pm25_bands().filter(|b| b.0 < y_hi).map(|(from, to, _, (r, g, b))| {
                Rectangle::new([(0.0, from.max(y_lo)), (x_max, to.min(y_hi))], RGBColor(r, g, b).mix(0.28).filled())
            });
            chart.draw_series(bands).map_err(plot)?;
        }
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.12))
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&time_label)
            .x_desc("time (UTC)")
            .y_desc(spec.unit)
            .label_style(("sans-serif", 11))
            .axis_desc_style(("sans-serif", 12))
            .draw()
            .map_err(plot)?;
        let band: Vec<(f64, f64)> = series
            .iter()
            .map(|(&i, a)| (x(i), a.max))
            .chain(series.iter().rev().map(|(&i, a)| (x(i), a.min)))
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(band, MEAN.mix(0.22).filled()))).map_err(plot)?;
        let means: Vec<(f64, f64)> = series.iter().map(|(&i, a)| (x(i), a.mean())).collect();
        chart.draw_series(LineSeries::new(means, MEAN.stroke_width(2))).map_err(plot)?;
        root.present().map_err(plot)?;
    }
    let label = format!(r#"<svg role="img" aria-label="{}" "#, super::escape(spec.title));
    Ok(out.replacen("<svg ", &label, 1))
}

/// From 0 (or a little under the lowest value when it is negative) to a little over the highest; PM2.5 on its
/// bands shows at least the first two categories.
fn y_range(series: &Series, aqi_bands: bool) -> (f64, f64) {
    let lowest = series.values().map(|a| a.min).fold(f64::INFINITY, f64::min);
    let highest = series.values().map(|a| a.max).fold(f64::NEG_INFINITY, f64::max);
    if !lowest.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((highest - lowest) * 0.08).max(highest.abs() * 0.02).max(0.5);
    let floor = if lowest >= 0.0 && (aqi_bands || lowest < highest * 0.5) { 0.0 } else { lowest - pad };
    let ceiling = if aqi_bands { (highest + pad).max(40.0) } else { highest + pad };
    (floor, ceiling)
}

fn plot<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the chart: {e}")
}
