//! Deliberately bad payloads, one of each kind the transform rejects. Each still names its device, seq and
//! run in plain text so `--verify` can find it under `error/` from the raw bytes.

/// Which of a run's readings are malformed: exactly `ratio` of `total`, rounded, and at least one when `ratio` is
/// above zero, spread evenly through the run from a start the seed picks (so each seed its own, always the same).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Share {
    malformed: u64,
    total: u64,
    shift: u64,
}

impl Share {
    pub(crate) fn new(ratio: f64, total: u64, seed: u64) -> Share {
        let malformed =
            if ratio > 0.0 && total > 0 { ((ratio * total as f64).round() as u64).clamp(1, total) } else { 0 };
        // A fixed mix of the seed (splitmix64's finaliser): a start in 0..total that differs from seed to seed.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Share { malformed, total, shift: if total > 0 { z % total } else { 0 } }
    }

    /// Whether reading number `n` (from 0, in the order the run makes them) is malformed.
    pub(crate) fn is_malformed(&self, n: u64) -> bool {
        if self.malformed == 0 || n >= self.total {
            return false;
        }
        let m = u128::from((n + self.shift) % self.total);
        let (k, t) = (u128::from(self.malformed), u128::from(self.total));
        (m + 1) * k / t > m * k / t
    }
}

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

    #[test]
    fn the_share_is_exact_at_least_one_and_the_same_under_a_seed() {
        for (ratio, total, want) in
            [(0.05, 50, 3), (0.05, 10, 1), (0.01, 10, 1), (0.5, 7, 4), (1.0, 9, 9), (0.0, 50, 0)]
        {
            for seed in [1, 2, 42] {
                let share = Share::new(ratio, total, seed);
                let picked: Vec<u64> = (0..total).filter(|n| share.is_malformed(*n)).collect();
                assert_eq!(picked.len() as u64, want, "{ratio} of {total}, seed {seed}: {picked:?}");
                let again: Vec<u64> = (0..total).filter(|n| Share::new(ratio, total, seed).is_malformed(*n)).collect();
                assert_eq!(picked, again, "deterministic under the seed");
            }
        }
        let a: Vec<u64> = (0..50).filter(|n| Share::new(0.05, 50, 1).is_malformed(*n)).collect();
        let b: Vec<u64> = (0..50).filter(|n| Share::new(0.05, 50, 2).is_malformed(*n)).collect();
        assert_ne!(a, b, "another seed, other readings");
        // Spread through the run, not bunched: 10 of 1,000 fall one in every hundred.
        let spread: Vec<u64> = (0..1000).filter(|n| Share::new(0.01, 1000, 7).is_malformed(*n)).collect();
        assert!(spread.windows(2).all(|w| w[1] - w[0] == 100), "{spread:?}");
    }
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
