//! Simulated air-quality devices: each measure follows the device's daily [`Cycle`] (rush hours, a quiet night,
//! the fleet's weather) around a per-device baseline, with a little mean-reverting noise of its own; PM1, PM2.5
//! and PM10 move together (PM1 <= PM2.5 <= PM10) and `AQI` is PM2.5's by the EPA table. The original payload's
//! fields and units, plus `device_id`, `seq` and the run id.

use std::io::Write as _;

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

use super::cycle::{Air, Cycle, Zone};
use crate::aqi::pm25_aqi;

/// The field carrying the simulation run's id, so `--verify` tells this run's readings from earlier ones.
pub(crate) const RUN_FIELD: &str = "sim_run";

/// `TIME` as new devices send it: RFC 3339, UTC, microseconds.
pub fn format_time(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A measure's own noise: a walk pulled back towards 0 (by 5 % a reading), jittered by up to `step`, within
/// ±`limit` (under 1 where it scales a measure, so the measure stays positive).
#[derive(Debug, Clone, Copy)]
struct Noise {
    value: f64,
    step: f64,
    limit: f64,
}

impl Noise {
    fn new(step: f64, limit: f64) -> Noise {
        Noise { value: 0.0, step, limit }
    }

    fn next(&mut self, rng: &mut SmallRng) -> f64 {
        let jitter = rng.random_range(-1.0..1.0) * self.step;
        self.value = (0.95 * self.value + jitter).clamp(-self.limit, self.limit);
        self.value
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// A device's baselines: what it measures on an average day in average weather.
#[derive(Debug, Clone, Copy)]
struct Baseline {
    pm25: f64,
    pm01_ratio: f64,
    pm10_ratio: f64,
    no2: f64,
    co: f64,
    tvoc: f64,
    eco2: f64,
    pressure: f64,
    temperature: f64,
    humidity: f64,
}

/// Each measure's noise.
#[derive(Debug, Clone, Copy)]
struct Noises {
    pm: Noise,
    coarse: Noise,
    no2: Noise,
    co: Noise,
    tvoc: Noise,
    eco2: Noise,
    pressure: Noise,
    temperature: Noise,
    humidity: Noise,
}

/// One simulated device.
#[derive(Debug, Clone)]
pub struct SimulatedDevice {
    pub(crate) id: String,
    seq: u64,
    rng: SmallRng,
    user_input: u8,
    cycle: Cycle,
    base: Baseline,
    noise: Noises,
    /// The air of the minute of the last reading (minutes since the epoch, and the air at its start): the cycle
    /// moves by the minute, so readings within one are measured in the same air and cost it once. A `TIME` that
    /// cannot be read keeps the last reading's air.
    air: (i64, Air),
}

impl SimulatedDevice {
    /// SimulatedDevice number `index` (0-based → `aq-0001`), its day in UTC; the same `seed` gives the same values.
    pub fn new(index: usize, seed: u64) -> SimulatedDevice {
        SimulatedDevice::in_zone(index, seed, Zone::UTC)
    }

    /// SimulatedDevice number `index`, its rush hours in `zone`'s local time.
    pub fn in_zone(index: usize, seed: u64, zone: Zone) -> SimulatedDevice {
        let mut rng = SmallRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let cycle = Cycle::new(seed, index, zone);
        let base = Baseline {
            pm25: rng.random_range(4.0..22.0),
            pm01_ratio: rng.random_range(0.55..0.8),
            pm10_ratio: rng.random_range(1.3..1.7),
            no2: rng.random_range(8.0..35.0),
            co: rng.random_range(0.2..0.9),
            tvoc: rng.random_range(50.0..400.0),
            eco2: rng.random_range(420.0..700.0),
            pressure: rng.random_range(1000.0..1025.0),
            temperature: rng.random_range(6.0..16.0),
            humidity: rng.random_range(55.0..80.0),
        };
        let noise = Noises {
            pm: Noise::new(0.04, 0.6),
            coarse: Noise::new(0.03, 0.4),
            no2: Noise::new(0.05, 0.8),
            co: Noise::new(0.03, 0.5),
            tvoc: Noise::new(0.04, 0.8),
            eco2: Noise::new(0.02, 0.5),
            pressure: Noise::new(0.1, 2.0),
            temperature: Noise::new(0.05, 1.5),
            humidity: Noise::new(0.3, 8.0),
        };
        SimulatedDevice {
            id: crate::device::id(index),
            seq: 0,
            user_input: rng.random_range(1..=5),
            rng,
            air: (0, cycle.at(0)),
            cycle,
            base,
            noise,
        }
    }

    /// The sequence number the next reading (or skip) takes.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq + 1
    }

    /// Takes the next sequence number without producing a reading (for a malformed payload in its place).
    pub(crate) fn skip(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Appends the next reading as one JSON object and a newline; returns its `seq`. `time` is the reading's
    /// `TIME` (see [`format_time`]), formatted once for all readings made at the same moment; the air it
    /// measures is the cycle's at that time.
    pub fn next_reading(&mut self, time: &str, run: &str, out: &mut Vec<u8>) -> u64 {
        self.seq += 1;
        if let Some(minute) = reaqtions_lambda::time::parse_utc_ms(time.as_bytes()).map(|ms| ms.div_euclid(60_000))
            && minute != self.air.0
        {
            self.air = (minute, self.cycle.at(minute * 60_000));
        }
        let air = self.air.1;
        let (base, noise, rng) = (&self.base, &mut self.noise, &mut self.rng);
        if rng.random_bool(0.01) {
            self.user_input = rng.random_range(1..=5);
        }
        let pm25 = round((base.pm25 * air.particles * (1.0 + noise.pm.next(rng))).min(500.0), 1);
        let pm01 = round(pm25 * base.pm01_ratio, 1).min(pm25);
        // Coarse particles (road dust) rise with traffic more than fine ones do.
        let coarse = base.pm10_ratio * (1.0 + 0.12 * air.traffic) * (1.0 + noise.coarse.next(rng));
        let pm10 = round(pm25 * coarse, 1).max(pm25);
        let traffic = |share: f64| (1.0 - share) + share * air.traffic;
        let no2 = base.no2 * traffic(0.7) * (1.0 + 0.3 * air.weather) * (1.0 + noise.no2.next(rng));
        let co = base.co * traffic(0.5) * (1.0 + 0.2 * air.weather) * (1.0 + noise.co.next(rng));
        let eco2 = 400.0 + (base.eco2 - 400.0) * (1.0 + 0.2 * air.traffic) * (1.0 + noise.eco2.next(rng));
        let tvoc = base.tvoc * (1.0 + 0.15 * air.traffic) * (1.0 + noise.tvoc.next(rng));
        let pressure = base.pressure + 9.0 * air.weather + noise.pressure.next(rng);
        let temperature = base.temperature + 3.5 * air.warmth - 1.5 * air.weather + noise.temperature.next(rng);
        let humidity = base.humidity - 12.0 * air.warmth + 6.0 * air.weather + noise.humidity.next(rng);
        let _ = writeln!(
            out,
            "{{\"device_id\":\"{}\",\"seq\":{},\"{RUN_FIELD}\":\"{run}\",\"TIME\":\"{}\",\"USER_INPUT\":{},\
             \"NO2\":{},\"CO\":{},\"PM01\":{pm01},\"PM2_5\":{pm25},\"PM10\":{pm10},\"AQI\":{},\"eCO2\":{},\
             \"TVOC\":{},\"P\":{},\"T\":{},\"RH\":{}}}",
            self.id,
            self.seq,
            time,
            self.user_input,
            round(no2.min(2000.0), 1),
            round(co.min(50.0), 2),
            pm25_aqi(pm25),
            eco2.clamp(400.0, 60_000.0).round(),
            tvoc.min(60_000.0).round(),
            round(pressure.clamp(870.0, 1085.0), 2),
            round(temperature.clamp(-40.0, 85.0), 2),
            round(humidity.clamp(0.0, 100.0), 1),
        );
        self.seq
    }
}

/// The size of a simulated reading: what `cost` and `simulate`'s plan assume. The mean over one day, a reading
/// every quarter hour, since values (and so their digits) follow the daily cycle: the same figure whenever it runs.
pub(crate) fn typical_reading_bytes() -> u64 {
    const READINGS: u32 = 96;
    let mut device = SimulatedDevice::new(0, 1);
    let day = chrono::DateTime::from_timestamp(1_764_115_200, 0).expect("2025-11-26T00:00:00Z");
    let mut out = Vec::new();
    for i in 0..READINGS {
        let time = format_time(day + chrono::Duration::minutes(15 * i64::from(i)));
        device.next_reading(&time, "0123abcd", &mut out);
    }
    (out.len() as u64).div_ceil(u64::from(READINGS))
}

/// Readings in [`sample_ratio`]'s sample.
pub(crate) const SAMPLE_READINGS: usize = 2000;

/// How many times smaller gzip makes the lake: measured on a deterministic sample of 2,000 simulated readings
/// (20 devices, through the transform as the lake holds them), compressed as the lake is written.
pub fn sample_ratio(compression: crate::compression::Compression) -> f64 {
    if compression == crate::compression::Compression::None {
        return 1.0;
    }
    let mut devices: Vec<SimulatedDevice> = (0..20).map(|i| SimulatedDevice::new(i, 7)).collect();
    let (mut reading, mut plain) = (Vec::new(), Vec::new());
    for i in 0..SAMPLE_READINGS {
        reading.clear();
        devices[i % 20].next_reading("2026-11-26T07:00:00.000000", "5a3c1e00", &mut reading);
        // What the lake holds: the transform's output, arrival field included (a refused reading adds nothing).
        let _ = reaqtions_lambda::transform_record(
            &reading,
            1_795_000_000_000,
            reaqtions_lambda::Partitioning::Arrival,
            &mut plain,
        );
    }
    let compressed = compression.encode(&plain).map_or(plain.len(), |c| c.len());
    plain.len() as f64 / compressed.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn readings(seed: u64, n: usize) -> Vec<Value> {
        let mut device = SimulatedDevice::new(6, seed);
        let now = format_time(Utc::now());
        (0..n)
            .map(|_| {
                let mut out = Vec::new();
                device.next_reading(&now, "run1", &mut out);
                assert_eq!(out.last(), Some(&b'\n'));
                serde_json::from_slice(&out).unwrap()
            })
            .collect()
    }

    #[test]
    fn readings_are_valid_bounded_and_ordered() {
        for (i, r) in readings(7, 2000).iter().enumerate() {
            assert_eq!(r["device_id"], "aq-0007");
            assert_eq!(r["seq"], i as u64 + 1);
            let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} is a number"));
            assert!(f("PM01") <= f("PM2_5") && f("PM2_5") <= f("PM10"), "{r}");
            assert!(f("eCO2") >= 400.0);
            assert!((0.0..=100.0).contains(&f("RH")));
            assert!((1.0..=5.0).contains(&f("USER_INPUT")));
            assert_eq!(f("AQI") as u32, pm25_aqi(f("PM2_5")));
            let mut out = Vec::new();
            assert!(
                reaqtions_lambda::transform_record(
                    r.to_string().as_bytes(),
                    0,
                    reaqtions_lambda::Partitioning::Arrival,
                    &mut out
                )
                .is_ok()
            );
        }
    }

    #[test]
    fn the_seed_makes_values_reproducible() {
        let strip = |v: Vec<Value>| {
            v.into_iter()
                .map(|mut r| {
                    r.as_object_mut().unwrap().remove("TIME");
                    r
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(readings(42, 50)), strip(readings(42, 50)));
        assert_ne!(strip(readings(42, 50)), strip(readings(43, 50)));
    }

    /// A day at one reading a minute from a dozen devices: rush hours stand over the night in PM2.5 and NO2, the
    /// afternoon is warmer than the night, and every reading keeps PM1 <= PM2.5 <= PM10 and its AQI.
    #[test]
    fn a_day_has_rush_hours_over_a_quiet_night() {
        let start = reaqtions_lambda::time::parse_utc_ms(b"2026-12-06T00:00:00Z").unwrap();
        let mut devices: Vec<SimulatedDevice> = (0..12).map(|i| SimulatedDevice::new(i, 3)).collect();
        // Per hour of the day: sums of PM2.5, NO2, T and the count.
        let mut hours = [[0.0f64; 4]; 24];
        let mut out = Vec::new();
        for minute in 0..24 * 60 {
            let time = format_time(DateTime::from_timestamp_millis(start + minute * 60_000).unwrap());
            for device in &mut devices {
                out.clear();
                device.next_reading(&time, "run1", &mut out);
                let r: Value = serde_json::from_slice(&out).unwrap();
                let f = |k: &str| r[k].as_f64().unwrap();
                assert!(f("PM01") <= f("PM2_5") && f("PM2_5") <= f("PM10"), "{r}");
                assert_eq!(f("AQI") as u32, pm25_aqi(f("PM2_5")));
                let h = &mut hours[(minute / 60) as usize];
                for (sum, v) in h.iter_mut().zip([f("PM2_5"), f("NO2"), f("T"), 1.0]) {
                    *sum += v;
                }
            }
        }
        let mean = |measure: usize, from: usize, to: usize| {
            let (sum, n) = hours[from..to].iter().fold((0.0, 0.0), |(s, n), h| (s + h[measure], n + h[3]));
            sum / n
        };
        for (measure, name) in [(0, "PM2.5"), (1, "NO2")] {
            let (night, morning, evening) = (mean(measure, 2, 5), mean(measure, 7, 9), mean(measure, 17, 20));
            assert!(morning > 1.3 * night && evening > 1.3 * night, "{name}: {night} {morning} {evening}");
        }
        assert!(mean(2, 14, 16) > mean(2, 2, 5) + 3.0, "afternoons are warmer than nights");
    }

    /// The air is the cycle's at the reading's time, not at its place in the run: a device that starts later
    /// reads the same air, within its noise.
    #[test]
    fn the_air_follows_the_time_not_the_count() {
        let air = |skip: i64| {
            let mut device = SimulatedDevice::new(4, 8);
            let mut out = Vec::new();
            let start = reaqtions_lambda::time::parse_utc_ms(b"2026-12-06T00:00:00Z").unwrap();
            let mut pm = Vec::new();
            for minute in skip..24 * 60 {
                out.clear();
                let time = format_time(DateTime::from_timestamp_millis(start + minute * 60_000).unwrap());
                device.next_reading(&time, "run1", &mut out);
                pm.push(serde_json::from_slice::<Value>(&out).unwrap()["PM2_5"].as_f64().unwrap());
            }
            pm[pm.len() - 60..].iter().sum::<f64>() / 60.0
        };
        let (all_day, afternoon) = (air(0), air(13 * 60));
        assert!((all_day / afternoon - 1.0).abs() < 0.25, "{all_day} {afternoon}");
    }

    #[test]
    fn the_ratio_is_measured_on_simulated_readings() {
        let ratio = sample_ratio(crate::compression::Compression::Gzip);
        assert!((4.0..20.0).contains(&ratio), "{ratio}");
        assert_eq!(sample_ratio(crate::compression::Compression::Gzip), ratio, "deterministic");
        assert_eq!(sample_ratio(crate::compression::Compression::None), 1.0);
    }
}
