//! The daily cycle of simulated air: what the air is like at a moment, for one device. Traffic has a morning and
//! an evening rush hour and a quiet night, in the local time of a [`Zone`]; the weather drifts over hours (the
//! same for the whole fleet, from the seed alone); each device has its own rush-hour times and strengths and a
//! drift of its own. A pure function of the seed, the device and the reading's time: the same `--seed` and
//! `--start` give the same air, and two runs either side of a gap agree on it. No allocation; a device asks it
//! once a minute of its readings' time.

use std::f64::consts::TAU;
use std::fmt;
use std::str::FromStr;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: i64 = 86_400_000;

/// The zone whose local time the daily cycle follows: a fixed offset from UTC (`UTC`, `Z`, `+01:00`,
/// `-05:30`, `+0530`, `+01`). Named zones (`Europe/Paris`) would need a time-zone database the build does not
/// carry; an offset is what a day of readings needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Zone {
    /// Minutes east of UTC.
    offset_minutes: i16,
}

impl Zone {
    pub const UTC: Zone = Zone { offset_minutes: 0 };

    /// The zone `minutes` east of UTC, if within ±18 hours.
    pub fn east(minutes: i32) -> Option<Zone> {
        (minutes.abs() <= 18 * 60).then_some(Zone { offset_minutes: minutes as i16 })
    }

    pub fn offset_minutes(self) -> i32 {
        i32::from(self.offset_minutes)
    }
}

impl FromStr for Zone {
    type Err = String;

    fn from_str(text: &str) -> Result<Zone, String> {
        let bad = || format!("{text:?} is not a zone: give UTC or an offset from UTC such as +01:00 or -05:30");
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") {
            return Ok(Zone::UTC);
        }
        let t = t.strip_prefix("UTC").or_else(|| t.strip_prefix("utc")).unwrap_or(t);
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let (hours, minutes) = match rest.split_once(':') {
            Some((h, m)) => (h, m),
            None if rest.len() == 4 => rest.split_at(2),
            None => (rest, "0"),
        };
        let number = |s: &str| -> Result<i32, String> {
            let digits = !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
            if digits { s.parse().map_err(|_| bad()) } else { Err(bad()) }
        };
        let (hours, minutes) = (number(hours)?, number(minutes)?);
        if minutes >= 60 {
            return Err(bad());
        }
        Zone::east(sign * (hours * 60 + minutes)).ok_or_else(|| format!("{text:?}: an offset is at most ±18:00"))
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.offset_minutes();
        if m == 0 {
            return f.write_str("UTC");
        }
        let sign = if m < 0 { '-' } else { '+' };
        write!(f, "{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60)
    }
}

/// A slow sine: the weather's drift over hours.
#[derive(Debug, Clone, Copy)]
struct Wave {
    period_hours: f64,
    phase: f64,
    weight: f64,
}

impl Wave {
    fn new(rng: &mut SmallRng, period_hours: (f64, f64), weight: f64) -> Wave {
        Wave {
            period_hours: rng.random_range(period_hours.0..period_hours.1),
            phase: rng.random_range(0.0..TAU),
            weight,
        }
    }

    fn at(&self, hours: f64) -> f64 {
        self.weight * (TAU * hours / self.period_hours + self.phase).sin()
    }
}

/// The air at one moment, for one device: factors the device's measures follow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Air {
    /// Road traffic: about 0.25 at night, 1 over the day, up to about 2 at a rush hour's peak.
    pub(crate) traffic: f64,
    /// What multiplies the device's PM2.5 baseline: traffic, the time of day and the weather (about 0.3 to 3).
    pub(crate) particles: f64,
    /// The fleet's weather, -1 to 1: high (still, anticyclonic air holding particles in) or low.
    pub(crate) weather: f64,
    /// The daily warmth, -1 (about 03:00 local) to 1 (about 15:00).
    pub(crate) warmth: f64,
}

/// One device's daily cycle.
#[derive(Debug, Clone)]
pub(crate) struct Cycle {
    offset_ms: i64,
    /// Local hours of the rush-hour peaks, and how strong each is on this device's street.
    morning: f64,
    evening: f64,
    morning_gain: f64,
    evening_gain: f64,
    /// The fleet's weather (from the seed alone) and this device's own slower drift.
    weather: [Wave; 3],
    own: Wave,
}

/// How near `hour` is to `peak` on the 24-hour circle, as a bell of `width` hours: 1 at the peak.
fn bell(hour: f64, peak: f64, width: f64) -> f64 {
    let d = (hour - peak).rem_euclid(24.0);
    let d = d.min(24.0 - d) / width;
    (-0.5 * d * d).exp()
}

impl Cycle {
    /// Device `index`'s cycle under `seed`, in `zone`'s local time.
    pub(crate) fn new(seed: u64, index: usize, zone: Zone) -> Cycle {
        let mut fleet = SmallRng::seed_from_u64(seed ^ 0x5EA5_0DA1_1A1E_C7C1);
        let weather = [
            Wave::new(&mut fleet, (9.0, 16.0), 0.25),
            Wave::new(&mut fleet, (28.0, 44.0), 0.4),
            Wave::new(&mut fleet, (70.0, 120.0), 0.35),
        ];
        let mut own =
            SmallRng::seed_from_u64(seed.rotate_left(29) ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        Cycle {
            offset_ms: i64::from(zone.offset_minutes()) * 60_000,
            morning: own.random_range(7.3..8.7),
            evening: own.random_range(17.3..19.2),
            morning_gain: own.random_range(0.6..1.3),
            evening_gain: own.random_range(0.5..1.1),
            weather,
            own: Wave::new(&mut own, (5.0, 30.0), 1.0),
        }
    }

    /// The air at `ms` (milliseconds since the epoch, UTC).
    pub(crate) fn at(&self, ms: i64) -> Air {
        let local = (ms + self.offset_ms).rem_euclid(DAY_MS) as f64 / HOUR_MS;
        let hours = ms as f64 / HOUR_MS;
        let rush =
            self.morning_gain * bell(local, self.morning, 1.1) + self.evening_gain * bell(local, self.evening, 1.7);
        let day = bell(local, 13.5, 4.0);
        let traffic = 0.25 + 0.75 * day + rush;
        let weather = self.weather.iter().map(|w| w.at(hours)).sum::<f64>().clamp(-1.0, 1.0);
        // Particles settle overnight and build with traffic; still weather holds them in.
        let particles = (0.45 + 0.3 * day + 0.5 * rush) * (0.5 * weather + 0.12 * self.own.at(hours)).exp();
        Air { traffic, particles, weather, warmth: (TAU * (local - 15.0) / 24.0).cos() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(cycle: &Cycle, utc: &str) -> Air {
        cycle.at(reaqtions_lambda::time::parse_utc_ms(utc.as_bytes()).unwrap())
    }

    #[test]
    fn zones_parse_and_print() {
        let zone = |s: &str| s.parse::<Zone>();
        assert_eq!(zone("UTC"), Ok(Zone::UTC));
        assert_eq!(zone("z"), Ok(Zone::UTC));
        assert_eq!(zone("+01:00").unwrap().offset_minutes(), 60);
        assert_eq!(zone("-05:30").unwrap().offset_minutes(), -330);
        assert_eq!(zone("+0530").unwrap().offset_minutes(), 330);
        assert_eq!(zone("UTC+9").unwrap().offset_minutes(), 540);
        assert_eq!(zone("-05:30").unwrap().to_string(), "-05:30");
        assert_eq!(Zone::UTC.to_string(), "UTC");
        for bad in ["Europe/Paris", "+1:75", "01:00", "", "+123"] {
            let err = zone(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert!(zone("+19:00").unwrap_err().contains("at most ±18:00"));
    }

    /// Rush hours stand over the night, midday sits between, in local time; the fleet's weather is one.
    #[test]
    fn rush_hours_over_a_quiet_night_in_local_time() {
        let utc = Cycle::new(3, 0, Zone::UTC);
        let traffic = |c: &Cycle, t: &str| at(c, t).traffic;
        let day = "2026-12-06T";
        let night = traffic(&utc, &format!("{day}03:00:00Z"));
        let morning = traffic(&utc, &format!("{day}{:02}:00:00Z", utc.morning.round() as u32));
        let evening = traffic(&utc, &format!("{day}{:02}:00:00Z", utc.evening.round() as u32));
        let midday = traffic(&utc, &format!("{day}12:30:00Z"));
        assert!(night < 0.4, "{night}");
        assert!(morning > midday + 0.3 && evening > midday + 0.2, "{morning} {evening} {midday}");
        assert!(midday > night + 0.4, "{midday} {night}");
        // The same device an hour east: its 08:00 is 07:00 UTC.
        let east = Cycle::new(3, 0, "+01:00".parse().unwrap());
        assert_eq!(traffic(&east, "2026-12-06T07:00:00Z"), traffic(&utc, "2026-12-06T08:00:00Z"));
        assert!((at(&east, "2026-12-06T14:00:00Z").warmth - 1.0).abs() < 1e-9, "warmest at 15:00 local");
        // Weather is the fleet's: another device, the same weather; another seed, other weather.
        let other = Cycle::new(3, 7, Zone::UTC);
        assert_eq!(at(&other, "2026-12-06T10:00:00Z").weather, at(&utc, "2026-12-06T10:00:00Z").weather);
        assert_ne!(
            at(&Cycle::new(4, 0, Zone::UTC), "2026-12-06T10:00:00Z").weather,
            at(&utc, "2026-12-06T10:00:00Z").weather
        );
    }

    /// The weather drifts over hours, not minutes, and stays in its range.
    #[test]
    fn weather_drifts_slowly() {
        let cycle = Cycle::new(9, 2, Zone::UTC);
        let start = reaqtions_lambda::time::parse_utc_ms(b"2026-12-01T00:00:00Z").unwrap();
        let weather: Vec<f64> = (0..7 * 24 * 60).map(|m| cycle.at(start + m * 60_000).weather).collect();
        assert!(weather.iter().all(|w| (-1.0..=1.0).contains(w)));
        let steepest = weather.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f64::max);
        assert!(steepest < 0.01, "at most 1 % of its range a minute: {steepest}");
        let (lo, hi) = weather.iter().fold((1.0f64, -1.0f64), |(lo, hi), w| (lo.min(*w), hi.max(*w)));
        assert!(hi - lo > 0.5, "a week has weather: {lo}..{hi}");
    }
}
