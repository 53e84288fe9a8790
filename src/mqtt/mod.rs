//! MQTT ingress, the same on both targets: the topic a device publishes to, the rule that turns a message into
//! a delivery-stream record (AWS IoT Core's topic rule in templates/pipeline.yaml; the local broker applies
//! [`record`] itself), and IoT Core's limits that both honour.

pub mod identity;
pub mod sink;

/// IoT Core's largest publish payload.
pub const MAX_PAYLOAD: usize = 128 * 1024;
/// IoT Core's publishes per second per connection.
pub const MAX_PUBLISHES_PER_SECOND: f64 = 100.0;
/// IoT Core's unacknowledged QoS 1 publishes per client.
pub const MAX_INFLIGHT: u16 = 100;
/// The port of MQTT over TLS with a client certificate (IoT Core) and of plain MQTT (the local broker).
pub const TLS_PORT: u16 = 8883;
pub const PLAIN_PORT: u16 = 1883;

/// The topic `device` publishes its readings to: `<stack>/<device>/readings`.
pub fn topic(stack: &str, device: &str) -> String {
    format!("{stack}/{device}/readings")
}

/// The filter the rule selects: `<stack>/+/readings`.
pub fn filter(stack: &str) -> String {
    format!("{stack}/+/readings")
}

/// The topic rule's name: IoT allows only letters, digits and `_` (a stack name's `-` becomes `_`).
pub fn rule_name(stack: &str) -> String {
    format!("{}_readings", stack.replace('-', "_"))
}

/// The device a topic names, when the rule selects it: `<stack>/<device>/readings`, or the same behind IoT
/// Basic Ingest's `$aws/rules/<rule>/` (which skips the message broker and its charge).
pub fn device_of<'a>(stack: &str, topic: &'a str) -> Option<&'a str> {
    let basic = format!("$aws/rules/{}/", rule_name(stack));
    let topic = topic.strip_prefix(basic.as_str()).unwrap_or(topic);
    let mut levels = topic.split('/');
    match (levels.next(), levels.next(), levels.next(), levels.next()) {
        (Some(s), Some(device), Some("readings"), None) if s == stack && !device.is_empty() => Some(device),
        _ => None,
    }
}

/// The record the rule makes of one message from `device` (`SELECT *, topic(2) AS device_id`, newline
/// separator): a JSON object's bytes unchanged with `"device_id":"<device>"` appended — last, so it is the value
/// the transform keeps even when the payload claims another id — and a newline. Anything else (not an object)
/// goes through as it came, so the transform sends it to the error prefix.
pub fn record(device: &str, payload: &[u8], out: &mut Vec<u8>) {
    let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
    let trimmed = payload.trim_ascii_end();
    let body = trimmed.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(trimmed).trim_ascii_start();
    out.reserve(payload.len() + device.len() + 16);
    if body.starts_with(b"{") && trimmed.ends_with(b"}") {
        let open = &trimmed[..trimmed.len() - 1];
        out.extend_from_slice(open);
        let empty = open.trim_ascii_end().ends_with(b"{");
        if !empty {
            out.push(b',');
        }
        out.extend_from_slice(b"\"device_id\":");
        serde_json::to_writer(&mut *out, device).expect("a string serializes into a Vec");
        out.push(b'}');
    } else {
        out.extend_from_slice(payload);
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(device: &str, payload: &[u8]) -> String {
        let mut out = Vec::new();
        record(device, payload, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_topic_names_the_device() {
        assert_eq!(topic("reaqtions", "aq-0001"), "reaqtions/aq-0001/readings");
        assert_eq!(device_of("reaqtions", "reaqtions/aq-0001/readings"), Some("aq-0001"));
        assert_eq!(device_of("reaqtions", "$aws/rules/reaqtions_readings/reaqtions/aq-7/readings"), Some("aq-7"));
        for other in ["other/aq-1/readings", "reaqtions/aq-1/status", "reaqtions//readings", "reaqtions/a/b/readings"] {
            assert_eq!(device_of("reaqtions", other), None, "{other}");
        }
        assert_eq!(rule_name("my-stack-2"), "my_stack_2_readings");
    }

    #[test]
    fn the_rule_appends_the_topic_device_and_keeps_the_payload() {
        // The original fleet's payload: no device id, no newline.
        assert_eq!(
            rule("aq-1", br#"{"TIME": "t", "NO2": 1.5}"#),
            "{\"TIME\": \"t\", \"NO2\": 1.5,\"device_id\":\"aq-1\"}\n"
        );
        assert_eq!(rule("aq-1", b"{ }\n"), "{ \"device_id\":\"aq-1\"}\n");
        // A payload that claims another device: the topic's id comes last, and last wins in the transform.
        let claimed = rule("aq-1", br#"{"device_id":"aq-9","TIME":"2026-11-26T07:00:00.000000"}"#);
        let mut scratch = Vec::new();
        reaqtions_lambda::transform_record(claimed.as_bytes(), 0, &mut scratch).unwrap();
        let line: serde_json::Value = serde_json::from_slice(scratch.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(line["device_id"], "aq-1");
        // Not an object: through as it came, for the error prefix.
        assert_eq!(rule("aq-1", b"NO2=??"), "NO2=??\n");
        assert_eq!(rule("a\"b", b"{}"), "{\"device_id\":\"a\\\"b\"}\n");
    }
}
