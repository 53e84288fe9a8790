//! Time on the hot path: a reading's `TIME` checked and turned into a UTC instant in one pass, the reading
//! time chosen from it and the record's arrival, instants written as RFC 3339 with milliseconds, and the UTC
//! hour a reading belongs to (its partition). Hand-written civil-date arithmetic (UTC, proleptic Gregorian):
//! it runs once per reading, where a chrono parse or format costs ~10× more.

use std::fmt;

const SECOND_MS: i64 = 1_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// 2024-01-01T00:00:00Z: the Athena table's partition projection starts there, so earlier times are no use.
pub const EARLIEST_READING_MS: i64 = 1_704_067_200_000;
/// 10000-01-01T00:00:00Z: past it an instant has no four-digit year.
pub(crate) const END_OF_YEAR_9999_MS: i64 = 253_402_300_800_000;
/// How far after its arrival a reading's own time may be (device clocks run ahead) and still be believed.
pub const MAX_AHEAD_OF_ARRIVAL_MS: i64 = HOUR_MS;

/// The UTC instant (milliseconds since the Unix epoch) of a timestamp the schema accepts for `TIME`, or
/// `None` when it is not one: `YYYY-MM-DD` then `T` (or a space), `HH:MM:SS`, an optional fraction of 1-9
/// digits (truncated to milliseconds), and an optional zone (`Z` or `±HH:MM`). Without a zone it is taken as
/// UTC (the original devices send their local time without one; the reports read it so too).
pub fn parse_utc_ms(b: &[u8]) -> Option<i64> {
    parse_utc_ms_cached(b, &mut HourCache::default())
}

/// The last hour [`parse_utc_ms_cached`] read: the 14 bytes `2026-11-25T21:` as sent and the UTC instant they
/// start (before any zone offset). The readings of a record mostly share their hour, and then only the minute,
/// second, fraction and zone are read again.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HourCache(Option<([u8; 14], i64)>);

/// [`parse_utc_ms`], the hour taken from `cache` when `b` starts with the same 14 bytes as the last one.
pub(crate) fn parse_utc_ms_cached(b: &[u8], cache: &mut HourCache) -> Option<i64> {
    // It runs once per reading: the fixed head is checked at fixed places, with no bounds checks past its length.
    let head = b.first_chunk::<19>()?;
    let digit = |at: usize| u32::from(head[at].wrapping_sub(b'0'));
    let two = |at: usize| digit(at) * 10 + digit(at + 1);
    let hour_ms = match cache.0 {
        Some((seen, hour_ms)) if head[..14] == seen => hour_ms,
        _ => {
            const DIGITS: [usize; 10] = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12];
            if DIGITS.iter().fold(0, |any, &at| any | u32::from(digit(at) > 9)) != 0 {
                return None;
            }
            if head[4] != b'-' || head[7] != b'-' || !matches!(head[10], b'T' | b' ') || head[13] != b':' {
                return None;
            }
            let (year, month, day, hour) = (two(0) * 100 + two(2), two(5), two(8), two(11));
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            if !(1..=12).contains(&month) || day == 0 || day > month_days[month as usize - 1] || hour > 23 {
                return None;
            }
            let hour_ms = (days_from_civil(i64::from(year), month, day) * 24 + i64::from(hour)) * HOUR_MS;
            let seen = head[..14].try_into().expect("14 bytes");
            cache.0 = Some((seen, hour_ms));
            hour_ms
        }
    };
    if digit(14) > 9 || digit(15) > 9 || digit(17) > 9 || digit(18) > 9 || head[16] != b':' {
        return None;
    }
    let (minute, second) = (two(14), two(17));
    if minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0;
    if b.get(at) == Some(&b'.') {
        let digits = b[at + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        millis = b[at + 1..at + 1 + digits.min(3)].iter().fold(0, |n, &d| n * 10 + i64::from(d - b'0'));
        millis *= [100, 10, 1][digits.min(3) - 1];
        at += 1 + digits;
    }
    let num = |at: usize| -> Option<u32> {
        let pair = b.get(at..at + 2)?;
        pair.iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let offset_minutes = match b.get(at) {
        None => 0,
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if at + 6 == b.len() && b[at + 3] == b':' => {
            let (h, m) = (num(at + 1).filter(|&h| h <= 23)?, num(at + 4).filter(|&m| m <= 59)?);
            let minutes = i64::from(h * 60 + m);
            if sign == b'+' { minutes } else { -minutes }
        }
        Some(_) => return None,
    };
    let minutes = i64::from(minute) - offset_minutes;
    Some(hour_ms + minutes * 60 * SECOND_MS + i64::from(second) * SECOND_MS + millis)
}

/// The reading time of a reading whose `TIME` is `time` (UTC ms, `None` when absent), in a record that
/// arrived at `arrival_ms`: its own time when usable, else the arrival (`true`: it fell back). Not usable: no
/// time, one more than [`MAX_AHEAD_OF_ARRIVAL_MS`] after the arrival (a clock running ahead), or one before
/// [`EARLIEST_READING_MS`] (a clock never set).
#[inline]
pub(crate) fn reading_ms(time: Option<i64>, arrival_ms: i64) -> (i64, bool) {
    match time {
        Some(t)
            if (EARLIEST_READING_MS..END_OF_YEAR_9999_MS).contains(&t)
                && t.saturating_sub(arrival_ms) <= MAX_AHEAD_OF_ARRIVAL_MS =>
        {
            (t, false)
        }
        _ => (arrival_ms, true),
    }
}

/// The reading time of a row written before the transform added `_reading_time`, as readers work it out: the
/// same rule ([`reading_ms`]) on its `TIME` text, parsed as the transform parses it, and its arrival.
pub fn reading_time_ms(time: Option<&str>, arrival_ms: i64) -> i64 {
    reading_ms(time.and_then(|t| parse_utc_ms(t.as_bytes())), arrival_ms).0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = i64::from((153 * ((month + 9) % 12) + 2) / 5 + day - 1);
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (H. Hinnant's `civil_from_days`): year, month, day.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// `00` to `99`, two bytes each: a date is written a pair of digits at a time.
const PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324\
    25262728293031323334353637383940414243444546474849\
    50515253545556575859606162636465666768697071727374\
    75767778798081828384858687888990919293949596979899";

/// Appends `2026-11-25T20:59:58.000Z` for an instant from [`reading_ms`] (years 2024-9999).
#[inline]
pub(crate) fn push_rfc3339_ms(ms: i64, out: &mut Vec<u8>) {
    push_rfc3339_ms_cached(ms, out, &mut DayCache::default());
}

/// The last day [`push_rfc3339_ms_cached`] wrote: its number since 1970-01-01 and `2026-11-25`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DayCache(Option<(i64, [u8; 10])>);

/// [`push_rfc3339_ms`], the date taken from `cache` when the instant is in the same day as the last one.
#[inline]
pub(crate) fn push_rfc3339_ms_cached(ms: i64, out: &mut Vec<u8>, cache: &mut DayCache) {
    let pair = |n: u32| -> [u8; 2] {
        let at = 2 * (n % 100) as usize;
        [PAIRS[at], PAIRS[at + 1]]
    };
    let days = ms.div_euclid(DAY_MS);
    let date = match cache.0 {
        Some((seen, date)) if seen == days => date,
        _ => {
            let (year, month, day) = civil_from_days(days);
            let year = year.clamp(0, 9999) as u32;
            let mut date = *b"0000-00-00";
            for (at, n) in [(0, year / 100), (2, year), (5, month), (8, day)] {
                date[at..at + 2].copy_from_slice(&pair(n));
            }
            cache.0 = Some((days, date));
            date
        }
    };
    let in_day = ms.rem_euclid(DAY_MS) as u32;
    let mut text = *b"0000-00-00T00:00:00.000Z";
    text[..10].copy_from_slice(&date);
    let seconds = in_day / 1_000;
    for (at, n) in [(11, seconds / 3_600), (14, seconds / 60 % 60)] {
        text[at..at + 2].copy_from_slice(&pair(n));
    }
    text[17..19].copy_from_slice(&pair(seconds % 60));
    text[20] = b'0' + (in_day % 1_000 / 100) as u8;
    text[21..23].copy_from_slice(&pair(in_day));
    out.extend_from_slice(&text);
}

/// One hour of UTC, the unit of the lake's partitions: hours since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hour(pub i64);

impl Hour {
    /// The hour holding the instant `ms` (milliseconds since the Unix epoch).
    pub fn of_ms(ms: i64) -> Hour {
        Hour(ms.div_euclid(HOUR_MS))
    }

    /// Year, month, day and hour of day, in UTC.
    pub fn civil(self) -> (i64, u32, u32, u32) {
        let (year, month, day) = civil_from_days(self.0.div_euclid(24));
        (year, month, day, self.0.rem_euclid(24) as u32)
    }
}

/// `2026-11-25T20:00Z`.
impl fmt::Display for Hour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day, hour) = self.civil();
        write!(f, "{year:04}-{month:02}-{day:02}T{hour:02}:00Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ms: i64) -> String {
        let mut out = Vec::new();
        push_rfc3339_ms(ms, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn chrono_ms(s: &str) -> i64 {
        let zoned = chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis());
        zoned.unwrap_or_else(|_| {
            let local = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").expect(s);
            local.and_utc().timestamp_millis()
        })
    }

    #[test]
    fn times_are_read_as_chrono_reads_them_truncated_to_milliseconds() {
        for s in [
            "2026-11-25T21:00:00.123456",
            "2026-11-25T21:00:00",
            "2026-11-25T21:00:00.5",
            "2026-11-25T21:00:00.98",
            "2026-11-25T21:00:00.999999999Z",
            "2026-11-25T21:00:00.123+05:30",
            "2026-11-25T01:30:00-08:00",
            "2028-02-29T23:59:59.999-00:01",
            "2024-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999+23:59",
        ] {
            assert_eq!(parse_utc_ms(s.as_bytes()), Some(chrono_ms(s)), "{s}");
        }
        assert_eq!(parse_utc_ms(b"2026-11-25 21:00:00.5"), parse_utc_ms(b"2026-11-25T21:00:00.5"));
        assert_eq!(parse_utc_ms(b"2026-11-25T23:59:60Z"), parse_utc_ms(b"2026-11-26T00:00:00Z"), "a leap second");
    }

    #[test]
    fn instants_are_written_as_chrono_writes_them() {
        for ms in [0, 1_795_640_400_123, EARLIEST_READING_MS, 951_782_400_000, 4_107_542_399_999, 253_402_300_799_999] {
            let chrono = chrono::DateTime::from_timestamp_millis(ms).unwrap();
            assert_eq!(text(ms), chrono.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(), "{ms}");
        }
        // Every day of a leap and a common year, at a time of day that changes with it.
        for day in 0..(366 + 365) {
            let ms = EARLIEST_READING_MS + day * DAY_MS + day * 61_001 % DAY_MS;
            let chrono = chrono::DateTime::from_timestamp_millis(ms).unwrap();
            assert_eq!(text(ms), chrono.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
            assert_eq!(parse_utc_ms(text(ms).as_bytes()), Some(ms), "round trip");
        }
    }

    #[test]
    fn a_reading_time_falls_back_to_the_arrival_when_it_cannot_be_believed() {
        let arrival = chrono_ms("2026-11-25T21:00:00.123Z");
        let at = |s: &str| Some(chrono_ms(s));
        assert_eq!(reading_ms(at("2026-11-25T20:59:58Z"), arrival), (chrono_ms("2026-11-25T20:59:58Z"), false));
        let an_hour_ahead = chrono_ms("2026-11-25T22:00:00.123Z");
        assert_eq!(reading_ms(Some(an_hour_ahead), arrival), (an_hour_ahead, false), "an hour ahead is believed");
        assert_eq!(reading_ms(at("2026-11-25T22:00:00.124Z"), arrival), (arrival, true), "more is a clock ahead");
        assert_eq!(reading_ms(at("2023-12-31T23:59:59.999Z"), arrival), (arrival, true), "before 2024");
        assert_eq!(reading_ms(Some(EARLIEST_READING_MS), arrival), (EARLIEST_READING_MS, false));
        assert_eq!(reading_ms(None, arrival), (arrival, true));
        assert_eq!(reading_ms(at("9999-12-31T23:59:59Z"), i64::MAX), (chrono_ms("9999-12-31T23:59:59Z"), false));
        assert_eq!(reading_ms(Some(END_OF_YEAR_9999_MS), i64::MAX), (i64::MAX, true), "no five-digit years");
    }

    /// The parser as it was before it read the fixed head at fixed places: the oracle for the one now.
    fn before(b: &[u8]) -> Option<i64> {
        let num = |at: usize, len: usize| -> Option<u32> {
            let digits = b.get(at..at + len)?;
            digits.iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
        };
        let sep = |at: usize, c: u8| b.get(at) == Some(&c);
        let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
        let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        if !(sep(4, b'-') && sep(7, b'-') && (sep(10, b'T') || sep(10, b' ')) && sep(13, b':') && sep(16, b':')) {
            return None;
        }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if !(1..=12).contains(&month) || day == 0 || day > month_days[month as usize - 1] {
            return None;
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut at = 19;
        let mut millis = 0;
        if sep(at, b'.') {
            let digits = b[at + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
            if !(1..=9).contains(&digits) {
                return None;
            }
            millis = b[at + 1..at + 1 + digits.min(3)].iter().fold(0, |n, &d| n * 10 + i64::from(d - b'0'));
            millis *= [100, 10, 1][digits.min(3) - 1];
            at += 1 + digits;
        }
        let offset_minutes = match b.get(at) {
            None => 0,
            Some(b'Z' | b'z') if at + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) if at + 6 == b.len() && sep(at + 3, b':') => {
                let (h, m) = (num(at + 1, 2).filter(|&h| h <= 23)?, num(at + 4, 2).filter(|&m| m <= 59)?);
                let minutes = i64::from(h * 60 + m);
                if sign == b'+' { minutes } else { -minutes }
            }
            Some(_) => return None,
        };
        let days = days_from_civil(i64::from(year), month, day);
        let seconds =
            ((days * 24 + i64::from(hour)) * 60 + i64::from(minute) - offset_minutes) * 60 + i64::from(second);
        Some(seconds * SECOND_MS + millis)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]
        #[test]
        fn times_are_parsed_as_before(
            base in proptest::sample::select(&[
                "2026-11-25T21:00:00.123456", "2028-02-29 23:59:60.5Z", "2026-11-25T21:00:00+05:30",
                "0000-01-01T00:00:00-23:59", "9999-12-31T23:59:59.999999999z", "2026-11-25T21:00:00",
            ][..]),
            times in proptest::collection::vec((
                proptest::collection::vec((0usize..40, proptest::sample::select(
                    &b"0123456789-:T .Zz+x\x00\xff"[..])), 0..3),
                0usize..40,
            ), 1..6),
        ) {
            // One cache for the times of one case, as a record's readings share one: a hit, a miss, a bad head.
            let mut cache = HourCache::default();
            for (edits, cut) in times {
                let mut bytes = base.as_bytes().to_vec();
                for (at, byte) in edits {
                    match at % 3 {
                        0 if at < bytes.len() => bytes[at] = byte,
                        1 => bytes.insert(at.min(bytes.len()), byte),
                        _ if at < bytes.len() => drop(bytes.remove(at)),
                        _ => {}
                    }
                }
                bytes.truncate(cut.max(15));
                let text = String::from_utf8_lossy(&bytes).into_owned();
                proptest::prop_assert_eq!(parse_utc_ms(&bytes), before(&bytes), "{:?}", text);
                proptest::prop_assert_eq!(parse_utc_ms_cached(&bytes, &mut cache), before(&bytes), "{:?} cached", text);
            }
        }

        #[test]
        fn instants_are_written_alike_with_the_day_cache(
            instants in proptest::collection::vec(EARLIEST_READING_MS..END_OF_YEAR_9999_MS, 1..8),
            near in proptest::collection::vec(-2 * DAY_MS..2 * DAY_MS, 8),
        ) {
            let mut cache = DayCache::default();
            for (ms, step) in instants.iter().zip(&near) {
                // Each instant, and one near it (often the same day).
                for ms in [*ms, (ms + step).clamp(EARLIEST_READING_MS, END_OF_YEAR_9999_MS - 1)] {
                    let mut cached = Vec::new();
                    push_rfc3339_ms_cached(ms, &mut cached, &mut cache);
                    let chrono = chrono::DateTime::from_timestamp_millis(ms).unwrap();
                    let expected = chrono.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
                    proptest::prop_assert_eq!(String::from_utf8(cached).unwrap(), expected);
                }
            }
        }
    }

    #[test]
    fn hours_name_their_utc_hour() {
        let hour = Hour::of_ms(chrono_ms("2026-11-25T20:59:59.999Z"));
        assert_eq!(hour.civil(), (2026, 11, 25, 20));
        assert_eq!(hour.to_string(), "2026-11-25T20:00Z");
        assert_eq!(Hour::of_ms(chrono_ms("2026-11-25T21:00:00Z")), Hour(hour.0 + 1));
        assert_eq!(Hour::of_ms(-1).civil(), (1969, 12, 31, 23));
    }
}
