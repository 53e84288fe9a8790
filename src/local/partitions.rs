//! The local stream's S3 buffers, kept as Firehose keeps them: one buffer in an arrival-time stream; with dynamic
//! partitioning one per active partition (the reading hour the transform's `metadata.partitionKeys` name), each
//! flushed by size and interval on its own, at most [`ACTIVE_PARTITION_LIMIT`] open, all within
//! [`BUFFER_BUDGET_BYTES`]; and one per error-type folder of the error prefix.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use reaqtions_lambda::PartitionKeys;

pub(crate) use crate::failed_records::{
    ACTIVE_PARTITION_EXCEEDED_CODE, ACTIVE_PARTITION_EXCEEDED_FOLDER, KEYS_FAILED_CODE, KEYS_FAILED_FOLDER,
    PROCESSING_FAILED_FOLDER,
};

/// Firehose's default quota of active partitions per stream: records of any further partition go to the error
/// prefix.
pub(crate) const ACTIVE_PARTITION_LIMIT: usize = crate::limits::FIREHOSE_ACTIVE_PARTITIONS;

/// The heap every S3 buffer together may hold with dynamic partitioning (the transformed bytes and the records
/// as received, kept until written): past it the partition open longest is written early. Firehose flushes a
/// partition at 64 MiB or more, so 500 full partitions would hold 32 GiB; 256 MiB is four 64 MiB objects, room
/// for the hours a live fleet fills at once (the current one and the last) to reach full size with their
/// records as received, while a backlog opening hundreds of hours stays within what a laptop spares. An
/// early object only costs one more object (Firehose bills per object); its readings are in the same partition.
/// An arrival-time stream keeps no budget: its one buffer is bounded by its own size.
pub(crate) const BUFFER_BUDGET_BYTES: usize = 256 * 1024 * 1024;

/// The partition a transformed record waits in: the hour its keys name (`None` in an arrival-time stream).
pub(crate) type Partition = Option<DateTime<Utc>>;

/// Which buffer: a partition's, or an error-type folder's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Slot {
    Processed(Partition),
    Error(&'static str),
}

/// The hour `keys` name, as the prefix's `!{partitionKeyFromLambda:…}` will render it; `Err` says what is wrong.
pub(crate) fn hour_of_keys(keys: Option<&PartitionKeys>) -> Result<DateTime<Utc>, String> {
    let keys = keys.ok_or("no metadata.partitionKeys")?;
    let number = |name: &str, text: &str| text.parse::<u32>().map_err(|_| format!("partition key {name} is {text:?}"));
    let (year, month, day, hour) = (
        number("year", &keys.year)?,
        number("month", &keys.month)?,
        number("day", &keys.day)?,
        number("hour", &keys.hour)?,
    );
    NaiveDate::from_ymd_opt(year as i32, month, day)
        .and_then(|date| date.and_hms_opt(hour, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("partition keys {year}-{month}-{day} hour {hour} name no hour"))
}

/// One buffer: what the object will hold, and the records as received whose output it is.
#[derive(Default)]
pub(crate) struct Buffer {
    pub(crate) data: Vec<u8>,
    pub(crate) oldest_ms: Option<i64>,
    pub(crate) since: Option<Instant>,
    /// The records as received (with the order they were accepted in), kept until the object is written, so a
    /// lake that cannot be written loses none of them.
    raw: Vec<(u64, Vec<u8>)>,
    /// The capacities of the records in `raw`.
    raw_bytes: usize,
}

impl Buffer {
    /// The heap this buffer holds: `data`, `raw` and every record in it.
    fn heap(&self) -> usize {
        self.data.capacity() + self.raw.capacity() * size_of::<(u64, Vec<u8>)>() + self.raw_bytes
    }
}

/// Every S3 buffer of a stream, and the heap they hold.
#[derive(Default)]
pub(crate) struct Buffers {
    processed: BTreeMap<Partition, Buffer>,
    errors: BTreeMap<&'static str, Buffer>,
    held: usize,
}

/// How many partitions are open and the heap the buffers hold (`LocalStream::buffered`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buffered {
    pub partitions: usize,
    pub bytes: usize,
}

impl Buffers {
    fn slot_mut(&mut self, slot: Slot) -> &mut Buffer {
        match slot {
            Slot::Processed(p) => self.processed.entry(p).or_default(),
            Slot::Error(folder) => self.errors.entry(folder).or_default(),
        }
    }

    pub(crate) fn get(&self, slot: Slot) -> Option<&Buffer> {
        match slot {
            Slot::Processed(p) => self.processed.get(&p),
            Slot::Error(folder) => self.errors.get(folder),
        }
    }

    /// Whether a record of `partition` can be buffered: its partition is open, or fewer than the quota are.
    pub(crate) fn admits(&self, partition: Partition) -> bool {
        self.processed.len() < ACTIVE_PARTITION_LIMIT || self.processed.contains_key(&partition)
    }

    /// Adds a record's output `bytes` (and the record as received, `seq` its order) to a buffer.
    pub(crate) fn add(&mut self, slot: Slot, bytes: &[u8], seq: u64, raw: Vec<u8>, arrival_ms: i64) {
        let buffer = self.slot_mut(slot);
        let before = buffer.heap();
        buffer.raw_bytes += raw.capacity();
        buffer.data.extend_from_slice(bytes);
        buffer.raw.push((seq, raw));
        buffer.oldest_ms = Some(buffer.oldest_ms.map_or(arrival_ms, |o| o.min(arrival_ms)));
        buffer.since.get_or_insert_with(Instant::now);
        let grown = buffer.heap() - before;
        self.held += grown;
    }

    /// Drops a written buffer (its partition is no longer active).
    pub(crate) fn remove(&mut self, slot: Slot) {
        let removed = match slot {
            Slot::Processed(p) => self.processed.remove(&p),
            Slot::Error(folder) => self.errors.remove(folder),
        };
        if let Some(b) = removed {
            self.held -= b.heap();
        }
    }

    /// The buffers to write now: full (`size` bytes), open `interval_seconds` or more, or all when `force`;
    /// partitions first, in hour order, then the error folders.
    pub(crate) fn due(&self, force: bool, size: usize, interval_seconds: u32) -> Vec<Slot> {
        let due = |b: &Buffer| {
            force
                || b.data.len() >= size
                || b.since.is_some_and(|s| s.elapsed().as_secs() >= u64::from(interval_seconds))
        };
        let processed = self.processed.iter().filter(|(_, b)| due(b)).map(|(p, _)| Slot::Processed(*p));
        let errors = self.errors.iter().filter(|(_, b)| due(b)).map(|(f, _)| Slot::Error(f));
        processed.chain(errors).filter(|s| self.get(*s).is_some_and(|b| !b.data.is_empty())).collect()
    }

    /// The buffer open longest, what the budget writes first.
    pub(crate) fn oldest(&self) -> Option<Slot> {
        let processed = self.processed.iter().map(|(p, b)| (b.since, Slot::Processed(*p)));
        let errors = self.errors.iter().map(|(f, b)| (b.since, Slot::Error(f)));
        processed.chain(errors).min_by_key(|(since, _)| *since).map(|(_, slot)| slot)
    }

    /// The arrival of the oldest record held in any buffer.
    pub(crate) fn oldest_ms(&self) -> Option<i64> {
        self.processed.values().chain(self.errors.values()).filter_map(|b| b.oldest_ms).min()
    }

    /// Every record held, as received, with its order; the buffers emptied.
    pub(crate) fn take_raw(&mut self) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        for buffer in
            std::mem::take(&mut self.processed).into_values().chain(std::mem::take(&mut self.errors).into_values())
        {
            out.extend(buffer.raw);
        }
        self.held = 0;
        out
    }

    pub(crate) fn buffered(&self) -> Buffered {
        Buffered { partitions: self.processed.len(), bytes: self.held }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(year: &str, month: &str, day: &str, hour: &str) -> PartitionKeys {
        PartitionKeys { year: year.into(), month: month.into(), day: day.into(), hour: hour.into() }
    }

    #[test]
    fn the_hour_partition_keys_name_or_why_they_name_none() {
        let hour = hour_of_keys(Some(&keys("2026", "03", "07", "05"))).unwrap();
        assert_eq!(hour, "2026-03-07T05:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(hour_of_keys(None).unwrap_err(), "no metadata.partitionKeys");
        assert!(hour_of_keys(Some(&keys("2026", "13", "07", "05"))).unwrap_err().contains("name no hour"));
        assert!(hour_of_keys(Some(&keys("2026", "03", "07", "24"))).is_err());
        assert_eq!(hour_of_keys(Some(&keys("2026", "x", "07", "05"))).unwrap_err(), "partition key month is \"x\"");
    }

    #[test]
    fn the_quota_admits_open_partitions_and_the_heap_is_counted_until_written() {
        let mut buffers = Buffers::default();
        let hour = |h: i64| Some(DateTime::from_timestamp(h * 3600, 0).unwrap());
        for h in 0..ACTIVE_PARTITION_LIMIT as i64 {
            assert!(buffers.admits(hour(h)));
            buffers.add(Slot::Processed(hour(h)), b"{}\n", h as u64, b"{}".to_vec(), 0);
        }
        assert!(!buffers.admits(hour(ACTIVE_PARTITION_LIMIT as i64)), "a 501st partition");
        assert!(buffers.admits(hour(7)), "an open one");
        buffers.add(Slot::Error(PROCESSING_FAILED_FOLDER), b"{}\n", 9999, vec![0; 100], 0);
        let held = buffers.buffered();
        assert_eq!(held.partitions, ACTIVE_PARTITION_LIMIT);
        assert!(held.bytes >= ACTIVE_PARTITION_LIMIT * 5 + 103, "{held:?}");
        assert_eq!(buffers.oldest(), Some(Slot::Processed(hour(0))), "opened first");
        for h in 0..ACTIVE_PARTITION_LIMIT as i64 {
            buffers.remove(Slot::Processed(hour(h)));
        }
        buffers.remove(Slot::Error(PROCESSING_FAILED_FOLDER));
        assert_eq!(buffers.buffered(), Buffered::default(), "every byte counted back");
    }
}
