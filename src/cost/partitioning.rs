//! What dynamic partitioning (partitioning event) adds to the bill. Firehose keeps a buffer per active partition
//! and writes it as an object when its own size or interval is reached, so the objects are active partitions ×
//! flushes; it bills "per GB delivered to S3, per object, and optionally per JQ processing hour" (none here: the
//! keys come from the Lambda). How many partitions a flush writes depends on how late readings arrive: a steady
//! fleet sends the current hour's readings, a fleet that sends a day's backlog fills 24 hours' partitions.

use super::prices::PartitioningPrices;
use crate::settings::Buffering;

/// Seconds in an hour, the partitions' span.
const HOUR_SECONDS: f64 = 3600.0;
/// How many hours' partitions every flush of a fleet that sends a day's backlog writes.
pub(crate) const BACKLOG_HOURS: u32 = 24;

/// How late a fleet's readings reach the stream, which decides how many partitions are active per flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrivals {
    /// The readings of the current hour: one partition open, and after each hour begins, for one interval, the
    /// previous hour's too (its last readings still arriving): one object more an hour.
    Steady,
    /// Every flush holds readings of each of the last [`BACKLOG_HOURS`] hours (devices that send the day they
    /// kept, a gateway that forwards once a day).
    DayBacklog,
}

impl Arrivals {
    /// The average number of active partitions per flush of `interval_seconds`.
    pub(crate) fn partitions(self, interval_seconds: u32) -> f64 {
        match self {
            Arrivals::Steady => 1.0 + f64::from(interval_seconds) / HOUR_SECONDS,
            Arrivals::DayBacklog => f64::from(BACKLOG_HOURS),
        }
    }

    /// Objects written a second when `bytes_per_second` (as delivered, before compression: the buffer's size is
    /// counted so) spread over [`Arrivals::partitions`] buffers, each written when it holds the buffering size or
    /// is as old as its interval, whichever comes first.
    pub(crate) fn objects_per_second(self, bytes_per_second: f64, buffering: &Buffering) -> f64 {
        let partitions = self.partitions(buffering.interval_seconds);
        let size = f64::from(buffering.size_mib) * 1024.0 * 1024.0;
        let interval = f64::from(buffering.interval_seconds.max(1));
        partitions * (bytes_per_second / partitions / size).max(1.0 / interval)
    }
}

/// Dynamic partitioning's fees for `gb` delivered and `objects` written: (USD for the GB, USD for the objects).
pub(crate) fn fees(gb: f64, objects: f64, prices: &PartitioningPrices) -> (f64, f64) {
    (gb * prices.per_gb_delivered, objects / 1000.0 * prices.per_1000_objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: Buffering = Buffering { size_mib: 64, interval_seconds: 60 };

    #[test]
    fn a_steady_fleet_writes_one_partition_a_flush_and_one_more_object_an_hour() {
        // 314 kB/s fills no 64 MiB buffer in 60 s: the interval writes, 60 current objects an hour and the last
        // hour's readings one more.
        let per_hour = Arrivals::Steady.objects_per_second(314_000.0, &EVENT) * HOUR_SECONDS;
        assert!((per_hour - 61.0).abs() < 1e-9, "{per_hour}");
        // 10 MiB/s fills a buffer in 6.4 s: the size writes, whatever the partitions.
        let fast = Arrivals::Steady.objects_per_second(10.0 * 1024.0 * 1024.0, &EVENT);
        assert!((fast - 10.0 / 64.0).abs() < 1e-9, "{fast}");
    }

    #[test]
    fn a_day_of_backlog_writes_24_objects_a_flush() {
        let backlog = Arrivals::DayBacklog.objects_per_second(314_000.0, &EVENT);
        assert!((backlog * 60.0 - 24.0).abs() < 1e-9, "{backlog}");
        // Spread over 24 buffers, 10 MiB/s fills none in 60 s: 24 objects a flush.
        let fast = Arrivals::DayBacklog.objects_per_second(10.0 * 1024.0 * 1024.0, &EVENT);
        assert!((fast * 60.0 - 24.0).abs() < 1e-9, "{fast}");
        // 100 MiB/s does: the size writes again.
        let faster = Arrivals::DayBacklog.objects_per_second(100.0 * 1024.0 * 1024.0, &EVENT);
        assert!((faster - 100.0 / 64.0).abs() < 1e-9, "{faster}");
    }

    #[test]
    fn fees_are_per_gb_delivered_and_per_object() {
        let prices = PartitioningPrices { per_gb_delivered: 0.02, per_1000_objects: 0.005, source: String::new() };
        let (gb, objects) = fees(10.0, 2000.0, &prices);
        assert!((gb - 0.2).abs() < 1e-12 && (objects - 0.01).abs() < 1e-12, "{gb} {objects}");
    }
}
