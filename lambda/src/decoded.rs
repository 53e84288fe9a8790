//! The Firehose event as the bootstrap reads it. While serde_json parses the request body, each record's `data`
//! is decoded from base64 straight into megabyte chunks (each record followed by the fast path's padding) and
//! each `recordId` appended to one string: a few buffers instead of two owned `String`s per record, and no second
//! pass over the data to decode it. It takes exactly what [`FirehoseEvent`] takes — the same required
//! fields, the same types, a field twice refused, unknown fields ignored — so the function refuses the same
//! malformed events as before (but for one corner no JSON writer makes, see [`Base64`]).

use std::fmt;
use std::ops::Range;

use base64_simd::STANDARD as B64;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::FirehoseEvent;
use crate::fast::{self, Padded};

/// A Firehose event with every record's data decoded (see the module docs).
#[derive(Debug, Default)]
pub struct DecodedEvent {
    pub invocation_id: String,
    /// Every record's decoded data, each followed by the fast path's padding, in chunks of at least [`CHUNK`]
    /// bytes: a record's decoded size is known before it is decoded, so no chunk ever grows (and moves).
    chunks: Vec<Vec<u8>>,
    /// Every record's id, and the data of a record that was not base64 (answered as it came).
    text: String,
    records: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    /// In `text`.
    id: Range<usize>,
    arrival_ms: f64,
    data: Data,
}

#[derive(Debug, Clone)]
enum Data {
    /// In `chunks[.0]`, padding after.
    Decoded(usize, Range<usize>),
    /// Not base64: the text as it came, in `text`.
    NotBase64(Range<usize>),
}

/// One record of a [`DecodedEvent`].
pub(crate) struct Record<'a> {
    pub(crate) id: &'a str,
    /// Milliseconds since the Unix epoch, as Firehose sends them.
    pub(crate) arrival_ms: f64,
    /// The decoded bytes, or the text that was not base64.
    pub(crate) data: Result<Padded<'a>, &'a str>,
}

impl DecodedEvent {
    /// How many records the event holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub(crate) fn records(&self) -> impl Iterator<Item = Record<'_>> {
        self.records.iter().map(|entry| Record {
            id: &self.text[entry.id.clone()],
            arrival_ms: entry.arrival_ms,
            data: match &entry.data {
                Data::Decoded(chunk, range) => {
                    let padded = &self.chunks[*chunk][range.start..range.end + fast::PAD];
                    Ok(Padded::new(padded).expect("padded when decoded"))
                }
                Data::NotBase64(range) => Err(&self.text[range.clone()]),
            },
        })
    }

    /// The event as the bootstrap would read `event`'s JSON (for tests and benchmarks).
    pub fn from_event(event: &FirehoseEvent) -> Self {
        let mut decoded = DecodedEvent { invocation_id: event.invocation_id.clone(), ..Default::default() };
        for record in &event.records {
            let id = decoded.push_text(&record.record_id);
            let data = decoded.push_data(record.data.as_bytes(), || Ok::<_, std::convert::Infallible>(&record.data));
            let Ok(data) = data;
            decoded.records.push(Entry { id, arrival_ms: record.approximate_arrival_timestamp, data });
        }
        decoded
    }

    fn push_text(&mut self, text: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }

    /// Decodes `base64` into the data; when it is not base64, keeps `text()` (its text, or why it is none).
    fn push_data<'t, E>(&mut self, base64: &'t [u8], text: impl FnOnce() -> Result<&'t str, E>) -> Result<Data, E> {
        let most = B64.estimated_decoded_length(base64.len()) + fast::PAD;
        if self.chunks.last().is_none_or(|chunk| chunk.capacity() - chunk.len() < most) {
            self.chunks.push(Vec::with_capacity(most.max(CHUNK)));
        }
        let chunk = self.chunks.len() - 1;
        let data = &mut self.chunks[chunk];
        let start = data.len();
        match B64.decode_append(base64, data) {
            Ok(()) => {
                let end = data.len();
                fast::pad(data);
                Ok(Data::Decoded(chunk, start..end))
            }
            Err(_) => {
                data.truncate(start);
                Ok(Data::NotBase64(self.push_text(text()?)))
            }
        }
    }
}

/// The least capacity of a chunk of decoded data: hundreds of the usual records, a few chunks for a batch.
const CHUNK: usize = 1 << 20;

const EVENT_FIELDS: &[&str] = &["invocationId", "deliveryStreamArn", "sourceKinesisStreamArn", "region", "records"];
const RECORD_FIELDS: &[&str] = &["recordId", "approximateArrivalTimestamp", "data"];

impl<'de> Deserialize<'de> for DecodedEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("FirehoseEvent", EVENT_FIELDS, EventVisitor)
    }
}

/// A field name: its index in `fields`, `None` for a field no one reads.
struct FieldName(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for FieldName {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|field| *field == name))
    }

    fn visit_bytes<E: de::Error>(self, name: &[u8]) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|field| field.as_bytes() == name))
    }
}

/// Fails on a field seen before, as serde's derived structs do.
fn first<E: de::Error>(seen: &mut u8, index: usize, fields: &'static [&'static str]) -> Result<(), E> {
    if *seen & (1 << index) != 0 {
        return Err(E::duplicate_field(fields[index]));
    }
    *seen |= 1 << index;
    Ok(())
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = DecodedEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct FirehoseEvent")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DecodedEvent, A::Error> {
        let mut event = DecodedEvent::default();
        let mut seen = 0;
        while let Some(field) = map.next_key_seed(FieldName(EVENT_FIELDS))? {
            let Some(index) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            first(&mut seen, index, EVENT_FIELDS)?;
            match index {
                0 => event.invocation_id = map.next_value()?,
                // Read for their types only, as the typed event reads them.
                1 | 3 => drop(map.next_value::<String>()?),
                2 => drop(map.next_value::<Option<String>>()?),
                _ => map.next_value_seed(Records(&mut event))?,
            }
        }
        if seen & (1 << 4) == 0 {
            return Err(de::Error::missing_field("records"));
        }
        Ok(event)
    }
}

struct Records<'e>(&'e mut DecodedEvent);

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element_seed(RecordSeed(&mut *self.0))? {
            self.0.records.push(entry);
        }
        Ok(())
    }
}

struct RecordSeed<'e>(&'e mut DecodedEvent);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Entry;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Entry, D::Error> {
        deserializer.deserialize_struct("FirehoseRecord", RECORD_FIELDS, self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct FirehoseRecord")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let (mut id, mut arrival_ms, mut data, mut seen) = (None, 0.0, None, 0);
        while let Some(field) = map.next_key_seed(FieldName(RECORD_FIELDS))? {
            let Some(index) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            first(&mut seen, index, RECORD_FIELDS)?;
            match index {
                0 => id = Some(map.next_value_seed(Id(&mut *self.0))?),
                1 => arrival_ms = map.next_value()?,
                _ => data = Some(map.next_value_seed(Base64(&mut *self.0))?),
            }
        }
        let id = id.ok_or_else(|| de::Error::missing_field("recordId"))?;
        let data = data.ok_or_else(|| de::Error::missing_field("data"))?;
        Ok(Entry { id, arrival_ms, data })
    }
}

/// A record's id, appended to the event's text.
struct Id<'e>(&'e mut DecodedEvent);

impl<'de> DeserializeSeed<'de> for Id<'_> {
    type Value = Range<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Range<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Id<'_> {
    type Value = Range<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, id: &str) -> Result<Range<usize>, E> {
        Ok(self.0.push_text(id))
    }
}

/// A record's data, decoded into the event's data as serde_json hands it over. It is asked for as bytes, which
/// serde_json finds with `memchr` and hands over unchecked: base64 is ASCII, so data that decodes needs no UTF-8
/// or control-character check, and data that does not is checked here as the typed event's `String` is — with
/// one leniency: in data that holds an escape (serde_json then hands over the unescaped bytes), a raw control
/// character cannot be told from an escaped one, and is taken (a JSON writer never leaves one raw).
struct Base64<'e>(&'e mut DecodedEvent);

impl<'de> DeserializeSeed<'de> for Base64<'_> {
    type Value = Data;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Data, D::Error> {
        deserializer.deserialize_bytes(self)
    }
}

impl Base64<'_> {
    /// `bytes` as the text of a string: UTF-8, and (`raw`: as written in the JSON) no control character.
    fn text<E: de::Error>(bytes: &[u8], raw: bool) -> Result<&str, E> {
        match std::str::from_utf8(bytes) {
            Ok(text) if raw && text.bytes().any(|b| b < 0x20) => {
                Err(E::custom("control character (\\u0000-\\u001F) found while parsing a string"))
            }
            Ok(text) => Ok(text),
            Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(bytes), &"a string")),
        }
    }
}

impl<'de> Visitor<'de> for Base64<'_> {
    type Value = Data;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, base64: &str) -> Result<Data, E> {
        self.0.push_data(base64.as_bytes(), || Ok(base64))
    }

    /// The string as written (it held no escape).
    fn visit_borrowed_bytes<E: de::Error>(self, base64: &'de [u8]) -> Result<Data, E> {
        self.0.push_data(base64, || Base64::text(base64, true))
    }

    /// The string with its escapes undone.
    fn visit_bytes<E: de::Error>(self, base64: &[u8]) -> Result<Data, E> {
        self.0.push_data(base64, || Base64::text(base64, false))
    }
}
