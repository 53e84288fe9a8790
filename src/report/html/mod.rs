//! `report --format html`: one self-contained page of what the fleet measured. Rows stream in and are bucketed
//! by their own `TIME` (min, mean and max per bucket; the bucket doubles in width whenever the readings span
//! more than [`MAX_BUCKETS`]), so memory and the page's size depend on devices × measures, not on readings.
//! `chart` draws the SVG, `page` writes the HTML.

mod chart;
mod page;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::Row;
use super::summary::NO_DEVICE;
use crate::aqi;

/// Buckets per series at most: the points of one chart.
pub(crate) const MAX_BUCKETS: i64 = 120;
/// The narrowest bucket: one second.
const FIRST_WIDTH_MS: i64 = 1000;
/// The measures charted, in the original order (`USER_INPUT` is a button count, not a measure).
pub(crate) const CHARTED: [&str; 11] = ["PM2_5", "PM01", "PM10", "NO2", "CO", "AQI", "eCO2", "TVOC", "P", "T", "RH"];
const DAY_MINUTES: i64 = 24 * 60;

/// A reading's own time: `TIME` with its zone, or read as UTC without one (the original fleet's).
pub(crate) fn reading_time(row: &Row) -> Option<DateTime<Utc>> {
    let text = row.get("TIME")?.as_str()?;
    DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).ok().or_else(|| {
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .map(|t| t.and_utc())
    })
}

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

/// One measure's buckets, by bucket index (time ÷ the page's width).
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

/// The last 24 hours of PM2.5 by minute (older minutes dropped as later readings come), for the 24-hour mean.
#[derive(Debug, Default)]
struct Day {
    minutes: BTreeMap<i64, (f64, u64)>,
}

impl Day {
    fn add(&mut self, t: DateTime<Utc>, v: f64) {
        let minute = t.timestamp().div_euclid(60);
        let e = self.minutes.entry(minute).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
        let newest = *self.minutes.last_key_value().expect("just added").0;
        while self.minutes.first_key_value().is_some_and(|(&m, _)| m <= newest - DAY_MINUTES) {
            self.minutes.pop_first();
        }
    }

    /// The mean over the 24 hours ending with the newest minute, and the minutes from the oldest reading in
    /// them to the newest.
    fn mean(&self) -> Option<(f64, i64)> {
        let (sum, n) = self.minutes.values().fold((0.0, 0), |(s, n), (vs, vn)| (s + vs, n + vn));
        let (first, last) = (self.minutes.first_key_value()?.0, self.minutes.last_key_value()?.0);
        (n > 0).then(|| (sum / n as f64, last - first + 1))
    }
}

/// What the page shows of one device (or of the fleet).
#[derive(Debug, Default)]
pub(crate) struct DeviceCharts {
    pub(crate) readings: u64,
    /// Readings whose `TIME` is missing or not a time: counted, not charted.
    pub(crate) untimed: u64,
    pub(crate) first: Option<DateTime<Utc>>,
    pub(crate) last: Option<DateTime<Utc>>,
    pub(crate) pm25: Option<Agg>,
    /// One series per measure of [`CHARTED`], in its order.
    series: [Series; CHARTED.len()],
    day: Day,
}

/// A row's values of the [`CHARTED`] measures (numbers only), read once for its device and the fleet.
type Values = [Option<f64>; CHARTED.len()];

impl DeviceCharts {
    /// The measure's series, when it has readings.
    pub(crate) fn series(&self, measure: &str) -> Option<&Series> {
        let i = CHARTED.iter().position(|m| *m == measure)?;
        Some(&self.series[i]).filter(|s| !s.is_empty())
    }

    fn add(&mut self, values: &Values, time: Option<DateTime<Utc>>, index: i64) {
        self.readings += 1;
        let Some(t) = time else {
            self.untimed += 1;
            return;
        };
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
        for (series, v) in self.series.iter_mut().zip(values) {
            if let Some(v) = *v {
                add(series, index, v);
            }
        }
        // PM2_5 is the first charted measure.
        if let Some(v) = values[0] {
            self.pm25.get_or_insert(Agg::of(v)).merge(&Agg::of(v));
            self.day.add(t, v);
        }
    }

    fn halve(&mut self) {
        for series in &mut self.series {
            let mut merged = Series::new();
            for (i, a) in std::mem::take(series) {
                merged.entry(i.div_euclid(2)).and_modify(|m| m.merge(&a)).or_insert(a);
            }
            *series = merged;
        }
    }

    /// The AQI of the 24-hour mean PM2.5 ending at the last reading (EPA's daily index is a 24-hour mean; with
    /// less than a day of readings, the mean of what there is), with the hours it covers.
    pub(crate) fn daily_aqi(&self) -> Option<DailyAqi> {
        let (mean, minutes) = self.day.mean()?;
        let index = aqi::pm25_aqi(mean);
        Some(DailyAqi { mean, index, category: aqi::category(f64::from(index)), hours: minutes as f64 / 60.0 })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DailyAqi {
    pub(crate) mean: f64,
    pub(crate) index: u32,
    pub(crate) category: &'static str,
    /// Hours of the last 24 with readings in them.
    pub(crate) hours: f64,
}

/// The page being gathered.
#[derive(Debug)]
pub struct Page {
    pub(crate) width_ms: i64,
    /// The first and last bucket holding readings.
    pub(crate) span: Option<(i64, i64)>,
    pub(crate) devices: BTreeMap<String, DeviceCharts>,
    pub(crate) fleet: DeviceCharts,
}

impl Default for Page {
    fn default() -> Self {
        Page { width_ms: FIRST_WIDTH_MS, span: None, devices: BTreeMap::new(), fleet: DeviceCharts::default() }
    }
}

impl Page {
    pub fn add(&mut self, row: &Row) {
        let time = reading_time(row);
        let mut index = 0;
        if let Some(t) = time {
            index = t.timestamp_millis().div_euclid(self.width_ms);
            let (lo, hi) = self.span.map_or((index, index), |(lo, hi)| (lo.min(index), hi.max(index)));
            self.span = Some((lo, hi));
            while let Some((lo, hi)) = self.span
                && hi - lo >= MAX_BUCKETS
            {
                self.width_ms *= 2;
                self.span = Some((lo.div_euclid(2), hi.div_euclid(2)));
                index = index.div_euclid(2);
                self.fleet.halve();
                self.devices.values_mut().for_each(DeviceCharts::halve);
            }
        }
        let values: Values = CHARTED.map(|m| row.get(m).and_then(serde_json::Value::as_f64).filter(|v| v.is_finite()));
        let device = row.get("device_id").and_then(|d| d.as_str()).unwrap_or(NO_DEVICE);
        let entry = match self.devices.get_mut(device) {
            Some(d) => d,
            None => self.devices.entry(device.to_owned()).or_default(),
        };
        entry.add(&values, time, index);
        self.fleet.add(&values, time, index);
    }

    /// The start of a bucket.
    pub(crate) fn bucket_start(&self, index: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(index * self.width_ms).unwrap_or_default()
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
