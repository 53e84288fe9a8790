//! MQTT ingress, the same on both targets: the topic a device publishes to, the rule that turns a message into
//! a delivery-stream record (AWS IoT Core's topic rule in templates/pipeline.yaml, whose SQL is [`rule_sql`];
//! the local broker applies [`record`] itself); IoT Core's limits are in [`crate::limits`].

pub(crate) mod identity;
pub mod sink;

/// The port of MQTT over TLS with a client certificate (IoT Core) and of plain MQTT (the local broker).
pub(crate) const TLS_PORT: u16 = 8883;
pub(crate) const PLAIN_PORT: u16 = 1883;

/// The topic `device` publishes its readings to: `<stack>/<device>/readings`.
pub(crate) fn topic(stack: &str, device: &str) -> String {
    format!("{stack}/{device}/readings")
}

/// The filter the rule selects: `<stack>/+/readings`.
pub(crate) fn filter(stack: &str) -> String {
    format!("{stack}/+/readings")
}

/// The topic rule's name: IoT allows only letters, digits and `_` (a stack name's `-` becomes `_`).
pub(crate) fn rule_name(stack: &str) -> String {
    format!("{}_readings", stack.replace('-', "_"))
}

/// The device a topic names, when the rule selects it: `<stack>/<device>/readings`, or the same behind IoT
/// Basic Ingest's `$aws/rules/<rule>/` (which skips the message broker and its charge).
pub(crate) fn device_of<'a>(stack: &str, topic: &'a str) -> Option<&'a str> {
    let basic = format!("$aws/rules/{}/", rule_name(stack));
    let topic = topic.strip_prefix(basic.as_str()).unwrap_or(topic);
    let mut levels = topic.split('/');
    match (levels.next(), levels.next(), levels.next(), levels.next()) {
        (Some(s), Some(device), Some("readings"), None) if s == stack && !device.is_empty() => Some(device),
        _ => None,
    }
}

/// The SQL of the topic rule (templates/pipeline.yaml): every message as the envelope of
/// [`reaqtions_lambda::envelope`], its bytes base64 beside the topic's device, whatever the payload is.
pub fn rule_sql(stack: &str) -> String {
    reaqtions_lambda::envelope::rule_sql(&filter(stack))
}

/// The record the rule makes of one message from `device`: the envelope and the rule's `\n` separator. The
/// transform opens it and gives every reading the topic's device, so a payload cannot speak for another device
/// and one that is not a reading reaches `error/` with its bytes and its device.
pub(crate) fn record(device: &str, payload: &[u8], out: &mut Vec<u8>) {
    reaqtions_lambda::envelope::seal_into(device, payload, out);
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
    fn the_rule_envelopes_every_payload_with_its_topic_device() {
        for payload in [&br#"{"TIME": "t", "NO2": 1.5}"#[..], b"NO2=??", b"\xff", b""] {
            let r = rule("aq-1", payload);
            assert!(r.ends_with('\n'), "the rule's separator");
            let opened = reaqtions_lambda::envelope::open(r.as_bytes()).unwrap().unwrap();
            assert_eq!((opened.device_id.as_deref(), opened.payload.as_slice()), (Some("aq-1"), payload));
        }
        // A payload that claims another device lands as the topic's.
        let claimed = rule("aq-1", br#"{"device_id":"aq-9","TIME":"2026-11-26T07:00:00.000000"}"#);
        let mut scratch = Vec::new();
        reaqtions_lambda::transform_record(
            claimed.as_bytes(),
            0,
            reaqtions_lambda::Partitioning::Arrival,
            &mut scratch,
        )
        .unwrap();
        let line: serde_json::Value = serde_json::from_slice(scratch.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(line["device_id"], "aq-1");
        assert_eq!(
            rule_sql("reaqtions"),
            format!(
                "SELECT encode(*, 'base64') AS reaqtions_iot_payload, topic(2) AS device_id FROM 'reaqtions/+/readings'"
            )
        );
    }
}
