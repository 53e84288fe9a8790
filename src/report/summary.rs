//! `report --summary`: one row per device — readings, first and last TIME, mean and max of PM2_5 and PM10,
//! the largest `AQI` the device reported, the EPA category of its daily mean PM2.5 (the page's rule,
//! [`crate::aqi::DailyMean`]), and the copies of its readings dropped and conflicts kept (when counted).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Row;
use super::columns::Columns;
use crate::aqi::DailyMean;
use crate::copies::CopyCounts;

/// The device column for readings without `device_id` (the original fleet).
pub(crate) const NO_DEVICE: &str = "(no device_id)";

#[derive(Debug, Default)]
struct Stat {
    sum: f64,
    n: u64,
    max: Option<f64>,
}

impl Stat {
    fn add(&mut self, v: Option<f64>) {
        if let Some(v) = v {
            self.sum += v;
            self.n += 1;
            self.max = Some(self.max.map_or(v, |m| m.max(v)));
        }
    }

    fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| (self.sum / self.n as f64 * 100.0).round() / 100.0)
    }
}

#[derive(Debug, Default)]
struct DeviceSpan {
    readings: u64,
    first: Option<String>,
    last: Option<String>,
    pm25: Stat,
    pm10: Stat,
    aqi: Stat,
    /// PM2.5 by when it was measured, for the category.
    day: DailyMean,
    copies: CopyCounts,
}

#[derive(Debug, Default)]
pub struct DeviceSummary {
    devices: BTreeMap<String, DeviceSpan>,
    /// Whether copies were counted ([`DeviceSummary::add_copies`]): the rows then say how many.
    copies_counted: bool,
}

pub(crate) const COLUMNS: [&str; 12] = [
    "device_id",
    "readings",
    "first_TIME",
    "last_TIME",
    "PM2_5_mean",
    "PM2_5_max",
    "PM10_mean",
    "PM10_max",
    "AQI_max",
    "AQI_category",
    "copies_dropped",
    "conflicts",
];

impl DeviceSummary {
    pub fn add(&mut self, row: &Row) {
        let id = row.get("device_id").and_then(Value::as_str).unwrap_or(NO_DEVICE);
        let d = self.devices.entry(id.to_owned()).or_default();
        d.readings += 1;
        if let Some(t) = row.get("TIME").and_then(Value::as_str) {
            if d.first.as_deref().is_none_or(|f| t < f) {
                d.first = Some(t.to_owned());
            }
            if d.last.as_deref().is_none_or(|l| t > l) {
                d.last = Some(t.to_owned());
            }
        }
        let num = |k: &str| row.get(k).and_then(Value::as_f64);
        d.pm25.add(num("PM2_5"));
        if let (Some(t), Some(pm25)) = (super::reading_time(row), num("PM2_5")) {
            d.day.add(t, pm25);
        }
        d.pm10.add(num("PM10"));
        d.aqi.add(num("AQI"));
    }

    /// The copies dropped and conflicts kept, by device (the readings kept are added first): every row then has
    /// `copies_dropped` and `conflicts`.
    pub fn add_copies(&mut self, by_device: &BTreeMap<String, CopyCounts>) {
        self.copies_counted = true;
        for (id, counts) in by_device {
            self.devices.entry(id.clone()).or_default().copies = *counts;
        }
    }

    pub(crate) fn columns() -> Columns {
        Columns::with(&COLUMNS)
    }

    /// One row per device, by device id.
    pub(crate) fn rows(&self) -> impl Iterator<Item = Row> + '_ {
        self.devices.iter().map(|(id, d)| {
            let row = json!({
                "device_id": id, "readings": d.readings, "first_TIME": d.first, "last_TIME": d.last,
                "PM2_5_mean": d.pm25.mean(), "PM2_5_max": d.pm25.max, "PM10_mean": d.pm10.mean(), "PM10_max": d.pm10.max,
                "AQI_max": d.aqi.max.map(|a| a.round() as i64), "AQI_category": d.day.aqi().map(|a| a.category),
            });
            let mut row = match row {
                Value::Object(map) => map,
                _ => unreachable!("json! object"),
            };
            if self.copies_counted {
                row.insert("copies_dropped".into(), d.copies.dropped.into());
                row.insert("conflicts".into(), d.copies.conflicts.into());
            }
            row
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_device_aggregates() {
        let mut s = DeviceSummary::default();
        for r in [
            r#"{"device_id":"b","TIME":"2026-11-25T21:00:02","PM2_5":10.0,"PM10":20.0,"AQI":53}"#,
            r#"{"device_id":"b","TIME":"2026-11-25T21:00:01","PM2_5":20.0,"PM10":30.0,"AQI":71}"#,
            r#"{"TIME":"2026-11-25T21:00:00","PM2_5":5.0}"#,
        ] {
            s.add(&serde_json::from_str(r).unwrap());
        }
        let rows: Vec<Row> = s.rows().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["device_id"], NO_DEVICE);
        let b = &rows[1];
        assert_eq!(b["readings"], 2);
        assert_eq!(b["first_TIME"], "2026-11-25T21:00:01");
        assert_eq!(b["last_TIME"], "2026-11-25T21:00:02");
        assert_eq!(b["PM2_5_mean"], 15.0);
        assert_eq!(b["PM10_max"], 30.0);
        assert_eq!(b["AQI_max"], 71);
        assert_eq!(b["AQI_category"], "Moderate", "of the mean PM2.5, 15 µg/m³");
        assert!(!b.contains_key("copies_dropped"), "not counted, not said");
        s.add_copies(&BTreeMap::from([("b".to_owned(), CopyCounts { dropped: 3, conflicts: 1 })]));
        let rows: Vec<Row> = s.rows().collect();
        assert_eq!((&rows[0]["copies_dropped"], &rows[0]["conflicts"]), (&0.into(), &0.into()));
        assert_eq!((&rows[1]["copies_dropped"], &rows[1]["conflicts"]), (&3.into(), &1.into()));
    }

    /// The category is that of the daily mean PM2.5, as on the page, whatever `AQI` the device reported.
    #[test]
    fn the_category_is_the_pages_not_the_devices() {
        let mut s = DeviceSummary::default();
        let mut page = crate::report::html::Page::default();
        for r in [
            r#"{"device_id":"a","TIME":"2026-11-24T10:00:00Z","PM2_5":300.0,"AQI":400}"#,
            r#"{"device_id":"a","TIME":"2026-11-25T12:00:00Z","PM2_5":4.0,"AQI":160}"#,
            r#"{"device_id":"a","TIME":"2026-11-25T12:30:00Z","PM2_5":6.0,"AQI":17}"#,
            r#"{"device_id":"a","PM2_5":500.0}"#,
        ] {
            let row: Row = serde_json::from_str(r).unwrap();
            s.add(&row);
            page.add(&row);
        }
        let row = s.rows().next().unwrap();
        assert_eq!((&row["AQI_max"], &row["AQI_category"]), (&400.into(), &"Good".into()), "the mean of 4 and 6");
        assert_eq!(row["AQI_category"], page.devices["a"].tally.daily_aqi().unwrap().category);
    }
}
