//! The air-quality reading schema: which fields are known, what type each must have, and why a reading is
//! rejected. Error messages never carry the reading's values.
//!
//! A reading is a JSON object. Known measures must be JSON numbers when present; `TIME`, when present, must be
//! an ISO-8601 timestamp, either local without zone (`2026-11-25T21:00:00.123456`, the original devices) or
//! RFC 3339 with a zone (new devices); `device_id` must be a string and `seq` a non-negative integer. Any other
//! field is kept as sent. Nothing is required: the original devices send no `device_id`.

use std::fmt;

use crate::time::Hour;

/// The IoT rule's envelope field holding the message payload, base64 (reserved: a reading may not carry it;
/// [`crate::envelope`] opens it).
pub const PAYLOAD_FIELD: &str = "reaqtions_iot_payload";

/// The numeric measures of the original payload, in the original order (after `TIME`).
pub const MEASURES: [&str; 12] =
    ["USER_INPUT", "NO2", "CO", "PM01", "PM2_5", "PM10", "AQI", "eCO2", "TVOC", "P", "T", "RH"];

/// The field the transform adds to every reading: Firehose's arrival time (RFC 3339, UTC, milliseconds).
/// A reading that already carries it is rejected, so an added field can never shadow a device field.
pub const ARRIVAL_FIELD: &str = "_firehose_arrival";

/// The field the transform adds after [`ARRIVAL_FIELD`]: when the air was measured (RFC 3339, UTC,
/// milliseconds). The reading's own `TIME` in UTC (a `TIME` without zone is taken as UTC), or the arrival when
/// the reading has no `TIME` or one that cannot be believed (see [`crate::time`]). Reserved like the arrival.
pub const READING_TIME_FIELD: &str = "_reading_time";

/// Why a record was rejected (`ProcessingFailed`). The text names the problem and where, never the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// The record's `data` was not valid base64 (Firehose never sends that; a hand-made event might).
    InvalidBase64,
    /// The bytes are not UTF-8; `offset` is the first bad byte.
    NotUtf8 { offset: usize },
    /// Not JSON at `line:column` of the record.
    InvalidJson { line: usize, column: usize },
    /// The record ends in the middle of a JSON value.
    TruncatedJson,
    /// Reading number `index` (from 1) in the record is a JSON value but not an object.
    NotAnObject { index: usize, kind: &'static str },
    /// A known measure is present but not a JSON number (or out of the f64 range).
    NotANumber { index: usize, field: &'static str, kind: &'static str },
    /// `TIME` is present but not an ISO-8601 / RFC 3339 timestamp.
    BadTime { index: usize },
    /// `device_id` is present but not a string.
    BadDeviceId { index: usize },
    /// `seq` is present but not a non-negative integer.
    BadSeq { index: usize },
    /// The reading carries a field the transform reserves for itself.
    ReservedField { index: usize, field: &'static str },
    /// The record names the IoT rule's envelope field but is not a valid envelope (see [`crate::envelope`]).
    BadEnvelope,
    /// Partitioning by reading time: reading `index` is in another hour than the record's first reading, and
    /// one record goes to one partition. Not bad data: the batch log counts it apart (`spanning_hours`).
    SpansHours { index: usize, first: Hour, second: Hour },
}

impl Reject {
    /// A short stable code for grouping (log fields, error-record counts).
    pub fn code(&self) -> &'static str {
        match self {
            Reject::InvalidBase64 => "invalid_base64",
            Reject::NotUtf8 { .. } => "not_utf8",
            Reject::InvalidJson { .. } => "invalid_json",
            Reject::TruncatedJson => "truncated_json",
            Reject::NotAnObject { .. } => "not_an_object",
            Reject::NotANumber { .. } => "not_a_number",
            Reject::BadTime { .. } => "bad_time",
            Reject::BadDeviceId { .. } => "bad_device_id",
            Reject::BadSeq { .. } => "bad_seq",
            Reject::ReservedField { .. } => "reserved_field",
            Reject::BadEnvelope => "bad_envelope",
            Reject::SpansHours { .. } => "spans_hours",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::InvalidBase64 => write!(f, "record data is not valid base64"),
            Reject::NotUtf8 { offset } => write!(f, "record is not UTF-8 (first bad byte at offset {offset})"),
            Reject::InvalidJson { line, column } => write!(f, "record is not JSON (at line {line}, column {column})"),
            Reject::TruncatedJson => write!(f, "record ends inside a JSON value"),
            Reject::NotAnObject { index, kind } => write!(f, "reading {index} is a JSON {kind}, not an object"),
            Reject::NotANumber { index, field, kind } => {
                write!(f, "reading {index}: field {field} is a {kind}, not a number")
            }
            Reject::BadTime { index } => write!(f, "reading {index}: field TIME is not an ISO-8601 timestamp"),
            Reject::BadDeviceId { index } => write!(f, "reading {index}: field device_id is not a string"),
            Reject::BadSeq { index } => write!(f, "reading {index}: field seq is not a non-negative integer"),
            Reject::ReservedField { index, field } => {
                write!(f, "reading {index}: field {field} is reserved for the pipeline")
            }
            Reject::BadEnvelope => write!(
                f,
                "record names {} but is not an envelope (a base64 payload, the topic's device_id and reprocess's count, \
                 nothing else)",
                PAYLOAD_FIELD
            ),
            Reject::SpansHours { index, first, second } => write!(
                f,
                "reading {index} is in the hour {second}, reading 1 in the hour {first}: a record's readings go to \
                 one hour's partition"
            ),
        }
    }
}

impl std::error::Error for Reject {}

/// True when `s` is a timestamp the schema accepts for `TIME`: `YYYY-MM-DD` then `T` (or a space),
/// `HH:MM:SS`, an optional fraction of 1-9 digits, and an optional zone (`Z` or `±HH:MM`).
///
/// The scanner checks `TIME` with [`crate::time`]'s parser, which also yields the instant.
pub fn is_valid_time(s: &str) -> bool {
    crate::time::parse_utc_ms(s.as_bytes()).is_some()
}

/// A schema problem in one reading, before the reading's index is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Problem {
    NotANumber(&'static str, &'static str),
    BadTime,
    BadDeviceId,
    BadSeq,
    Reserved(&'static str),
}

impl Problem {
    pub(crate) fn at(self, index: usize) -> Reject {
        match self {
            Problem::NotANumber(field, kind) => Reject::NotANumber { index, field, kind },
            Problem::BadTime => Reject::BadTime { index },
            Problem::BadDeviceId => Reject::BadDeviceId { index },
            Problem::BadSeq => Reject::BadSeq { index },
            Problem::Reserved(field) => Reject::ReservedField { index, field },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_original_and_rfc3339_times() {
        assert!(is_valid_time("2026-11-25T21:00:00.123456"));
        assert!(is_valid_time("2026-11-25T21:00:00"));
        assert!(is_valid_time("2026-11-25 21:00:00.5"));
        assert!(is_valid_time("2026-11-25T21:00:00Z"));
        assert!(is_valid_time("2026-11-25T21:00:00.123+05:30"));
        assert!(is_valid_time("2028-02-29T23:59:60.999999999-08:00"));
    }

    #[test]
    fn rejects_non_timestamps() {
        for bad in [
            "",
            "yesterday",
            "2026-13-25T21:00:00",
            "2026-11-25",
            "2026-11-25T25:00:00",
            "1764104400",
            "2026-02-29T00:00:00",
            "2026-11-25T21:00:00.",
            "2026-11-25T21:00:00+0100",
            "2026-11-25T21:00:00Zx",
            "2026-11-25T21:00:00.1234567890",
            "2026-11-25x21:00:00",
        ] {
            assert!(!is_valid_time(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn reject_messages_never_carry_values() {
        let r = Reject::NotANumber { index: 2, field: "NO2", kind: "string" };
        assert_eq!(r.to_string(), "reading 2: field NO2 is a string, not a number");
        assert_eq!(r.code(), "not_a_number");
    }
}
