//! `report --format html`: one self-contained page of what the fleet measured. Rows stream in and are bucketed
//! by when they were measured (`_reading_time`, else `TIME`: [`crate::report::reading_time`]): min, mean and max
//! per bucket and device, gathered at a width that divides every round width the page may still draw at
//! ([`axis::gathering_width`]), so the page draws at the narrowest round width keeping at most [`MAX_POINTS`]
//! points, exactly; memory and the page's size depend on devices × measures, not on readings. `axis` holds the
//! round times, `fleet` the fleet's statistics, `chart` and `grid` draw the SVG, `page` writes the HTML.

mod axis;
mod chart;
mod fleet;
mod grid;
mod page;

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike as _, Utc};

use super::Row;
use super::summary::NO_DEVICE;
use crate::aqi;

/// Points per chart at most: the page draws at the narrowest round width that keeps the readings' span in them.
pub(crate) const MAX_POINTS: i64 = 120;
/// The measures charted, in the original order (`USER_INPUT` is a button count, not a measure).
pub(crate) const CHARTED: [&str; 11] = ["PM2_5", "PM01", "PM10", "NO2", "CO", "AQI", "eCO2", "TVOC", "P", "T", "RH"];

/// Min, max, sum and count of the values in one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Agg {
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) sum: f64,
    pub(crate) n: u64,
}

impl Agg {
    fn of(v: f64) -> Agg {
        Agg { min: v, max: v, sum: v, n: 1 }
    }

    fn merge(&mut self, o: &Agg) {
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.n += o.n;
    }

    pub(crate) fn mean(&self) -> f64 {
        self.sum / self.n as f64
    }
}

/// One measure's buckets, by bucket index (time ÷ the width).
pub(crate) type Series = BTreeMap<i64, Agg>;

fn add(series: &mut Series, index: i64, v: f64) {
    // Readings mostly come in time order: the newest bucket first.
    if let Some(mut last) = series.last_entry()
        && *last.key() == index
    {
        last.get_mut().merge(&Agg::of(v));
        return;
    }
    series.entry(index).and_modify(|a| a.merge(&Agg::of(v))).or_insert_with(|| Agg::of(v));
}

/// `series` (bucket index × `from` ms) in buckets `factor` times wider.
pub(crate) fn merged(series: &Series, factor: i64) -> Series {
    let mut out = Series::new();
    for (i, a) in series {
        out.entry(i.div_euclid(factor)).and_modify(|m: &mut Agg| m.merge(a)).or_insert(*a);
    }
    out
}

/// What the summary table says of a device (or of the fleet).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) readings: u64,
    /// Readings without a usable time: counted, not charted.
    pub(crate) untimed: u64,
    pub(crate) first: Option<DateTime<Utc>>,
    pub(crate) last: Option<DateTime<Utc>>,
    pub(crate) pm25: Option<Agg>,
    day: aqi::DailyMean,
}

impl Tally {
    fn add(&mut self, time: Option<DateTime<Utc>>, pm25: Option<f64>) {
        self.readings += 1;
        let Some(t) = time else {
            self.untimed += 1;
            return;
        };
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
        if let Some(v) = pm25 {
            self.pm25.get_or_insert(Agg::of(v)).merge(&Agg::of(v));
            self.day.add(t, v);
        }
    }

    /// The AQI of the 24-hour mean PM2.5 ending at the last reading, by the one rule ([`aqi::DailyMean`]).
    pub(crate) fn daily_aqi(&self) -> Option<aqi::DailyAqi> {
        self.day.aqi()
    }
}

/// What the page shows of one device: its row and its gathered series.
#[derive(Debug, Default)]
pub(crate) struct DeviceCharts {
    pub(crate) tally: Tally,
    /// One series per measure of [`CHARTED`], in its order, at the page's gathering width.
    series: [Series; CHARTED.len()],
}

/// A row's values of the [`CHARTED`] measures (numbers only), read once.
type Values = [Option<f64>; CHARTED.len()];

impl DeviceCharts {
    /// The measure's gathered series, when it has readings.
    pub(crate) fn series(&self, measure: &str) -> Option<&Series> {
        let i = CHARTED.iter().position(|m| *m == measure)?;
        Some(&self.series[i]).filter(|s| !s.is_empty())
    }

    fn coarsen(&mut self, factor: i64) {
        for series in &mut self.series {
            *series = merged(series, factor);
        }
    }
}

/// PM2.5 readings by hour of the day (UTC), as histograms on a log scale (bins 2 % apart, from 0.05 µg/m³):
/// the medians and quartiles of the hour-of-day profile, in constant memory.
#[derive(Debug, Default)]
pub(crate) struct Profile {
    /// `[hour × BINS + bin]`; empty until the first PM2.5 reading.
    counts: Vec<u64>,
}

const BINS: usize = 600;
const BIN_FLOOR: f64 = 0.05;
const BIN_RATIO: f64 = 1.02;

impl Profile {
    fn add(&mut self, hour: u32, v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; 24 * BINS];
        }
        let bin = if v <= BIN_FLOOR { 0 } else { (1.0 + (v / BIN_FLOOR).ln() / BIN_RATIO.ln()) as usize };
        self.counts[hour as usize * BINS + bin.min(BINS - 1)] += 1;
    }

    /// The readings at `hour` and their quantiles `qs` (0 to 1), to within a bin (2 %).
    pub(crate) fn quantiles<const N: usize>(&self, hour: u32, qs: [f64; N]) -> Option<(u64, [f64; N])> {
        let bins = self.counts.get(hour as usize * BINS..(hour as usize + 1) * BINS)?;
        let n: u64 = bins.iter().sum();
        if n == 0 {
            return None;
        }
        Some((
            n,
            qs.map(|q| {
                let rank = (q * n as f64).ceil().max(1.0) as u64;
                let mut seen = 0;
                let bin = bins.iter().position(|c| {
                    seen += c;
                    seen >= rank
                });
                match bin.unwrap_or(BINS - 1) {
                    0 => 0.0,
                    b => BIN_FLOOR * BIN_RATIO.powf(b as f64 - 0.5),
                }
            }),
        ))
    }
}

/// The page being gathered.
#[derive(Debug)]
pub struct Page {
    /// The width readings are gathered at: it divides every round width the page may still draw at.
    pub(crate) gathered_ms: i64,
    /// The first and last gathered bucket holding readings.
    pub(crate) span: Option<(i64, i64)>,
    pub(crate) devices: BTreeMap<String, DeviceCharts>,
    pub(crate) fleet: Tally,
    pub(crate) profile: Profile,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            gathered_ms: axis::gathering_width(1),
            span: None,
            devices: BTreeMap::new(),
            fleet: Tally::default(),
            profile: Profile::default(),
        }
    }
}

impl Page {
    pub fn add(&mut self, row: &Row) {
        let time = super::reading_time(row);
        let mut index = 0;
        if let Some(t) = time {
            index = t.timestamp_millis().div_euclid(self.gathered_ms);
            if self.span.is_none_or(|(lo, hi)| index < lo || index > hi) {
                index = self.widen(index);
            }
        }
        let values: Values = CHARTED.map(|m| row.get(m).and_then(serde_json::Value::as_f64).filter(|v| v.is_finite()));
        let device = row.get("device_id").and_then(|d| d.as_str()).unwrap_or(NO_DEVICE);
        let entry = match self.devices.get_mut(device) {
            Some(d) => d,
            None => self.devices.entry(device.to_owned()).or_default(),
        };
        entry.tally.add(time, values[0]);
        self.fleet.add(time, values[0]);
        if let Some(t) = time {
            for (series, v) in entry.series.iter_mut().zip(values) {
                if let Some(v) = v {
                    add(series, index, v);
                }
            }
            // PM2_5 is the first charted measure.
            if let Some(v) = values[0] {
                self.profile.add(t.hour(), v);
            }
        }
    }

    /// Takes bucket `index` into the span; when the span needs a wider round width than the gathering width
    /// divides, gathers wider (merging what is gathered). Returns `index` at the width gathered at.
    fn widen(&mut self, index: i64) -> i64 {
        let (lo, hi) = self.span.map_or((index, index), |(lo, hi)| (lo.min(index), hi.max(index)));
        let w = self.gathered_ms;
        let drawn = axis::round_width(lo * w, hi * w + w - 1, MAX_POINTS, w);
        let wider = axis::gathering_width(drawn);
        let factor = wider / w;
        self.span = Some((lo.div_euclid(factor), hi.div_euclid(factor)));
        if factor > 1 {
            self.gathered_ms = wider;
            self.devices.values_mut().for_each(|d| d.coarsen(factor));
        }
        index.div_euclid(factor)
    }

    /// The width the page draws at: the narrowest round width keeping the readings' span in [`MAX_POINTS`].
    pub(crate) fn width_ms(&self) -> i64 {
        let w = self.gathered_ms;
        self.span.map_or(w, |(lo, hi)| axis::round_width(lo * w, hi * w + w - 1, MAX_POINTS, w))
    }

    /// The first and last bucket drawn, at [`Page::width_ms`].
    pub(crate) fn drawn_span(&self) -> Option<(i64, i64)> {
        let factor = self.width_ms() / self.gathered_ms;
        self.span.map(|(lo, hi)| (lo.div_euclid(factor), hi.div_euclid(factor)))
    }

    /// A gathered series in the buckets drawn.
    pub(crate) fn drawn(&self, series: &Series) -> Series {
        merged(series, self.width_ms() / self.gathered_ms)
    }
}

pub use chart::MEAN_STROKE;
pub use page::{Context, write};

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
