//! US EPA Air Quality Index from PM2.5, with the breakpoints of the 2024 revision of the PM2.5 NAAQS
//! (40 CFR Part 58 Appendix G, table 2 as amended 2024-02-07, in force 2024-05-06): "Good" now ends at
//! 9.0 µg/m³ (was 12.0). Also the one rule by which a device's readings get a category ([`DailyMean`]), so the
//! page, `report --summary` and its SQL on Athena agree.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// `(C_low, C_high, I_low, I_high, category)`, concentrations in µg/m³ truncated to 0.1.
const PM25_BREAKPOINTS: [(f64, f64, u32, u32, &str); 6] = [
    (0.0, 9.0, 0, 50, "Good"),
    (9.1, 35.4, 51, 100, "Moderate"),
    (35.5, 55.4, 101, 150, "Unhealthy for Sensitive Groups"),
    (55.5, 125.4, 151, 200, "Unhealthy"),
    (125.5, 225.4, 201, 300, "Very Unhealthy"),
    (225.5, 325.4, 301, 500, "Hazardous"),
];

/// The AQI for a 24-hour PM2.5 concentration (µg/m³); above the table the index is capped at 500.
pub(crate) fn pm25_aqi(concentration: f64) -> u32 {
    let c = (concentration.max(0.0) * 10.0).floor() / 10.0;
    for &(c_lo, c_hi, i_lo, i_hi, _) in &PM25_BREAKPOINTS {
        if c <= c_hi {
            let c = c.max(c_lo);
            return (f64::from(i_hi - i_lo) / (c_hi - c_lo) * (c - c_lo) + f64::from(i_lo)).round() as u32;
        }
    }
    500
}

/// EPA's colors for the six categories, in order (Good … Hazardous), as RGB.
pub(crate) const COLORS: [(u8, u8, u8); 6] =
    [(0, 228, 0), (255, 255, 0), (255, 126, 0), (255, 0, 0), (143, 63, 151), (126, 0, 35)];

/// The PM2.5 concentration bands of the six categories, end to end: `(from, to, category, color)` in µg/m³ (the
/// last to infinity), for drawing behind a PM2.5 series.
pub(crate) fn pm25_bands() -> impl Iterator<Item = (f64, f64, &'static str, (u8, u8, u8))> {
    PM25_BREAKPOINTS.iter().enumerate().map(|(i, b)| {
        let to = PM25_BREAKPOINTS.get(i + 1).map_or(f64::INFINITY, |next| next.0);
        (if i == 0 { 0.0 } else { b.0 }, to, b.4, COLORS[i])
    })
}

/// EPA's color for an AQI value's category.
pub(crate) fn color(aqi: f64) -> (u8, u8, u8) {
    let aqi = aqi.round().max(0.0) as u32;
    COLORS[PM25_BREAKPOINTS.iter().position(|b| aqi <= b.3).unwrap_or(COLORS.len() - 1)]
}

/// The EPA category name of an AQI value.
pub(crate) fn category(aqi: f64) -> &'static str {
    let aqi = aqi.round().max(0.0) as u32;
    PM25_BREAKPOINTS.iter().find(|b| aqi <= b.3).map_or("Hazardous", |b| b.4)
}

/// How many minutes a daily mean covers: EPA's daily index is a 24-hour mean.
pub(crate) const DAY_MINUTES: i64 = 24 * 60;

/// A device's (or the fleet's) category, by one rule everywhere it is shown: the mean of the PM2.5 readings
/// measured in the 1,440 whole minutes ending with the minute of the last PM2.5 reading, and the EPA index and
/// category of that mean. With less than a day of readings it is the mean of what there is (and says over how
/// long), never one reading's category and never the device's own `AQI` field, which devices compute by rules of
/// their own. Readings may come in any order: per-minute sums are kept, and minutes that fall out of the day as
/// later readings come are dropped, so memory is at most 1,440 entries. `src/report/sql.rs` states the same rule in
/// SQL for Athena.
#[derive(Debug, Default, Clone)]
pub(crate) struct DailyMean {
    minutes: BTreeMap<i64, (f64, u64)>,
}

impl DailyMean {
    /// One PM2.5 reading (µg/m³) measured at `t`.
    pub(crate) fn add(&mut self, t: DateTime<Utc>, pm25: f64) {
        let minute = t.timestamp().div_euclid(60);
        let e = self.minutes.entry(minute).or_insert((0.0, 0));
        e.0 += pm25;
        e.1 += 1;
        let newest = *self.minutes.last_key_value().expect("just added").0;
        while self.minutes.first_key_value().is_some_and(|(&m, _)| m <= newest - DAY_MINUTES) {
            self.minutes.pop_first();
        }
    }

    /// The mean, its index and category, and the hours from the oldest reading kept to the newest; `None`
    /// without a PM2.5 reading.
    pub(crate) fn aqi(&self) -> Option<DailyAqi> {
        let (sum, n) = self.minutes.values().fold((0.0, 0), |(s, n), (vs, vn)| (s + vs, n + vn));
        let (first, last) = (self.minutes.first_key_value()?.0, self.minutes.last_key_value()?.0);
        (n > 0).then(|| DailyAqi::of(sum / n as f64, (last - first + 1) as f64 / 60.0))
    }
}

/// A daily mean PM2.5 with its EPA index and category ([`DailyMean`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DailyAqi {
    pub(crate) mean: f64,
    pub(crate) index: u32,
    pub(crate) category: &'static str,
    /// Hours of the last 24 with readings in them.
    pub(crate) hours: f64,
}

impl DailyAqi {
    /// The index and category of a mean PM2.5 over `hours`.
    pub(crate) fn of(mean: f64, hours: f64) -> DailyAqi {
        DailyAqi { mean, index: pm25_aqi(mean), category: pm25_category(mean), hours }
    }
}

/// The EPA category of a mean PM2.5 (µg/m³).
pub(crate) fn pm25_category(mean: f64) -> &'static str {
    category(f64::from(pm25_aqi(mean)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakpoint_edges() {
        assert_eq!(pm25_aqi(0.0), 0);
        assert_eq!(pm25_aqi(9.0), 50);
        assert_eq!(pm25_aqi(9.1), 51);
        assert_eq!(pm25_aqi(9.09), 50, "truncated to 9.0, not rounded");
        assert_eq!(pm25_aqi(35.4), 100);
        assert_eq!(pm25_aqi(35.5), 101);
        assert_eq!(pm25_aqi(55.4), 150);
        assert_eq!(pm25_aqi(55.5), 151);
        assert_eq!(pm25_aqi(125.4), 200);
        assert_eq!(pm25_aqi(125.5), 201);
        assert_eq!(pm25_aqi(225.4), 300);
        assert_eq!(pm25_aqi(225.5), 301);
        assert_eq!(pm25_aqi(325.4), 500);
        assert_eq!(pm25_aqi(900.0), 500);
        assert_eq!(pm25_aqi(-3.0), 0);
        assert_eq!(pm25_aqi(20.0), 71);
    }

    #[test]
    fn categories() {
        assert_eq!(category(50.0), "Good");
        assert_eq!(category(51.0), "Moderate");
        assert_eq!(category(150.0), "Unhealthy for Sensitive Groups");
        assert_eq!(category(301.0), "Hazardous");
        assert_eq!(category(500.0), "Hazardous");
        assert_eq!(color(50.0), (0, 228, 0));
        assert_eq!(color(101.0), (255, 126, 0));
        assert_eq!(color(900.0), (126, 0, 35));
    }

    #[test]
    fn the_daily_mean_covers_the_day_ending_at_the_last_reading_in_any_order() {
        let at = |m: i64| DateTime::from_timestamp(1_764_000_000 + m * 60, 0).unwrap();
        let mut day = DailyMean::default();
        assert_eq!(day.aqi(), None);
        // A day and a half of readings, the newest first: the oldest half day is outside the day.
        for m in (0..2160).rev() {
            day.add(at(m), if m < 720 { 200.0 } else { 20.0 });
        }
        let a = day.aqi().unwrap();
        assert_eq!((a.mean, a.index, a.category, a.hours), (20.0, 71, "Moderate", 24.0));
        // Less than a day: the mean of what there is, over the hours it covers.
        let mut short = DailyMean::default();
        short.add(at(0), 30.0);
        short.add(at(89), 50.0);
        let a = short.aqi().unwrap();
        assert_eq!((a.mean, a.category, a.hours), (40.0, "Unhealthy for Sensitive Groups", 1.5));
    }
}
