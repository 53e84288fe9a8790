//! Packing readings into records, as device firmware or a gateway should: Firehose bills each record as at least
//! 5 KB, so each device's readings go into one newline-delimited record until the next would pass
//! `record_bytes`, falls in another hour (by its `TIME`, UTC: a record never spans two hours, so a lake
//! partitioned by reading time takes it whole), or the oldest reading in it has waited `linger` (latency stays
//! bounded). A deliberately malformed reading travels alone, so it sends no good neighbour to `error/`. With
//! packing off, every reading is its own record (the original fleet's way).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::Tag;
use crate::limits::billed_bytes;
use crate::seams::batch::Outgoing;

/// The records made, with what they weigh and what Firehose bills for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RecordStats {
    pub records: u64,
    pub(crate) record_bytes: u64,
    pub billed_bytes: u64,
}

impl RecordStats {
    pub(crate) fn add(&mut self, len: usize) {
        self.records += 1;
        self.record_bytes += len as u64;
        self.billed_bytes += billed_bytes(len);
    }
}

/// One reading as made: its device, seq, milliseconds after the start, the hour of its `TIME`, bytes, and
/// whether it is malformed on purpose.
pub(crate) struct Made {
    pub(crate) device: u32,
    pub(crate) seq: u64,
    pub(crate) made_ms: u32,
    /// The hour (UTC, since the epoch) the reading's `TIME` falls in.
    pub(crate) hour: i64,
    pub(crate) bytes: Vec<u8>,
    pub(crate) malformed: bool,
}

#[derive(Default)]
struct Pack {
    bytes: Vec<u8>,
    readings: Vec<(u64, u32)>,
    /// The hour of its readings' `TIME`.
    hour: i64,
    /// Which start of this pack a linger deadline belongs to (a pack flushed early has a stale deadline).
    generation: u64,
}

/// Packs readings per device and hands finished records to `emit`.
pub(crate) struct Packer {
    /// At most this many bytes per record; 0 sends every reading alone.
    record_bytes: usize,
    linger: Duration,
    packs: Vec<Pack>,
    /// Linger deadlines in the order packs were started (the linger is the same for all, so this is sorted).
    due: VecDeque<(Instant, u32, u64)>,
    generations: u64,
    pub(crate) stats: RecordStats,
}

impl Packer {
    pub(crate) fn new(devices: usize, record_bytes: usize, linger: Duration) -> Packer {
        let packs = if record_bytes > 0 { (0..devices).map(|_| Pack::default()).collect() } else { Vec::new() };
        Packer { record_bytes, linger, packs, due: VecDeque::new(), generations: 0, stats: RecordStats::default() }
    }

    /// Adds one reading (ending in a newline).
    pub(crate) fn add(
        &mut self,
        reading: Made,
        now: Instant,
        emit: &mut dyn FnMut(Outgoing<Tag>) -> Result<()>,
    ) -> Result<()> {
        let Made { device, seq, made_ms, hour, bytes, malformed } = reading;
        if self.record_bytes == 0 || malformed || bytes.len() >= self.record_bytes {
            self.stats.add(bytes.len());
            return emit(Outgoing { bytes, tag: Tag { device, readings: vec![(seq, made_ms)], malformed } });
        }
        let pack = &self.packs[device as usize];
        if pack.bytes.len() + bytes.len() > self.record_bytes || (!pack.bytes.is_empty() && pack.hour != hour) {
            self.flush(device, emit)?;
        }
        let pack = &mut self.packs[device as usize];
        if pack.bytes.is_empty() {
            pack.hour = hour;
            self.generations += 1;
            pack.generation = self.generations;
            pack.bytes.reserve(self.record_bytes);
            self.due.push_back((now + self.linger, device, self.generations));
        }
        pack.bytes.extend_from_slice(&bytes);
        pack.readings.push((seq, made_ms));
        Ok(())
    }

    /// Sends the packs whose oldest reading has waited the linger.
    pub(crate) fn flush_due(&mut self, now: Instant, emit: &mut dyn FnMut(Outgoing<Tag>) -> Result<()>) -> Result<()> {
        while let Some(&(deadline, device, generation)) = self.due.front() {
            if deadline > now {
                break;
            }
            self.due.pop_front();
            if self.packs[device as usize].generation == generation {
                self.flush(device, emit)?;
            }
        }
        Ok(())
    }

    /// Sends every pack (the end of a run, an interruption, a stop).
    pub(crate) fn flush_all(&mut self, emit: &mut dyn FnMut(Outgoing<Tag>) -> Result<()>) -> Result<()> {
        self.due.clear();
        for device in 0..self.packs.len() {
            self.flush(device as u32, emit)?;
        }
        Ok(())
    }

    fn flush(&mut self, device: u32, emit: &mut dyn FnMut(Outgoing<Tag>) -> Result<()>) -> Result<()> {
        let pack = &mut self.packs[device as usize];
        if pack.bytes.is_empty() {
            return Ok(());
        }
        pack.generation = 0;
        let bytes = std::mem::take(&mut pack.bytes);
        let readings = std::mem::take(&mut pack.readings);
        self.stats.add(bytes.len());
        emit(Outgoing { bytes, tag: Tag { device, readings, malformed: false } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_rounds_each_record_up_to_5_kb() {
        assert_eq!(billed_bytes(0), 5120, "an empty record is billed too");
        assert_eq!(billed_bytes(250), 5120);
        assert_eq!(billed_bytes(5120), 5120);
        assert_eq!(billed_bytes(5121), 10_240);
        assert_eq!(billed_bytes(12 * 1024), 15 * 1024, "a 12 KB record is billed as 15 KB");
        // Per record, not per call: two 1 KB records in one call are 10 KB.
        let mut stats = RecordStats::default();
        stats.add(1024);
        stats.add(1024);
        assert_eq!(stats, RecordStats { records: 2, record_bytes: 2048, billed_bytes: 10_240 });
    }

    fn reading(n: usize) -> Vec<u8> {
        let mut r = format!("{{\"n\":{n}}}").into_bytes();
        r.resize(99, b' ');
        r.push(b'\n');
        r
    }

    #[test]
    fn readings_fill_records_up_to_the_limit_then_linger() {
        let start = Instant::now();
        let mut packer = Packer::new(2, 350, Duration::from_secs(1));
        let mut records: Vec<Outgoing<Tag>> = Vec::new();
        let made = |device: u32, seq: u64, bytes: Vec<u8>, malformed: bool| Made {
            device,
            seq,
            made_ms: 0,
            hour: 0,
            bytes,
            malformed,
        };
        {
            let mut emit = |o: Outgoing<Tag>| {
                records.push(o);
                Ok(())
            };
            for n in 0..7 {
                packer.add(made(0, n as u64 + 1, reading(n), false), start, &mut emit).unwrap();
            }
            packer.add(made(1, 1, reading(99), false), start, &mut emit).unwrap();
            packer.add(made(1, 2, b"{bad\n".to_vec(), true), start, &mut emit).unwrap();
        }
        let sizes: Vec<(u32, usize, bool)> =
            records.iter().map(|r| (r.tag.device, r.tag.readings.len(), r.tag.malformed)).collect();
        assert_eq!(sizes, [(0, 3, false), (0, 3, false), (1, 1, true)], "3 x 100 bytes fit in 350; malformed alone");
        packer
            .flush_due(start + Duration::from_millis(999), &mut |o| {
                records.push(o);
                Ok(())
            })
            .unwrap();
        assert_eq!(records.len(), 3, "nothing waited a second yet");
        packer
            .flush_due(start + Duration::from_secs(1), &mut |o| {
                records.push(o);
                Ok(())
            })
            .unwrap();
        assert_eq!(records.len(), 5, "both lingering packs sent");
        let last: Vec<u64> = records[3].tag.readings.iter().map(|r| r.0).collect();
        assert_eq!(last, [7], "device 0's seventh reading");
        assert!(records.iter().all(|r| r.bytes.len() <= 350 && r.bytes.ends_with(b"\n")));
        assert_eq!(packer.stats.records, 5);
        assert_eq!(packer.stats.billed_bytes, 5 * 5120);
    }

    #[test]
    fn without_packing_every_reading_is_a_record() {
        let mut packer = Packer::new(1, 0, Duration::from_secs(1));
        let mut n = 0;
        for i in 0..4 {
            let made = Made { device: 0, seq: i, made_ms: 0, hour: 0, bytes: reading(i as usize), malformed: false };
            packer
                .add(made, Instant::now(), &mut |o| {
                    assert_eq!(o.tag.readings.len(), 1);
                    n += 1;
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!((n, packer.stats.records), (4, 4));
    }

    #[test]
    fn a_record_never_holds_readings_of_two_hours() {
        use crate::simulate::clock::{Timeline, hour_in, hour_of};
        // Three devices, a reading every 7 s from 00:59:00: each device crosses into 01:00 once; 40 of 100 bytes
        // fit five to a record.
        let timeline =
            Timeline { start: "2026-12-06T00:59:00Z".parse().unwrap(), every: Duration::from_secs(7), devices: 3 };
        let (mut hours_split, mut both) = (Packer::new(3, 500, Duration::from_secs(900)), Vec::new());
        let mut same_hour = Packer::new(3, 500, Duration::from_secs(900));
        let now = Instant::now();
        let mut keep = |o: Outgoing<Tag>| -> Result<()> {
            both.push(o);
            Ok(())
        };
        for seq in 1..=20u64 {
            for device in 0..3u32 {
                let at = timeline.at(device as usize, seq);
                let mut bytes = format!("{{\"TIME\":\"{}\"}}", crate::simulate::device::format_time(at)).into_bytes();
                bytes.resize(99, b' ');
                bytes.push(b'\n');
                let made = |hour| Made { device, seq, made_ms: 0, hour, bytes: bytes.clone(), malformed: false };
                hours_split.add(made(hour_of(at)), now, &mut keep).unwrap();
                same_hour.add(made(0), now, &mut |_| Ok(())).unwrap();
            }
        }
        hours_split.flush_all(&mut keep).unwrap();
        same_hour.flush_all(&mut |_| Ok(())).unwrap();
        for record in &both {
            let hours: std::collections::BTreeSet<Option<i64>> =
                record.bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(hour_in).collect();
            assert_eq!(hours.len(), 1, "one hour per record: {hours:?}");
            assert!(hours.iter().all(Option::is_some));
        }
        let readings: usize = both.iter().map(|r| r.tag.readings.len()).sum();
        assert_eq!(readings, 60, "every reading once");
        // Within an hour packing is unchanged: 20 readings per device are 4 full records without the hour; the
        // hour splits one record per device into two (devices 0 and 1 cross at seq 10, device 2 at seq 9).
        assert_eq!(same_hour.stats.records, 12);
        assert_eq!(hours_split.stats.records, 15);
        assert!(both.iter().all(|r| r.bytes.len() <= 500));
    }
}
