//! The air-quality reading schema: which fields are known, what type each must have, and why a reading is
//! rejected. Validation never allocates per field and never copies values into error messages.
//!
//! A reading is a JSON object. Known measures must be JSON numbers when present; `TIME`, when present, must be
//! an ISO-8601 timestamp, either local without zone (`2026-11-25T21:00:00.123456`, the original devices) or
//! RFC 3339 with a zone (new devices); `device_id` must be a string and `seq` a non-negative integer. Any other
//! field is kept as sent. Nothing is required: the original devices send no `device_id`.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The numeric measures of the original payload, in the original order (after `TIME`).
pub const MEASURES: [&str; 12] =
    ["USER_INPUT", "NO2", "CO", "PM01", "PM2_5", "PM10", "AQI", "eCO2", "TVOC", "P", "T", "RH"];

/// The field the transform adds to every reading: Firehose's arrival time (RFC 3339, UTC, milliseconds).
/// A reading that already carries it is rejected, so an added field can never shadow a device field.
pub const ARRIVAL_FIELD: &str = "_firehose_arrival";

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
        }
    }
}

impl std::error::Error for Reject {}

/// True when `s` is a timestamp the schema accepts for `TIME`.
pub fn is_valid_time(s: &str) -> bool {
    const NAIVE: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];
    // Cheap shape check first: every accepted form starts with `YYYY-MM-DD`.
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || NAIVE.iter().any(|fmt| chrono::NaiveDateTime::parse_from_str(s, fmt).is_ok())
}

/// The outcome of checking one JSON value that should be a reading.
#[derive(Debug)]
pub(crate) enum Verdict {
    Valid,
    /// A rejection without the reading's index (filled in by the caller).
    Invalid(Problem),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Problem {
    NotAnObject(&'static str),
    NotANumber(&'static str, &'static str),
    BadTime,
    BadDeviceId,
    BadSeq,
    Reserved(&'static str),
}

impl Problem {
    pub(crate) fn at(self, index: usize) -> Reject {
        match self {
            Problem::NotAnObject(kind) => Reject::NotAnObject { index, kind },
            Problem::NotANumber(field, kind) => Reject::NotANumber { index, field, kind },
            Problem::BadTime => Reject::BadTime { index },
            Problem::BadDeviceId => Reject::BadDeviceId { index },
            Problem::BadSeq => Reject::BadSeq { index },
            Problem::Reserved(field) => Reject::ReservedField { index, field },
        }
    }
}

impl<'de> de::Deserialize<'de> for Verdict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ReadingVisitor)
    }
}

/// What a field's value must be.
#[derive(Clone, Copy)]
enum Want {
    Number,
    Time,
    Str,
    UInt,
}

/// A field name, classified without allocating.
enum Key {
    Measure(&'static str),
    Time,
    DeviceId,
    Seq,
    Reserved,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(match s {
                    "TIME" => Key::Time,
                    "device_id" => Key::DeviceId,
                    "seq" => Key::Seq,
                    ARRIVAL_FIELD => Key::Reserved,
                    _ => MEASURES.iter().find(|m| **m == s).map_or(Key::Other, |m| Key::Measure(m)),
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Visits one field value and reports whether it has the wanted type, or the JSON kind it has instead.
/// Containers are drained so the surrounding parse continues.
struct ValueCheck(Want);

type Checked = Result<(), &'static str>;

impl<'de> DeserializeSeed<'de> for ValueCheck {
    type Value = Checked;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Checked, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueCheck {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Err("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(match self.0 {
            Want::Number => Ok(()),
            Want::UInt => Err("negative number"),
            _ => Err("number"),
        })
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(match self.0 {
            Want::Number | Want::UInt => Ok(()),
            _ => Err("number"),
        })
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(match self.0 {
            Want::Number => Ok(()),
            Want::UInt => Err("fractional number"),
            _ => Err("number"),
        })
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Checked, E> {
        Ok(match self.0 {
            Want::Str => Ok(()),
            Want::Time if is_valid_time(s) => Ok(()),
            _ => Err("string"),
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Err("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err("array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err("object"))
    }
}

/// Visits a top-level value: an object is checked field by field, anything else is `NotAnObject`.
struct ReadingVisitor;

impl<'de> Visitor<'de> for ReadingVisitor {
    type Value = Verdict;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Verdict, A::Error> {
        let mut problem = None;
        while let Some(key) = map.next_key::<Key>()? {
            let (want, on_wrong): (Want, fn(&'static str) -> Problem) = match key {
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Key::Reserved => {
                    map.next_value::<IgnoredAny>()?;
                    problem.get_or_insert(Problem::Reserved(ARRIVAL_FIELD));
                    continue;
                }
                Key::Measure(field) => {
                    let checked = map.next_value_seed(ValueCheck(Want::Number))?;
                    if let Err(kind) = checked {
                        problem.get_or_insert(Problem::NotANumber(field, kind));
                    }
                    continue;
                }
                Key::Time => (Want::Time, |_| Problem::BadTime),
                Key::DeviceId => (Want::Str, |_| Problem::BadDeviceId),
                Key::Seq => (Want::UInt, |_| Problem::BadSeq),
            };
            if let Err(kind) = map.next_value_seed(ValueCheck(want))? {
                problem.get_or_insert(on_wrong(kind));
            }
        }
        Ok(problem.map_or(Verdict::Valid, Verdict::Invalid))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Verdict, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Verdict::Invalid(Problem::NotAnObject("array")))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Verdict, E> {
        Ok(Verdict::Invalid(Problem::NotAnObject("boolean")))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Verdict, E> {
        Ok(Verdict::Invalid(Problem::NotAnObject("number")))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Verdict, E> {
        Ok(Verdict::Invalid(Problem::NotAnObject("number")))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Verdict, E> {
        Ok(Verdict::Invalid(Problem::NotAnObject("number")))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Verdict, E> {
        Ok(Verdict::Invalid(Problem::NotAnObject("string")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Verdict, E> {
        Ok(Verdict::Invalid(Problem::NotAnObject("null")))
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
    }

    #[test]
    fn rejects_non_timestamps() {
        for bad in ["", "yesterday", "2026-13-25T21:00:00", "2026-11-25", "2026-11-25T25:00:00", "1764104400"] {
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
