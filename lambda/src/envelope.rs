//! The IoT rule's envelope: what the stack's topic rule sends to the stream for each MQTT message, so that any
//! payload reaches it with its device. AWS IoT's rules engine can add fields to `*` only for a JSON object
//! payload; `SELECT encode(*, 'base64') AS reaqtions_iot_payload, topic(2) AS device_id` works for every
//! payload, JSON or not. The transform opens it (the device from the topic, deterministically), the local
//! broker seals messages the same way, and whatever reads `error/` opens it back to the device and the bytes.

use std::sync::LazyLock;

use base64_simd::STANDARD as B64;
use serde::Deserialize;

use crate::schema::{PAYLOAD_FIELD, Reject};

/// The IoT SQL that makes the envelope, for a rule selecting `topic_filter` (device id = the topic's 2nd level).
pub fn rule_sql(topic_filter: &str) -> String {
    format!("SELECT encode(*, 'base64') AS {PAYLOAD_FIELD}, topic(2) AS device_id FROM '{topic_filter}'")
}

/// One MQTT message as the rule delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The topic's device; `None` for a Direct-PUT record `reprocess` sealed to count its resends.
    pub device_id: Option<String>,
    /// The message payload, byte for byte.
    pub payload: Vec<u8>,
    /// How many times `reprocess` has sent this record again.
    pub reprocessed: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    reaqtions_iot_payload: String,
    device_id: Option<String>,
    reaqtions_reprocessed: Option<u32>,
}

/// [`PAYLOAD_FIELD`] as a JSON key, looked for in every record (a constant: no allocation on the hot path).
const MARKER: &[u8] = b"\"reaqtions_iot_payload\"";

/// How far into a record the envelope's field name is looked for: the rule writes two fields, the other one a
/// device id of at most 128 bytes (IoT's client-id limit), in either order.
const LOOK_AHEAD: usize = 256;

/// Opens a record: `Ok(None)` when it is not an envelope (a plain reading from a Direct-PUT producer, or one a
/// rule sent before the envelope existed), `Err` when it names the envelope's field but is not a valid one.
pub fn open(record: &[u8]) -> Result<Option<Envelope>, Reject> {
    // Built once: `memmem::find` builds its searcher on every call, which cost more than the search.
    static FINDER: LazyLock<memchr::memmem::Finder<'static>> = LazyLock::new(|| memchr::memmem::Finder::new(MARKER));
    let head = &record[..record.len().min(LOOK_AHEAD)];
    if FINDER.find(head).is_none() {
        return Ok(None);
    }
    let wire: Wire = serde_json::from_slice(record).map_err(|_| Reject::BadEnvelope)?;
    let payload = B64.decode_to_vec(wire.reaqtions_iot_payload.as_bytes()).map_err(|_| Reject::BadEnvelope)?;
    Ok(Some(Envelope { device_id: wire.device_id, payload, reprocessed: wire.reaqtions_reprocessed.unwrap_or(0) }))
}

/// The record the rule makes of `payload` published on `device`'s topic (without the rule's `\n` separator).
pub fn seal(device_id: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    seal_into(device_id, payload, &mut out);
    out
}

/// [`seal`], appended to `out` (the local broker's rule writes each message straight into its batch).
/// A record `reprocess` sends again: the payload sealed with its device (when it came from a topic) and how many
/// times it has been sent again, so a record that keeps failing stops after a limit.
pub fn seal_reprocessed(device_id: Option<&str>, payload: &[u8], reprocessed: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{");
    out.extend_from_slice(MARKER);
    out.extend_from_slice(b":\"");
    B64.encode_append(payload, &mut out);
    out.push(b'"');
    if let Some(device) = device_id {
        out.extend_from_slice(b",\"device_id\":");
        serde_json::to_writer(&mut out, device).expect("a string serializes into a Vec");
    }
    out.extend_from_slice(format!(",\"reaqtions_reprocessed\":{reprocessed}}}").as_bytes());
    out
}

pub fn seal_into(device_id: &str, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() * 4 / 3 + device_id.len() + 48);
    out.extend_from_slice(b"{");
    out.extend_from_slice(MARKER);
    out.extend_from_slice(b":\"");
    B64.encode_append(payload, out);
    out.extend_from_slice(b"\",\"device_id\":");
    serde_json::to_writer(&mut *out, device_id).expect("a string serializes into a Vec");
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_any_payload() {
        assert_eq!(MARKER, format!("\"{PAYLOAD_FIELD}\"").as_bytes());
        for payload in [&b"{\"NO2\": 1}"[..], b"NO2=??", b"\xff\x00binary", b""] {
            let record = seal("aq-0001", payload);
            let opened = open(&record).unwrap().unwrap();
            assert_eq!(
                opened,
                Envelope { device_id: Some("aq-0001".into()), payload: payload.to_vec(), reprocessed: 0 }
            );
            let again = open(&seal_reprocessed(Some("aq-0001"), payload, 2)).unwrap().unwrap();
            assert_eq!(
                (again.device_id.as_deref(), again.payload.as_slice(), again.reprocessed),
                (Some("aq-0001"), payload, 2)
            );
            let plain = open(&seal_reprocessed(None, payload, 1)).unwrap().unwrap();
            assert_eq!((plain.device_id, plain.reprocessed), (None, 1));
        }
        // Either field order, and the rule's newline after it.
        let swapped = br#"{"device_id":"aq-2","reaqtions_iot_payload":"e30="}
"#;
        assert_eq!(open(swapped).unwrap().unwrap().payload, b"{}");
    }

    #[test]
    fn a_plain_reading_is_no_envelope_and_a_broken_envelope_is_refused() {
        assert_eq!(open(br#"{"device_id":"aq-1","NO2":1}"#).unwrap(), None);
        assert_eq!(open(b"not json").unwrap(), None);
        for broken in [
            &br#"{"reaqtions_iot_payload":"not base64!","device_id":"a"}"#[..],
            br#"{"reaqtions_iot_payload":"e30=","device_id":"a","NO2":1}"#,
            br#"{"reaqtions_iot_payload":"e30=","device_id":"a","reaqtions_reprocessed":-1}"#,
            br#"{"reaqtions_iot_payload":"e30=","device_id":7}"#,
        ] {
            assert_eq!(open(broken), Err(Reject::BadEnvelope), "{}", String::from_utf8_lossy(broken));
        }
    }
}
