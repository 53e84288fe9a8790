//! Copies of a reading in the lake: which lines are one reading (its key), which of them repeat a reading already
//! seen byte for byte (copies, dropped) and which share its key with other values (conflicts, kept). Retries of
//! Firehose (at least once), of a producer and `simulate --resend` put copies there; docs/analysing.md states the
//! rule for people who query the lake themselves, and `report --engine athena` applies it in SQL (report/sql.rs).
//!
//! The key: `(device_id, sim_run, seq)` for a reading that carries a `seq` (the simulator's, restarting with
//! every run), else `(device_id, TIME)` with the time text the device sent. Not `_reading_time`: where the
//! device's clock is not believed (or it sent no time) that follows the arrival, which differs between copies, so
//! copies would never meet. A reading without a device id, or without a seq and a `TIME`, has no key and is never
//! merged. The content compared is the line's bytes without the two fields the pipeline
//! adds (`_firehose_arrival` differs between copies by construction; `_reading_time` follows it when the
//! device's clock is not believed).
//!
//! Memory: one entry per keyed reading — a 4-byte group (device and run, interned once), the 64-bit seq or hash
//! of the time text and a 64-bit hash of the content, 20 bytes, plus a control byte per bucket: 24 to 48 bytes
//! per reading as the table fills between doublings, the same for both key kinds (44.0 measured for 1,000,000
//! readings from 100 devices; `Copies::heap_bytes`, the test below and `bench copies`).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher as _, Hasher as _};

use foldhash::{fast, quality};

use memchr::memmem::Finder;
use serde_json::{Map, Value};

/// What a reading's line is, against the lines seen before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first line with its key.
    First,
    /// The same reading as a line seen before (same key, same content): dropped.
    Copy,
    /// Its key was seen with other content: not a copy, kept (and counted).
    Conflict,
    /// No key (no device id, or neither seq nor time): never merged.
    Unkeyed,
}

/// Copies dropped and conflicts kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyCounts {
    pub dropped: u64,
    pub conflicts: u64,
}

/// A reading's key, as the line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadingKey<'a> {
    /// A simulated reading: its device, run (`None` when the line has no `sim_run`) and sequence number.
    Seq { device: &'a str, run: Option<&'a str>, seq: u64 },
    /// A reading without a sequence: its device and the time text it sent (`TIME`).
    Time { device: &'a str, time: &'a str },
}

/// The key of a reading's row, or `None` for a row that is never merged.
pub fn key(row: &Map<String, Value>) -> Option<ReadingKey<'_>> {
    let device = row.get("device_id").and_then(Value::as_str).filter(|d| !d.is_empty())?;
    if let Some(seq) = row.get("seq").and_then(Value::as_u64) {
        return Some(ReadingKey::Seq { device, run: row.get("sim_run").and_then(Value::as_str), seq });
    }
    let time = row.get("TIME").and_then(Value::as_str).filter(|t| !t.is_empty())?;
    Some(ReadingKey::Time { device, time })
}

/// A reading's key held compactly: the interned device (and run) and the seq or the time text's hash (12 bytes,
/// aligned to 4 so that an entry with its content hash takes 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, packed(4))]
struct Slot {
    group: u32,
    at: u64,
}

/// The seen-set of one pass over the lake, in a fixed order (object key, then line): the first line of a
/// reading is kept, later copies of it are dropped.
#[derive(Debug)]
pub struct Copies {
    /// `s` or `t`, the device, and for `s` the run (`\0`-separated), to its group number.
    groups: HashMap<Box<str>, u32, fast::RandomState>,
    /// The last group looked up and its number: a device's readings mostly come together.
    last_group: Option<(String, u32)>,
    /// Each key seen, with the content hash of its first line (as two halves, to keep the entry 4-aligned).
    first: HashMap<Slot, [u32; 2], fast::RandomState>,
    /// Further contents seen for a key (conflicts): rare.
    more: HashSet<(Slot, u64), fast::RandomState>,
    /// Hashes time texts and contents.
    hashes: quality::RandomState,
    counts: CopyCounts,
    by_device: BTreeMap<String, CopyCounts>,
    pipeline_fields: [Finder<'static>; 2],
    scratch: String,
}

impl Default for Copies {
    fn default() -> Copies {
        let finder = |field: &str| Finder::new(format!("\"{field}\":\"").as_bytes()).into_owned();
        Copies {
            groups: HashMap::default(),
            last_group: None,
            first: HashMap::default(),
            more: HashSet::default(),
            hashes: quality::RandomState::default(),
            counts: CopyCounts::default(),
            by_device: BTreeMap::new(),
            pipeline_fields: [finder(reaqtions_lambda::ARRIVAL_FIELD), finder(reaqtions_lambda::READING_TIME_FIELD)],
            scratch: String::new(),
        }
    }
}

impl Copies {
    /// Judges the next reading: its row and the line it was parsed from.
    pub fn judge(&mut self, row: &Map<String, Value>, line: &[u8]) -> Verdict {
        let Some(key) = key(row) else { return Verdict::Unkeyed };
        let content = self.content_hash(line);
        let verdict = self.judge_key(key, content);
        if matches!(verdict, Verdict::Copy | Verdict::Conflict) {
            let device = match key {
                ReadingKey::Seq { device, .. } | ReadingKey::Time { device, .. } => device,
            };
            if !self.by_device.contains_key(device) {
                self.by_device.insert(device.to_owned(), CopyCounts::default());
            }
            let counts = self.by_device.get_mut(device).expect("just inserted");
            for c in [counts, &mut self.counts] {
                if verdict == Verdict::Copy {
                    c.dropped += 1;
                } else {
                    c.conflicts += 1;
                }
            }
        }
        verdict
    }

    /// Judges a reading by its key and the hash of its content ([`Copies::content_hash`]).
    pub fn judge_key(&mut self, key: ReadingKey<'_>, content: u64) -> Verdict {
        let slot = self.slot(key);
        let halves = [content as u32, (content >> 32) as u32];
        match self.first.entry(slot) {
            Entry::Vacant(e) => {
                e.insert(halves);
                Verdict::First
            }
            Entry::Occupied(e) if *e.get() == halves => Verdict::Copy,
            Entry::Occupied(_) => {
                if self.more.insert((slot, content)) {
                    Verdict::Conflict
                } else {
                    Verdict::Copy
                }
            }
        }
    }

    fn slot(&mut self, key: ReadingKey<'_>) -> Slot {
        self.scratch.clear();
        let at = match key {
            ReadingKey::Seq { device, run, seq } => {
                self.scratch.push_str(if run.is_some() { "s\0" } else { "n\0" });
                self.scratch.push_str(device);
                self.scratch.push('\0');
                self.scratch.push_str(run.unwrap_or_default());
                seq
            }
            ReadingKey::Time { device, time } => {
                self.scratch.push_str("t\0");
                self.scratch.push_str(device);
                self.hashes.hash_one(time)
            }
        };
        if let Some((name, group)) = &self.last_group
            && *name == self.scratch
        {
            return Slot { group: *group, at };
        }
        let group = match self.groups.get(self.scratch.as_str()) {
            Some(group) => *group,
            None => {
                let group = u32::try_from(self.groups.len()).expect("fewer than 2^32 devices and runs");
                self.groups.insert(self.scratch.as_str().into(), group);
                group
            }
        };
        match &mut self.last_group {
            Some((name, last)) => {
                name.clone_from(&self.scratch);
                *last = group;
            }
            None => self.last_group = Some((self.scratch.clone(), group)),
        }
        Slot { group, at }
    }

    /// A 64-bit hash of the reading a line holds: its bytes (outer whitespace aside) without the
    /// `"_firehose_arrival":"…"` and `"_reading_time":"…"` members the pipeline adds.
    pub fn content_hash(&self, line: &[u8]) -> u64 {
        let line = line.trim_ascii();
        let mut skipped = [(0, 0); 2];
        for (span, finder) in skipped.iter_mut().zip(&self.pipeline_fields) {
            // Forward: the vectorised search beats a reverse one even though the transform appends them last.
            if let Some(start) = finder.find(line) {
                let value = start + finder.needle().len();
                if let Some(len) = memchr::memchr(b'"', &line[value..]) {
                    *span = (start, value + len + 1);
                }
            }
        }
        skipped.sort_unstable();
        let mut hasher = self.hashes.build_hasher();
        let mut from = 0;
        for (start, end) in skipped {
            if end > from && start >= from {
                hasher.write(&line[from..start]);
                from = end;
            }
        }
        hasher.write(&line[from..]);
        hasher.finish()
    }

    /// Copies dropped and conflicts kept so far.
    pub fn counts(&self) -> CopyCounts {
        self.counts
    }

    /// The same, by device (devices with neither are not listed).
    pub fn by_device(&self) -> &BTreeMap<String, CopyCounts> {
        &self.by_device
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.first.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// The heap the seen-set holds, from its tables' capacities (hashbrown's layout: one entry and one control
    /// byte per bucket, buckets a power of two at most 7/8 full) and the interned group names.
    pub fn heap_bytes(&self) -> usize {
        fn table<T>(capacity: usize) -> usize {
            if capacity == 0 {
                return 0;
            }
            let buckets = if capacity < 7 { (capacity + 1).next_power_of_two() } else { capacity * 8 / 7 };
            buckets * size_of::<T>() + buckets + 16
        }
        table::<(Slot, [u32; 2])>(self.first.capacity())
            + table::<(Slot, u64)>(self.more.capacity())
            + table::<(Box<str>, u32)>(self.groups.capacity())
            + self.groups.keys().map(|k| k.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: &str) -> Map<String, Value> {
        serde_json::from_str(line).unwrap()
    }

    fn judge_all(lines: &[&str]) -> (Vec<Verdict>, CopyCounts) {
        let mut copies = Copies::default();
        let verdicts = lines.iter().map(|l| copies.judge(&row(l), l.as_bytes())).collect();
        (verdicts, copies.counts())
    }

    #[test]
    fn the_key_is_device_run_and_seq_or_device_and_time() {
        let seq = row(r#"{"device_id":"aq-0001","seq":7,"sim_run":"r1","TIME":"x","_reading_time":"t"}"#);
        assert_eq!(key(&seq), Some(ReadingKey::Seq { device: "aq-0001", run: Some("r1"), seq: 7 }));
        let sensor =
            row(r#"{"device_id":"s-1","TIME":"2026-11-25T21:00:00","_reading_time":"2026-11-25T21:00:00.000Z"}"#);
        assert_eq!(key(&sensor), Some(ReadingKey::Time { device: "s-1", time: "2026-11-25T21:00:00" }));
        let older = row(r#"{"device_id":"s-1","TIME":"2026-11-25T21:00:00"}"#);
        assert_eq!(key(&older), Some(ReadingKey::Time { device: "s-1", time: "2026-11-25T21:00:00" }));
        // Without a time of its own, `_reading_time` is the arrival, another for every copy: no key.
        let timeless = row(r#"{"device_id":"s-1","PM2_5":4,"_reading_time":"2026-11-25T21:00:00.000Z"}"#);
        assert_eq!(key(&timeless), None);
        for never in [
            r#"{"seq":1,"sim_run":"r1","_reading_time":"t"}"#,
            r#"{"device_id":"","seq":1,"_reading_time":"t"}"#,
            r#"{"device_id":null,"_reading_time":"t"}"#,
            r#"{"device_id":"s-1","PM2_5":3}"#,
        ] {
            assert_eq!(key(&row(never)), None, "{never}");
        }
    }

    #[test]
    fn an_entry_of_the_seen_set_takes_twenty_bytes() {
        assert_eq!(size_of::<(Slot, [u32; 2])>(), 20);
    }

    #[test]
    fn copies_are_dropped_and_conflicts_kept() {
        let a = r#"{"device_id":"d","seq":1,"sim_run":"r","PM2_5":9.5,"_firehose_arrival":"2026-11-25T21:00:01.000Z","_reading_time":"2026-11-25T21:00:00.000Z"}"#;
        // The same reading delivered again: another arrival (and the reading time that follows it).
        let a_again = r#"{"device_id":"d","seq":1,"sim_run":"r","PM2_5":9.5,"_firehose_arrival":"2026-11-25T22:13:09.000Z","_reading_time":"2026-11-25T22:13:09.000Z"}"#;
        let a_other_value = r#"{"device_id":"d","seq":1,"sim_run":"r","PM2_5":12.0,"_firehose_arrival":"2026-11-25T21:00:01.000Z","_reading_time":"2026-11-25T21:00:00.000Z"}"#;
        let next_run = r#"{"device_id":"d","seq":1,"sim_run":"r2","PM2_5":9.5,"_firehose_arrival":"2026-11-25T21:00:01.000Z","_reading_time":"2026-11-25T21:00:00.000Z"}"#;
        let (verdicts, counts) = judge_all(&[a, a_again, a_other_value, a_other_value, a, next_run]);
        use Verdict::*;
        assert_eq!(verdicts, [First, Copy, Conflict, Copy, Copy, First]);
        assert_eq!(counts, CopyCounts { dropped: 3, conflicts: 1 });
    }

    #[test]
    fn readings_without_a_key_are_never_merged() {
        let no_device = r#"{"TIME":"2026-11-25T21:00:00","PM2_5":5.0,"_firehose_arrival":"2026-11-25T21:00:01.000Z","_reading_time":"2026-11-25T21:00:00.000Z"}"#;
        let (verdicts, counts) = judge_all(&[no_device, no_device]);
        assert_eq!(verdicts, [Verdict::Unkeyed, Verdict::Unkeyed]);
        assert_eq!(counts, CopyCounts::default());
    }

    #[test]
    fn a_sensor_reading_is_keyed_by_its_time() {
        let at = |t: &str, pm: f64| {
            format!(
                r#"{{"device_id":"s-1","TIME":"{t}","PM2_5":{pm},"_firehose_arrival":"2026-11-25T21:00:09.000Z","_reading_time":"{t}.000Z"}}"#
            )
        };
        let lines = [at("2026-11-25T21:00:00", 4.0), at("2026-11-25T21:00:01", 4.0), at("2026-11-25T21:00:00", 4.0)];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (verdicts, counts) = judge_all(&lines);
        assert_eq!(verdicts, [Verdict::First, Verdict::First, Verdict::Copy]);
        assert_eq!((counts.dropped, counts.conflicts), (1, 0));
    }

    #[test]
    fn copies_of_a_reading_whose_clock_is_not_believed_meet_by_its_own_time() {
        // The transform set `_reading_time` to each copy's arrival: the device's `TIME` is still one.
        let at = |arrival: &str| {
            format!(
                r#"{{"device_id":"s-1","TIME":"1970-01-01T00:00:07","PM2_5":4.0,"_firehose_arrival":"{arrival}","_reading_time":"{arrival}"}}"#
            )
        };
        let lines = [at("2026-11-25T21:00:09.000Z"), at("2026-11-25T22:30:00.000Z")];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (verdicts, counts) = judge_all(&lines);
        assert_eq!(verdicts, [Verdict::First, Verdict::Copy]);
        assert_eq!((counts.dropped, counts.conflicts), (1, 0));
    }

    #[test]
    fn the_content_leaves_out_what_the_pipeline_adds_and_nothing_else() {
        let copies = Copies::default();
        let h = |l: &str| copies.content_hash(l.as_bytes());
        let base = h(
            r#"{"device_id":"d","PM2_5":1,"_firehose_arrival":"2026-11-25T21:00:01.000Z","_reading_time":"2026-11-25T21:00:00.000Z"}"#,
        );
        assert_eq!(
            base,
            h(
                r#"  {"device_id":"d","PM2_5":1,"_firehose_arrival":"2027-01-01T00:00:00.000Z","_reading_time":"2027-01-01T00:00:00.000Z"}"#
            )
        );
        assert_ne!(
            base,
            h(
                r#"{"device_id":"d","PM2_5":2,"_firehose_arrival":"2026-11-25T21:00:01.000Z","_reading_time":"2026-11-25T21:00:00.000Z"}"#
            )
        );
        assert_ne!(h(r#"{"device_id":"d","PM2_5":1}"#), h(r#"{"device_id":"d","PM2_5":2}"#));
    }

    #[test]
    fn the_per_device_counts_add_up() {
        let line = |d: &str| format!(r#"{{"device_id":"{d}","seq":1,"sim_run":"r"}}"#);
        let lines = [line("a"), line("a"), line("b"), line("b"), line("b")];
        let mut copies = Copies::default();
        for l in &lines {
            copies.judge(&row(l), l.as_bytes());
        }
        assert_eq!(copies.by_device()["a"].dropped, 1);
        assert_eq!(copies.by_device()["b"].dropped, 2);
        assert_eq!(copies.counts().dropped, 3);
        assert_eq!(copies.len(), 2);
    }

    /// The seen-set's size per reading for both key kinds: 1,000,000 readings from 100 devices, 1 % of them
    /// twice (the issue's figure; the bench's `copies` mode prints the same measure in release).
    #[test]
    fn the_seen_set_holds_about_forty_bytes_per_reading() {
        for kind in ["seq", "time"] {
            let mut copies = Copies::default();
            let devices: Vec<String> = (0..100).map(|d| format!("aq-{d:04}")).collect();
            let times: Vec<String> = (0..10_000)
                .map(|s| format!("2026-11-25T{:02}:{:02}:{:02}.000Z", s / 3600, s / 60 % 60, s % 60))
                .collect();
            for i in 0..1_000_000u64 {
                let device = &devices[(i % 100) as usize];
                let key = match kind {
                    "seq" => ReadingKey::Seq { device, run: Some("run-1"), seq: i / 100 },
                    _ => ReadingKey::Time { device, time: &times[(i / 100) as usize] },
                };
                assert_eq!(copies.judge_key(key, i), Verdict::First);
                if i % 100 == 0 {
                    assert_eq!(copies.judge_key(key, i), Verdict::Copy);
                }
            }
            let per_reading = copies.heap_bytes() as f64 / copies.len() as f64;
            eprintln!(
                "{kind} keys: {} bytes for {} readings = {per_reading:.1} bytes/reading",
                copies.heap_bytes(),
                copies.len()
            );
            assert!((25.0..60.0).contains(&per_reading), "{kind}: {per_reading}");
        }
    }
}
