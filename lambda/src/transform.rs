//! The pure Firehose transform: one input record → exactly one output record, in order, never panicking.
//!
//! A record holds one reading or several back to back (the original devices send `json.dumps(reading)` with
//! no delimiter; producers batch with or without newlines). `Ok` data is every reading as one compact JSON
//! object per line, each ending in `\n`, with [`ARRIVAL_FIELD`] and [`READING_TIME_FIELD`] appended. Empty or
//! whitespace-only data is `Dropped` (there is nothing to keep, and nothing was lost). Any bad reading fails
//! the whole record (`ProcessingFailed`), so Firehose writes its raw bytes to the error prefix. What real
//! sensors send is kept: a leading UTF-8 byte-order mark is skipped, a non-finite or `null` measure is written
//! as `null`, and a duplicated key is written once with its last value (see [`crate::scan`]). A record that is
//! the IoT rule's envelope ([`crate::envelope`]) is opened first: its payload is the readings, its device their
//! `device_id`. With [`Partitioning::Event`] each `Ok` record also gets the partition keys of its readings' hour.
//! Each reading is scanned by the fast path ([`crate::fast`]) when it is a usual one, else by the full scanner.

use std::str::FromStr;

use crate::envelope;
use crate::fast::{self, PAD, Padded};
use crate::scan::{Fail, Scanner, line_column, remove_key};
use crate::schema::{ARRIVAL_FIELD, READING_TIME_FIELD, Reject};
use crate::time::{self, Hour};

/// Which folders of the lake a record's readings go to: the S3 prefix the delivery stream was created with
/// decides, and the function is told by [`PARTITIONING_VAR`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    /// Firehose's arrival-time folders (`!{timestamp:...}`): no partition keys, a record may hold any hours.
    #[default]
    Arrival,
    /// Dynamic partitioning by the readings' own hour: every `Ok` record carries the partition keys of its
    /// readings' [`READING_TIME_FIELD`], and a record whose readings fall in two hours is `ProcessingFailed`.
    Event,
}

/// The environment variable the bootstrap reads its [`Partitioning`] from: `event` or `arrival` (unset).
pub const PARTITIONING_VAR: &str = "REAQTIONS_PARTITIONING";

impl Partitioning {
    /// `event` or `arrival`, as [`PARTITIONING_VAR`] spells it.
    pub fn name(self) -> &'static str {
        match self {
            Partitioning::Arrival => "arrival",
            Partitioning::Event => "event",
        }
    }

    /// The mode a value of [`PARTITIONING_VAR`] names (`None`: the variable is unset, [`Partitioning::Arrival`]).
    pub fn from_var(value: Option<&str>) -> Result<Self, String> {
        value.map_or(Ok(Partitioning::Arrival), str::parse)
    }
}

impl FromStr for Partitioning {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "arrival" => Ok(Partitioning::Arrival),
            "event" => Ok(Partitioning::Event),
            other => Err(format!(
                "{PARTITIONING_VAR} is `{other}`: expected `event` (partition keys from each reading's hour) or \
                 `arrival` (Firehose's arrival-time folders; also when unset)"
            )),
        }
    }
}

/// Transforms one record's raw bytes, appending NDJSON to `out`.
///
/// Returns the number of readings written (0 means the record holds nothing and should be `Dropped`).
/// On `Err`, `out` is left exactly as it was. With [`Partitioning::Event`], readings of two different hours
/// are [`Reject::SpansHours`].
pub fn transform_record(
    raw: &[u8],
    arrival_ms: i64,
    partitioning: Partitioning,
    out: &mut Vec<u8>,
) -> Result<usize, Reject> {
    let mut padded = Vec::with_capacity(raw.len() + PAD);
    padded.extend_from_slice(raw);
    fast::pad(&mut padded);
    let padded = Padded::new(&padded).expect("just padded");
    transform_counted(padded, &Arrival::at(arrival_ms), partitioning, out).map(|r| r.readings)
}

/// What a record held.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Readings {
    pub(crate) readings: usize,
    /// Readings that had a key more than once.
    pub(crate) with_duplicate_keys: usize,
    /// Readings whose reading time is the arrival (no `TIME`, or one not believed).
    pub(crate) arrival_fallback: usize,
    /// The hour of the first reading's reading time.
    pub(crate) hour: Option<Hour>,
    /// The first reading in another hour than the first: its index (from 1) and hour.
    other_hour: Option<(usize, Hour)>,
}

/// [`transform_record`] on padded bytes, with all a record held; `out` as it was on `Err`.
pub(crate) fn transform_counted(
    padded: Padded<'_>,
    arrival: &Arrival,
    partitioning: Partitioning,
    out: &mut Vec<u8>,
) -> Result<Readings, Reject> {
    let start = out.len();
    let result = transform_into(padded, arrival, out).and_then(|readings| match (partitioning, readings) {
        (Partitioning::Event, Readings { hour: Some(first), other_hour: Some((index, second)), .. }) => {
            Err(Reject::SpansHours { index, first, second })
        }
        _ => Ok(readings),
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The UTF-8 byte-order mark some serial bridges and Windows tools put first.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A record is the IoT rule's envelope (the message's bytes with its topic's device) or readings as a producer
/// sent them: both are accepted, so records in flight while a redeploy switches the rule are not refused.
fn transform_into(padded: Padded<'_>, arrival: &Arrival, out: &mut Vec<u8>) -> Result<Readings, Reject> {
    match envelope::open(padded.text())? {
        Some(mut message) => {
            fast::pad(&mut message.payload);
            let payload = Padded::new(&message.payload).expect("just padded");
            readings_into(payload, arrival, message.device_id.as_deref(), out)
        }
        None => readings_into(padded, arrival, None, out),
    }
}

/// Every reading of `raw`, with `device` (the topic's, from the envelope) as each one's `device_id` whatever
/// the payload claims.
fn readings_into(
    padded: Padded<'_>,
    arrival: &Arrival,
    device: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<Readings, Reject> {
    let padded = if padded.text().starts_with(BOM) { padded.skip(BOM.len()) } else { padded };
    let raw = padded.text();
    let text = if ascii(raw) {
        // SAFETY: ASCII is UTF-8.
        unsafe { std::str::from_utf8_unchecked(raw) }
    } else {
        std::str::from_utf8(raw).map_err(|e| Reject::NotUtf8 { offset: e.valid_up_to() })?
    };
    out.reserve(raw.len() + raw.len() / 3);
    let mut scanner = Scanner::new(text);
    let mut count = 0;
    let mut held = Readings::default();
    let fail = |f: Fail| match f {
        Fail::Eof => Reject::TruncatedJson,
        Fail::Syntax(offset) => {
            let (line, column) = line_column(text, offset);
            Reject::InvalidJson { line, column }
        }
    };
    let device_field = device.map(|d| format!("\"device_id\":{},", serde_json::Value::from(d)));
    // A record's readings mostly share their hour and day: read and written once.
    let (mut hours, mut days) = (time::HourCache::default(), time::DayCache::default());
    while scanner.next_reading() {
        count += 1;
        if text.as_bytes()[scanner.i] != b'{' {
            let kind = scanner.value(&mut Vec::new(), 1).map_err(fail)?;
            return Err(Reject::NotAnObject { index: count, kind: kind.name() });
        }
        let reading_start = out.len();
        let reading = fast::reading_or_full(padded, &mut scanner, &mut hours, out).map_err(fail)?;
        if let Some(problem) = reading.problem {
            return Err(problem.at(count));
        }
        held.with_duplicate_keys += usize::from(reading.duplicate_keys);
        if device_field.is_some() {
            remove_key(out, reading_start, "device_id");
        }
        // The compact object ends in `}`: reopen it to append the topic's device and the added fields.
        out.pop();
        if out.last() != Some(&b'{') {
            out.push(b',');
        }
        if let Some(field) = &device_field {
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&arrival.fields);
        let (reading_ms, fell_back) = time::reading_ms(reading.time, arrival.ms);
        if fell_back {
            out.extend_from_slice(&arrival.text);
        } else {
            time::push_rfc3339_ms_cached(reading_ms, out, &mut days);
        }
        out.extend_from_slice(b"\"}\n");
        held.arrival_fallback += usize::from(fell_back);
        let hour = Hour::of_ms(reading_ms);
        match held.hour {
            None => held.hour = Some(hour),
            Some(first) if first != hour && held.other_hour.is_none() => held.other_hour = Some((count, hour)),
            Some(_) => {}
        }
    }
    held.readings = count;
    Ok(held)
}

/// Whether `bytes` are all ASCII, 32 at a time (a fraction of what checking them as UTF-8 costs).
fn ascii(bytes: &[u8]) -> bool {
    let (blocks, tail) = bytes.as_chunks::<32>();
    blocks.iter().all(|block| block.iter().fold(0, |any, &b| any | b) < 0x80) && tail.is_ascii()
}

/// A record's arrival, as every one of its readings gets it.
pub(crate) struct Arrival {
    /// The arrival the record gave (what a batch compares to reuse this for the next record).
    given: i64,
    /// Milliseconds since the Unix epoch (the epoch itself for a timestamp chrono cannot represent).
    ms: i64,
    /// `2026-11-25T21:00:00.123Z`.
    text: Vec<u8>,
    /// `"_firehose_arrival":"2026-11-25T21:00:00.123Z","_reading_time":"` (the reading time and `"}` follow).
    fields: Vec<u8>,
}

impl Arrival {
    /// Computed once per record, or once for the records of a batch that arrived at the same millisecond.
    pub(crate) fn at(arrival_ms: i64) -> Arrival {
        let (ms, t) = match chrono::DateTime::from_timestamp_millis(arrival_ms) {
            Some(t) => (arrival_ms, t),
            None => (0, chrono::DateTime::default()),
        };
        let mut text = Vec::with_capacity(32);
        if (0..time::END_OF_YEAR_9999_MS).contains(&ms) {
            time::push_rfc3339_ms(ms, &mut text);
        } else {
            // Before 1970 or past year 9999: as chrono writes such years.
            use chrono::{Datelike as _, Timelike as _};
            let (year, month, day) = (t.year(), t.month(), t.day());
            let (hour, minute, second, milli) = (t.hour(), t.minute(), t.second(), t.timestamp_subsec_millis());
            let written = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z");
            text.extend_from_slice(written.as_bytes());
        }
        let mut fields = Vec::with_capacity(ARRIVAL_FIELD.len() + text.len() + READING_TIME_FIELD.len() + 10);
        for part in
            [b"\"".as_slice(), ARRIVAL_FIELD.as_bytes(), b"\":\"", &text, b"\",\"", READING_TIME_FIELD.as_bytes()]
        {
            fields.extend_from_slice(part);
        }
        fields.extend_from_slice(b"\":\"");
        Arrival { given: arrival_ms, ms, text, fields }
    }

    /// The arrival of a record that arrived at `arrival_ms`: this one again when it is the same.
    pub(crate) fn reuse(slot: &mut Option<Arrival>, arrival_ms: i64) -> &Arrival {
        if slot.as_ref().is_none_or(|arrival| arrival.given != arrival_ms) {
            *slot = Some(Arrival::at(arrival_ms));
        }
        slot.as_ref().expect("just set")
    }
}
