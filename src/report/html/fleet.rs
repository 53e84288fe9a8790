//! What the charts draw, from the devices' buckets: a device's own mean and min–max; the fleet as the median of
//! the devices' bucket means with their interquartile range and the count of devices reporting (so a device
//! joining or leaving moves the band, not the line); the hour-of-day profile of PM2.5; the device × time grid.

use std::collections::BTreeMap;

use super::{MAX_POINTS, Page, Series, axis};

/// One point of a chart: its line, its band, and how many it stands for (devices or readings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub(crate) line: f64,
    pub(crate) low: f64,
    pub(crate) high: f64,
    pub(crate) count: u64,
}

/// A chart's points by slot (bucket index, or hour of the day); a missing slot is a gap.
pub(crate) type Points = BTreeMap<i64, Point>;

/// A device's own points: the mean per drawn bucket (line), its min and max (band), its readings.
pub(crate) fn own(page: &Page, series: &Series) -> Points {
    page.drawn(series)
        .into_iter()
        .map(|(i, a)| (i, Point { line: a.mean(), low: a.min, high: a.max, count: a.n }))
        .collect()
}

/// The `q` quantile (0 to 1) of sorted values, interpolated between neighbours.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = q * (sorted.len() - 1) as f64;
    let (below, above) = (at.floor() as usize, at.ceil() as usize);
    sorted[below] + (sorted[above] - sorted[below]) * (at - below as f64)
}

/// The fleet's points of `measure`: per drawn bucket, the median of the means of the devices reporting in it
/// (line), their interquartile range (band) and their count.
pub(crate) fn fleet(page: &Page, measure: &str) -> Points {
    let mut means: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for device in page.devices.values() {
        for (i, a) in page.drawn(device.series(measure).unwrap_or(&Series::new())) {
            means.entry(i).or_default().push(a.mean());
        }
    }
    means
        .into_iter()
        .map(|(i, mut v)| {
            v.sort_by(f64::total_cmp);
            let point = Point {
                line: quantile(&v, 0.5),
                low: quantile(&v, 0.25),
                high: quantile(&v, 0.75),
                count: v.len() as u64,
            };
            (i, point)
        })
        .collect()
}

/// PM2.5 by hour of the day (UTC, 0 to 23): the median of the readings in that hour over every day and device
/// (line), their interquartile range (band), their count.
pub(crate) fn profile(page: &Page) -> Points {
    (0..24u32)
        .filter_map(|h| {
            let (n, [low, line, high]) = page.profile.quantiles(h, [0.25, 0.5, 0.75])?;
            Some((i64::from(h), Point { line, low, high, count: n }))
        })
        .collect()
}

/// The device × time grid of a large fleet: each device's mean PM2.5 per column.
pub(crate) struct Grid<'a> {
    /// A column's width (ms): the narrowest round width keeping at most [`GRID_COLUMNS`], an hour or more over
    /// half a day.
    pub(crate) width_ms: i64,
    /// The first column's index (time ÷ width) and how many columns.
    pub(crate) first: i64,
    pub(crate) columns: i64,
    pub(crate) rows: Vec<(&'a str, BTreeMap<i64, f64>)>,
}

/// Columns of the grid at most.
pub(crate) const GRID_COLUMNS: i64 = 48;

pub(crate) fn grid(page: &Page) -> Option<Grid<'_>> {
    let (lo, hi) = page.span?;
    let g = page.gathered_ms;
    // Hours over half a day or more; under it, as fine as the charts' buckets allow.
    let hour = 60 * 60_000;
    let at_least = if (hi - lo + 1) * g >= 12 * hour { hour.max(page.width_ms()) } else { page.width_ms() };
    let width_ms = axis::round_width(lo * g, hi * g + g - 1, GRID_COLUMNS, at_least);
    debug_assert!(width_ms % g == 0 && GRID_COLUMNS <= MAX_POINTS);
    let factor = width_ms / g;
    let rows = page
        .devices
        .iter()
        .map(|(id, d)| {
            let cells = d.series("PM2_5").map(|s| super::merged(s, factor)).unwrap_or_default();
            (id.as_str(), cells.into_iter().map(|(i, a)| (i, a.mean())).collect())
        })
        .collect();
    let first = lo.div_euclid(factor);
    Some(Grid { width_ms, first, columns: hi.div_euclid(factor) - first + 1, rows })
}
