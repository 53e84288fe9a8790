//! Simulated air-quality devices: each measure is a bounded, mean-reverting random walk around a per-device
//! baseline, with the original payload's fields and units, plus `device_id`, `seq` and the run id.

use std::io::Write as _;

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

use crate::aqi::pm25_aqi;

/// The field carrying the simulation run's id, so `--verify` tells this run's readings from earlier ones.
pub(crate) const RUN_FIELD: &str = "sim_run";

/// `TIME` as new devices send it: RFC 3339, UTC, microseconds.
pub fn format_time(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// One measure's walk: pulled back towards `base` (by `pull` per step), jittered by up to `step`, clamped.
#[derive(Debug, Clone, Copy)]
struct Walk {
    value: f64,
    base: f64,
    step: f64,
    min: f64,
    max: f64,
}

impl Walk {
    fn new(rng: &mut SmallRng, base: (f64, f64), step: f64, min: f64, max: f64) -> Walk {
        let base = rng.random_range(base.0..base.1);
        Walk { value: base, base, step, min, max }
    }

    fn next(&mut self, rng: &mut SmallRng) -> f64 {
        let noise = rng.random_range(-1.0..1.0) * self.step;
        self.value = (self.value + 0.05 * (self.base - self.value) + noise).clamp(self.min, self.max);
        self.value
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// One simulated device.
#[derive(Debug, Clone)]
pub struct SimulatedDevice {
    pub(crate) id: String,
    seq: u64,
    rng: SmallRng,
    user_input: u8,
    pm25: Walk,
    pm01_ratio: f64,
    pm10_ratio: f64,
    no2: Walk,
    co: Walk,
    tvoc: Walk,
    eco2: Walk,
    pressure: Walk,
    temperature: Walk,
    humidity: Walk,
}

impl SimulatedDevice {
    /// SimulatedDevice number `index` (0-based → `aq-0001`); the same `seed` gives the same values.
    pub fn new(index: usize, seed: u64) -> SimulatedDevice {
        let mut rng = SmallRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut walk = |base, step, min, max| Walk::new(&mut rng, base, step, min, max);
        let pm25 = walk((3.0, 40.0), 0.8, 0.0, 500.0);
        let no2 = walk((5.0, 45.0), 1.0, 0.0, 2000.0);
        let co = walk((0.2, 1.5), 0.05, 0.0, 50.0);
        let tvoc = walk((50.0, 400.0), 8.0, 0.0, 60_000.0);
        let eco2 = walk((420.0, 900.0), 10.0, 400.0, 60_000.0);
        let pressure = walk((990.0, 1030.0), 0.2, 870.0, 1085.0);
        let temperature = walk((15.0, 28.0), 0.1, -40.0, 85.0);
        let humidity = walk((30.0, 70.0), 0.5, 0.0, 100.0);
        SimulatedDevice {
            id: crate::device::id(index),
            seq: 0,
            user_input: rng.random_range(1..=5),
            pm01_ratio: rng.random_range(0.55..0.8),
            pm10_ratio: rng.random_range(1.3..1.9),
            rng,
            pm25,
            no2,
            co,
            tvoc,
            eco2,
            pressure,
            temperature,
            humidity,
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
    /// `TIME` (see [`format_time`]), formatted once for all readings made at the same moment.
    pub fn next_reading(&mut self, time: &str, run: &str, out: &mut Vec<u8>) -> u64 {
        self.seq += 1;
        let rng = &mut self.rng;
        if rng.random_bool(0.01) {
            self.user_input = rng.random_range(1..=5);
        }
        let pm25 = round(self.pm25.next(rng), 1);
        let pm01 = round(pm25 * self.pm01_ratio, 1).min(pm25);
        let pm10 = round(pm25 * self.pm10_ratio, 1).max(pm25);
        let _ = writeln!(
            out,
            "{{\"device_id\":\"{}\",\"seq\":{},\"{RUN_FIELD}\":\"{run}\",\"TIME\":\"{}\",\"USER_INPUT\":{},\
             \"NO2\":{},\"CO\":{},\"PM01\":{pm01},\"PM2_5\":{pm25},\"PM10\":{pm10},\"AQI\":{},\"eCO2\":{},\
             \"TVOC\":{},\"P\":{},\"T\":{},\"RH\":{}}}",
            self.id,
            self.seq,
            time,
            self.user_input,
            round(self.no2.next(rng), 1),
            round(self.co.next(rng), 2),
            pm25_aqi(pm25),
            self.eco2.next(rng).round(),
            self.tvoc.next(rng).round(),
            round(self.pressure.next(rng), 2),
            round(self.temperature.next(rng), 2),
            round(self.humidity.next(rng), 1),
        );
        self.seq
    }
}

/// The size of a simulated reading (the mean of a hundred): what `cost` and `simulate`'s plan assume.
pub(crate) fn typical_reading_bytes() -> u64 {
    let mut device = SimulatedDevice::new(0, 1);
    let time = format_time(chrono::Utc::now());
    let mut out = Vec::new();
    for _ in 0..100 {
        device.next_reading(&time, "0123abcd", &mut out);
    }
    (out.len() as u64).div_ceil(100)
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

    #[test]
    fn the_ratio_is_measured_on_simulated_readings() {
        let ratio = sample_ratio(crate::compression::Compression::Gzip);
        assert!((4.0..20.0).contains(&ratio), "{ratio}");
        assert_eq!(sample_ratio(crate::compression::Compression::Gzip), ratio, "deterministic");
        assert_eq!(sample_ratio(crate::compression::Compression::None), 1.0);
    }
}
