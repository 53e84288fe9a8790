//! The time model of simulated readings: which `TIME` each reading carries, and which hour (UTC) it falls in
//! for the packer. By default a reading's `TIME` is the wall-clock moment it is made. With `--start`/`--every`
//! ([`Timeline`]) device `d`'s reading `seq` is at `start + (seq − 1) × every + d × every / devices`, whatever the
//! pace it is sent at (`--rate`): a past day goes in seconds, and the same flags give the same `TIME`s.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::invalid;

/// How far ahead of this machine's clock a reading's `TIME` may be (another clock's skew), at most.
pub(crate) const SKEW: Duration = Duration::from_secs(60);

/// Readings laid out in time from `start`, each device's `every` apart, devices staggered within one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    /// The first reading's `TIME` (device 0's first).
    pub start: DateTime<Utc>,
    /// The step between one device's consecutive readings.
    pub every: Duration,
    pub devices: usize,
}

impl Timeline {
    /// The timeline `--start` and `--every` ask for (none when neither is given: wall-clock `TIME`s), for
    /// `devices` × `per_device` readings sent at `rate` per device per second from `now`. `every` defaults to one
    /// over the rate; `start`, to when the readings' window ends at `now`. No reading's `TIME` may be ahead of
    /// the moment it is sent by more than [`SKEW`].
    pub(crate) fn resolve(
        start: Option<(&str, DateTime<Utc>)>,
        every: Option<Duration>,
        devices: usize,
        per_device: u64,
        rate: f64,
        now: DateTime<Utc>,
    ) -> Result<Option<Timeline>> {
        if start.is_none() && every.is_none() {
            return Ok(None);
        }
        let every_text = |e: Duration| humantime::format_duration(e).to_string();
        let every = match every {
            Some(e) if e.is_zero() => return Err(invalid!("--every must be more than 0 (got {})", every_text(e))),
            Some(e) => e,
            None => Duration::try_from_secs_f64(1.0 / rate)
                .ok()
                .filter(|e| !e.is_zero())
                .ok_or_else(|| invalid!("--rate {rate} gives no step between readings: pass --every"))?,
        };
        let window = i128::from(per_device) * every.as_nanos() as i128;
        if window > i128::from(i64::MAX) {
            return Err(invalid!(
                "--every {} × --count {per_device}: the readings would span more than 292 years",
                every_text(every)
            ));
        }
        let window = chrono::Duration::nanoseconds(window as i64);
        let start = match start {
            Some((text, at)) => {
                if at > now + chrono::Duration::from_std(SKEW)? {
                    return Err(invalid!(
                        "--start {text} is in the future ({}); readings are stamped at or before the moment they \
                         are sent",
                        at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                    ));
                }
                at
            }
            // The window ends when the run starts, on a whole second.
            None => whole_second(now).checked_sub_signed(window).ok_or_else(|| {
                invalid!("--every {} × --count {per_device} reaches before year 1", every_text(every))
            })?,
        };
        let timeline = Timeline { start, every, devices };
        start
            .checked_add_signed(window)
            .ok_or_else(|| invalid!("--start {start}: the readings reach past year 9999"))?;
        // Sent at the pace of --rate (or later, when behind), the last reading leaves last: the one most ahead of
        // its sending, if any is (the first is not: the start is not in the future).
        let total = per_device.saturating_mul(devices as u64).saturating_sub(1);
        let sent = Duration::try_from_secs_f64(total as f64 / (rate * devices as f64))
            .ok()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .and_then(|d| now.checked_add_signed(d));
        let last = timeline.at(devices.saturating_sub(1), per_device);
        if let Some(sent) = sent
            && last > sent + chrono::Duration::from_std(SKEW)?
        {
            return Err(invalid!(
                "--every {} from {}: the last readings' TIME ({}) would be ahead of when they are sent (~{}); start \
                 earlier (--start), or send fewer readings (--count) or more slowly (--rate)",
                every_text(every),
                start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                last.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                sent.to_rfc3339_opts(SecondsFormat::Secs, true),
            ));
        }
        Ok(Some(timeline))
    }

    /// The `TIME` of device `device`'s (0-based) reading `seq` (1-based).
    pub fn at(&self, device: usize, seq: u64) -> DateTime<Utc> {
        let every = self.every.as_nanos() as i128;
        let ns = every * (i128::from(seq) - 1) + every * device as i128 / self.devices.max(1) as i128;
        self.start + chrono::Duration::nanoseconds(ns as i64)
    }

    /// The window `per_device` readings of each device cover: `[start, start + per_device × every)`.
    pub fn window(&self, per_device: u64) -> (DateTime<Utc>, DateTime<Utc>) {
        let ns = i128::from(per_device) * self.every.as_nanos() as i128;
        (self.start, self.start + chrono::Duration::nanoseconds(ns as i64))
    }

    /// What the plan line says of it: `readings' TIME from … to … (1day, one per device every 1m)`.
    pub(crate) fn describe(&self, per_device: u64) -> String {
        let (from, to) = self.window(per_device);
        let span = (to - from).to_std().unwrap_or_default();
        format!(
            "readings' TIME from {} to {} ({}, one per device every {})",
            from.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            to.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            humantime::format_duration(span),
            humantime::format_duration(self.every)
        )
    }
}

/// `at` without its fraction of a second.
fn whole_second(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

/// The hour (UTC) `at` falls in, as hours since the epoch.
pub(crate) fn hour_of(at: DateTime<Utc>) -> i64 {
    reaqtions_lambda::Hour::of_ms(at.timestamp_millis()).0
}

/// The hour (UTC) of the `TIME` a payload carries, read with the transform's own parser (so the packer and the
/// transform never disagree on a reading's hour), if it carries one: what `--resend` packs by.
pub(crate) fn hour_in(payload: &[u8]) -> Option<i64> {
    let at = memchr::memmem::find(payload, b"\"TIME\"")? + 6;
    let rest = &payload[at..];
    let open = rest.iter().position(|b| !matches!(b, b' ' | b':'))?;
    let rest = rest[open..].strip_prefix(b"\"")?;
    let ms = reaqtions_lambda::time::parse_utc_ms(&rest[..memchr::memchr(b'"', rest)?])?;
    Some(reaqtions_lambda::Hour::of_ms(ms).0)
}

/// Stamps readings: each reading's `TIME` (as [`super::device::format_time`] writes it) and its hour. Without a
/// timeline every reading of a pass carries the pass's wall-clock moment ([`Stamps::tick`]).
pub(crate) struct Stamps {
    timeline: Option<Timeline>,
    text: String,
    hour: i64,
    /// `YYYY-MM-DDTHH:` of `prefix_hour`: formatted once an hour, so a reading's `TIME` costs a few digits.
    prefix: String,
    prefix_hour: Option<i64>,
}

impl Stamps {
    pub(crate) fn new(timeline: Option<Timeline>, now: DateTime<Utc>) -> Stamps {
        let mut stamps = Stamps { timeline, text: String::new(), hour: 0, prefix: String::new(), prefix_hour: None };
        stamps.write(now);
        stamps
    }

    /// The wall-clock moment of a pass: the `TIME` of the readings it makes, without a timeline.
    pub(crate) fn tick(&mut self, now: DateTime<Utc>) {
        if self.timeline.is_none() {
            self.write(now);
        }
    }

    /// The `TIME` and hour of device `device`'s reading `seq`.
    pub(crate) fn stamp(&mut self, device: usize, seq: u64) -> (&str, i64) {
        if let Some(timeline) = self.timeline {
            self.write(timeline.at(device, seq));
        }
        (&self.text, self.hour)
    }

    fn write(&mut self, at: DateTime<Utc>) {
        let seconds = at.timestamp();
        self.hour = hour_of(at);
        if self.prefix_hour != Some(self.hour) {
            self.prefix = at.format("%Y-%m-%dT%H:").to_string();
            self.prefix_hour = Some(self.hour);
        }
        let in_hour = seconds.rem_euclid(3600);
        let micros = at.timestamp_subsec_micros().min(999_999);
        self.text.clear();
        self.text.push_str(&self.prefix);
        let _ = write!(self.text, "{:02}:{:02}.{micros:06}Z", in_hour / 60, in_hour % 60);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::device::format_time;

    fn t(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    const NOW: &str = "2026-12-08T10:00:00.250Z";

    fn resolve(
        start: Option<&str>,
        every: Option<&str>,
        devices: usize,
        per_device: u64,
        rate: f64,
    ) -> Result<Option<Timeline>> {
        let start = start.map(|s| (s, t(s)));
        let every = every.map(|e| humantime::parse_duration(e).unwrap());
        Timeline::resolve(start, every, devices, per_device, rate, t(NOW))
    }

    #[test]
    fn a_day_at_one_a_minute_from_12_devices() {
        let timeline = resolve(Some("2026-12-06T00:00:00Z"), Some("1m"), 12, 1440, 1000.0).unwrap().unwrap();
        let mut stamps = Stamps::new(Some(timeline), t(NOW));
        let mut per_hour = std::collections::BTreeMap::<i64, usize>::new();
        for device in 0..12 {
            let mut previous: Option<DateTime<Utc>> = None;
            for seq in 1..=1440 {
                let at = timeline.at(device, seq);
                if let Some(p) = previous {
                    assert_eq!(at - p, chrono::Duration::minutes(1), "device {device} steps by --every");
                }
                previous = Some(at);
                let (text, hour) = stamps.stamp(device, seq);
                assert_eq!(text, format_time(at), "the TIME format devices send");
                assert_eq!(hour, hour_of(at));
                *per_hour.entry(hour).or_default() += 1;
            }
            // Staggered within one step: device d starts d × 5 s after the first.
            assert_eq!(
                timeline.at(device, 1),
                t("2026-12-06T00:00:00Z") + chrono::Duration::seconds(5 * device as i64)
            );
        }
        assert_eq!(timeline.at(0, 1), t("2026-12-06T00:00:00Z"), "the first reading's TIME is --start");
        assert_eq!(timeline.at(11, 1440), t("2026-12-06T23:59:55Z"));
        assert_eq!(per_hour.len(), 24);
        assert!(per_hour.values().all(|n| *n == 12 * 60), "{per_hour:?}");
        assert_eq!(timeline.window(1440), (t("2026-12-06T00:00:00Z"), t("2026-12-07T00:00:00Z")));
        assert_eq!(
            timeline.describe(1440),
            "readings' TIME from 2026-12-06T00:00:00Z to 2026-12-07T00:00:00Z (1day, one per device every 1m)"
        );
    }

    #[test]
    fn defaults_follow_the_rate_and_end_now() {
        // --start alone: one over the rate, as the readings are sent.
        let timeline = resolve(Some("2026-12-08T09:00:00Z"), None, 4, 100, 4.0).unwrap().unwrap();
        assert_eq!(timeline.every, Duration::from_millis(250));
        assert_eq!(timeline.at(1, 1), t("2026-12-08T09:00:00.0625Z"), "devices staggered within a step");
        // --every alone: the window ends when the run starts (on a whole second).
        let timeline = resolve(None, Some("1m"), 3, 60, 1000.0).unwrap().unwrap();
        assert_eq!(timeline.window(60), (t("2026-12-08T09:00:00Z"), t("2026-12-08T10:00:00Z")));
        assert_eq!(resolve(None, None, 3, 60, 1.0).unwrap(), None, "neither: wall-clock TIMEs");
    }

    #[test]
    fn bad_timelines_name_the_flag_and_value() {
        let err = |r: Result<Option<Timeline>>| r.unwrap_err().to_string();
        let future = err(resolve(Some("2026-12-09T00:00:00Z"), Some("1m"), 2, 10, 1.0));
        assert!(future.contains("--start 2026-12-09T00:00:00Z is in the future"), "{future}");
        assert!(resolve(Some("2026-12-08T10:00:30Z"), Some("1ms"), 2, 10, 1000.0).is_ok(), "within the skew");
        let zero = err(resolve(Some("2026-12-08T09:00:00Z"), Some("0s"), 2, 10, 1.0));
        assert!(zero.contains("--every must be more than 0 (got 0s)"), "{zero}");
        // An hour of one-a-minute readings from 09:30, sent in a second: the last would be 29 minutes ahead.
        let ahead = err(resolve(Some("2026-12-08T09:30:00Z"), Some("1m"), 2, 60, 1000.0));
        assert!(
            ahead.contains("--every 1m from 2026-12-08T09:30:00Z: the last readings' TIME (2026-12-08T10:29:30Z)"),
            "{ahead}"
        );
        let long = err(resolve(None, Some("100years"), 1, 10, 1.0));
        assert!(long.contains("--every 100years"), "{long}");
    }

    #[test]
    fn the_hour_of_a_payload() {
        let hour = hour_of(t("2026-11-25T21:00:00Z"));
        assert_eq!(hour_in(br#"{"device_id":"aq-0001","TIME":"2026-11-25T21:59:59.999999Z","NO2":1}"#), Some(hour));
        assert_eq!(hour_in(br#"{"TIME": "2026-11-25T21:00:00.123456"}"#), Some(hour), "zone-less: UTC");
        assert_eq!(hour_in(br#"{"TIME":"2026-11-25 21:30:00"}"#), Some(hour), "a space for the T");
        assert_eq!(hour_in(br#"{"TIME":"2026-11-25T22:30:00+01:00"}"#), Some(hour), "an offset counts in UTC");
        assert_eq!(hour_in(br#"{"NO2":1}"#), None);
        assert_eq!(hour_in(br#"{"TIME":"25/11/2026 21:00"}"#), None);
    }

    #[test]
    fn wall_clock_stamps_are_the_moment_of_the_pass() {
        let mut stamps = Stamps::new(None, t("1969-12-31T23:59:59.5Z"));
        assert_eq!(stamps.stamp(3, 7), ("1969-12-31T23:59:59.500000Z", -1));
        stamps.tick(t("2026-11-25T21:00:00.123456Z"));
        let (text, hour) = stamps.stamp(0, 1);
        assert_eq!((text, hour), ("2026-11-25T21:00:00.123456Z", hour_of(t("2026-11-25T21:00:00Z"))));
    }
}
