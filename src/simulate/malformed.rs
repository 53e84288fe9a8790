//! Deliberately bad payloads, one of each kind the transform rejects. Each still names its device, seq and
//! run in plain text so `--verify` can find it under `error/` from the raw bytes.

/// The kinds, in the order they are cycled through.
pub(crate) const KINDS: [&str; 6] =
    ["not-json", "not-an-object", "measure-not-a-number", "bad-time", "not-utf8", "truncated-json"];

/// Appends malformed payload number `n` (its kind cycles through [`KINDS`]) and a newline; returns the kind.
pub(crate) fn write(n: u64, device: &str, seq: u64, run: &str, out: &mut Vec<u8>) -> &'static str {
    let ids = format!("\"device_id\":\"{device}\",\"seq\":{seq},\"sim_run\":\"{run}\"");
    let kind = KINDS[(n % KINDS.len() as u64) as usize];
    match kind {
        "not-json" => out.extend_from_slice(format!("device_id={device};seq={seq};sim_run={run};NO2=??").as_bytes()),
        "not-an-object" => out.extend_from_slice(format!("[{{{ids},\"NO2\":12.5}}]").as_bytes()),
        "measure-not-a-number" => out.extend_from_slice(format!("{{{ids},\"PM2_5\":\"n/a\"}}").as_bytes()),
        "bad-time" => out.extend_from_slice(format!("{{{ids},\"TIME\":\"25/11/2026 21:00\"}}").as_bytes()),
        "not-utf8" => {
            out.extend_from_slice(format!("{{{ids},\"note\":\"").as_bytes());
            out.extend_from_slice(b"\xff\xfe\"}");
        }
        _ => out.extend_from_slice(format!("{{{ids},\"NO2\":").as_bytes()),
    }
    out.push(b'\n');
    kind
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::key_in;

    #[test]
    fn every_kind_is_rejected_by_the_transform_and_keeps_its_key() {
        for n in 0..KINDS.len() as u64 {
            let mut out = Vec::new();
            let kind = write(n, "aq-0003", 17 + n, "r9", &mut out);
            assert_eq!(kind, KINDS[n as usize]);
            let mut sink = Vec::new();
            let result =
                reaqtions_lambda::transform_record(&out, 0, reaqtions_lambda::Partitioning::Arrival, &mut sink);
            assert!(result.is_err(), "{kind} was accepted");
            assert_eq!(key_in(&out), Some(("aq-0003".into(), 17 + n, "r9".into())), "{kind}");
        }
    }

    #[test]
    fn keys_from_transformed_lines() {
        let line = br#"{"device_id":"aq-0001","seq":5,"sim_run":"ab12","TIME":"x","_firehose_arrival":"y"}"#;
        assert_eq!(key_in(line), Some(("aq-0001".into(), 5, "ab12".into())));
        assert_eq!(key_in(br#"{"TIME":"2026"}"#), None);
    }
}
