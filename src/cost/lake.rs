//! The lake over the months for `cost --months`: each day's data ages through S3 Standard, the cold class and
//! expiry (its versions kept `noncurrent_version_days` longer on the versioned bucket), priced month by month
//! with the transition, monitoring and early-deletion fees; and what one Athena query over the last day, week or
//! month of data scans and retrieves at the end of each month. Thirty-day months; data arrives evenly.

use super::prices::LakePrices;
use crate::lifecycle::{Lifecycle, StorageClass};
use crate::limits::{
    ATHENA_MINIMUM_SCANNED_MB, S3_INTELLIGENT_TIERING_ARCHIVE_INSTANT_AFTER_DAYS,
    S3_INTELLIGENT_TIERING_INFREQUENT_AFTER_DAYS, S3_SMALL_OBJECT_BYTES,
};

/// Days in the months `cost` prices.
pub(crate) const MONTH_DAYS: u32 = 30;
/// The most months `cost --months` prices (ten years).
pub(crate) const MAX_MONTHS: u32 = 120;
/// The windows one query is priced over, by name and days.
pub(crate) const QUERY_WINDOWS: [(&str, u32); 3] = [("day", 1), ("week", 7), ("month", 30)];
/// Athena's minimum scan a query in the GB the lake is counted in (GiB, so its MB are MiB).
const ATHENA_MINIMUM_GB: f64 = ATHENA_MINIMUM_SCANNED_MB as f64 / 1024.0;

/// How much arrives a day and how the bucket keeps it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lake {
    /// GB written a day, as stored (compressed when the objects are).
    pub(crate) gb_per_day: f64,
    pub(crate) objects_per_day: f64,
    /// The average object's stored size.
    pub(crate) object_bytes: f64,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) noncurrent_days: u32,
}

/// One month of the lake.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LakeMonth {
    pub(crate) standard_gb_months: f64,
    pub(crate) cold_gb_months: f64,
    /// What the cold GB-months cost (Intelligent-Tiering's tiers differ in price as the data ages).
    pub(crate) cold_usd: f64,
    pub(crate) monitored_object_months: f64,
    pub(crate) transitions: f64,
    /// GB-months billed for cold data deleted before its class's minimum duration.
    pub(crate) early_gb_months: f64,
    /// What the bucket holds at the month's end, current and noncurrent versions.
    pub(crate) stored_gb: f64,
    /// One query at the month's end over each of [`QUERY_WINDOWS`].
    pub(crate) queries: Vec<Query>,
}

/// What one Athena query over the last `days` of data reads: every current object of those days' partitions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub(crate) window: &'static str,
    pub(crate) scanned_gb: f64,
    /// The part of it in a class that bills retrieval (Standard-IA, Glacier IR).
    pub(crate) retrieved_gb: f64,
}

/// Where one day's data is at an age.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Standard,
    /// Moved `days` ago.
    Cold {
        days: u32,
    },
    Gone,
}

impl Lake {
    /// The day objects move, when they move: S3 does not move objects under [`S3_SMALL_OBJECT_BYTES`] by default.
    pub(crate) fn moves_after(&self) -> Option<u32> {
        self.lifecycle.cold_after_days.filter(|_| self.object_bytes >= S3_SMALL_OBJECT_BYTES as f64)
    }

    fn class(&self) -> StorageClass {
        self.lifecycle.cold_storage_class
    }

    fn place(&self, age: u32) -> Place {
        if let Some(expire) = self.lifecycle.expire_processed_after_days
            && age >= expire + self.noncurrent_days
        {
            return Place::Gone;
        }
        match self.moves_after() {
            Some(cold) if age >= cold => Place::Cold { days: age - cold },
            _ => Place::Standard,
        }
    }

    /// Whether a query still sees the day's data (an expired object leaves only a noncurrent version).
    fn current(&self, age: u32) -> bool {
        self.lifecycle.expire_processed_after_days.is_none_or(|expire| age < expire)
    }

    /// The cold class's price per GB-month at an age. Intelligent-Tiering counts days unread from the day the
    /// data leaves the month-long query's window (queries read it until then) or moves in, whichever is later.
    fn cold_price(&self, age: u32, standard: f64, p: &LakePrices) -> f64 {
        match self.class() {
            StorageClass::StandardIa => p.standard_ia_per_gb_month,
            StorageClass::GlacierIr => p.glacier_ir_per_gb_month,
            StorageClass::IntelligentTiering => {
                let last_read = self.moves_after().unwrap_or(0).max(MONTH_DAYS);
                match age.saturating_sub(last_read) {
                    unread if unread >= S3_INTELLIGENT_TIERING_ARCHIVE_INSTANT_AFTER_DAYS => {
                        p.intelligent_tiering_archive_instant_per_gb_month
                    }
                    unread if unread >= S3_INTELLIGENT_TIERING_INFREQUENT_AFTER_DAYS => {
                        p.intelligent_tiering_infrequent_per_gb_month
                    }
                    _ => standard,
                }
            }
        }
    }

    /// Month by month for `months` months: every day, every earlier day's data where its age puts it (the day's
    /// own data half a day on average).
    pub(crate) fn months(&self, months: u32, standard: f64, p: &LakePrices) -> Vec<LakeMonth> {
        let days = months * MONTH_DAYS;
        let places: Vec<Place> = (0..days).map(|age| self.place(age)).collect();
        let monitored = self.class() == StorageClass::IntelligentTiering;
        let mut out = vec![LakeMonth::default(); months as usize];
        for today in 0..days {
            let month = &mut out[(today / MONTH_DAYS) as usize];
            for age in 0..=today {
                let share = if age == 0 { 0.5 } else { 1.0 } / f64::from(MONTH_DAYS);
                let gb = self.gb_per_day * share;
                match places[age as usize] {
                    Place::Standard => month.standard_gb_months += gb,
                    Place::Cold { days } => {
                        month.cold_gb_months += gb;
                        month.cold_usd += gb * self.cold_price(age, standard, p);
                        if monitored {
                            month.monitored_object_months += self.objects_per_day * share;
                        }
                        if days == 0 {
                            month.transitions += self.objects_per_day;
                        }
                    }
                    Place::Gone => {
                        // The day it goes: a class with a minimum duration bills the rest of it.
                        if age == 0 || places[age as usize - 1] == Place::Gone {
                            continue;
                        }
                        if let Place::Cold { days } = places[age as usize - 1] {
                            let short = self.class().minimum_days().saturating_sub(days + 1);
                            month.early_gb_months += self.gb_per_day * f64::from(short) / f64::from(MONTH_DAYS);
                        }
                    }
                }
            }
            if (today + 1) % MONTH_DAYS == 0 {
                month.stored_gb =
                    (0..=today).filter(|&a| places[a as usize] != Place::Gone).count() as f64 * self.gb_per_day;
                month.queries = QUERY_WINDOWS.iter().map(|&(window, span)| self.query(window, span, today)).collect();
            }
        }
        out
    }

    /// One query at the end of `today` over the last `span` days of partitions.
    fn query(&self, window: &'static str, span: u32, today: u32) -> Query {
        let retrieves = matches!(self.class(), StorageClass::StandardIa | StorageClass::GlacierIr);
        let (mut scanned_gb, mut retrieved_gb) = (0.0, 0.0);
        for age in (0..span.min(today + 1)).filter(|&age| self.current(age)) {
            scanned_gb += self.gb_per_day;
            if retrieves && matches!(self.place(age), Place::Cold { .. }) {
                retrieved_gb += self.gb_per_day;
            }
        }
        Query { window, scanned_gb, retrieved_gb }
    }
}

impl Query {
    /// What Athena bills for it (at least [`ATHENA_MINIMUM_SCANNED_MB`]) and what the cold class bills for reading it.
    pub(crate) fn usd(&self, class: StorageClass, p: &LakePrices) -> (f64, f64) {
        let athena = self.scanned_gb.max(ATHENA_MINIMUM_GB) / 1024.0 * p.athena_per_tb_scanned;
        let retrieval = match class {
            StorageClass::StandardIa => p.standard_ia_retrieval_per_gb,
            StorageClass::GlacierIr => p.glacier_ir_retrieval_per_gb,
            StorageClass::IntelligentTiering => 0.0,
        };
        (athena, self.retrieved_gb * retrieval)
    }
}

/// The transition fee per 1,000 objects into a class.
pub(crate) fn transition_price(class: StorageClass, p: &LakePrices) -> f64 {
    match class {
        StorageClass::IntelligentTiering => p.transition_to_intelligent_tiering_per_1000,
        StorageClass::StandardIa => p.transition_to_standard_ia_per_1000,
        StorageClass::GlacierIr => p.transition_to_glacier_ir_per_1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake(cold: Option<u32>, class: StorageClass, expire: Option<u32>) -> Lake {
        Lake {
            gb_per_day: 1.0,
            objects_per_day: 1000.0,
            object_bytes: 1_048_576.0,
            lifecycle: Lifecycle {
                cold_after_days: cold,
                cold_storage_class: class,
                expire_processed_after_days: expire,
                expire_errors_after_days: None,
            },
            noncurrent_days: 30,
        }
    }

    fn prices() -> LakePrices {
        LakePrices::default()
    }

    /// 1 GB a day kept in Standard: month m holds 30(m-1) GB from before plus the month's own, on average half.
    #[test]
    fn storage_accumulates_month_by_month() {
        let months = lake(None, StorageClass::IntelligentTiering, None).months(12, 0.023, &prices());
        for (m, month) in months.iter().enumerate() {
            let expected = 30.0 * m as f64 + 15.0;
            assert!((month.standard_gb_months - expected).abs() < 1e-9, "month {}: {month:?}", m + 1);
            assert_eq!(month.stored_gb, 30.0 * (m + 1) as f64);
            assert_eq!((month.cold_gb_months, month.transitions, month.early_gb_months), (0.0, 0.0, 0.0));
        }
        // At a year, a query over a month scans 30 GB, over a week 7, and a day's bills Athena's 10 MB minimum
        // only when it scans less.
        let q = &months[11].queries;
        assert_eq!(q.iter().map(|q| q.scanned_gb).collect::<Vec<_>>(), [1.0, 7.0, 30.0]);
        let (athena, retrieval) = q[2].usd(StorageClass::IntelligentTiering, &prices());
        assert!((athena - 30.0 / 1024.0 * 5.0).abs() < 1e-12 && retrieval == 0.0);
        let tiny = Query { window: "day", scanned_gb: 0.001, retrieved_gb: 0.0 };
        assert!((tiny.usd(StorageClass::GlacierIr, &prices()).0 - 10.0 / 1024.0 / 1024.0 * 5.0).abs() < 1e-15);
    }

    /// Glacier IR after 30 days, expiry at 60 (then 30 days as a noncurrent version): 90 days in all, 60 of
    /// them cold, so each day's data is billed 30 more days of Glacier IR's 90-day minimum when it goes.
    #[test]
    fn tiers_expiry_versions_and_minimums() {
        let l = lake(Some(30), StorageClass::GlacierIr, Some(60));
        let months = l.months(6, 0.023, &prices());
        // Month 2: the days of month 1 move, one by one: 1,000 objects a day.
        assert_eq!(months[0].transitions, 0.0);
        assert_eq!(months[1].transitions, 30_000.0);
        // From month 4 on the lake is steady: 30 days in Standard (the day's own data half a day on average), 60
        // cold (30 of them noncurrent), none older.
        let steady = &months[4];
        assert!((steady.standard_gb_months - 29.5).abs() < 1e-9, "{steady:?}");
        assert!((steady.cold_gb_months - 60.0).abs() < 1e-9, "{steady:?}");
        assert!((steady.cold_usd - 60.0 * 0.004).abs() < 1e-9);
        assert_eq!(steady.stored_gb, 90.0);
        // 30 days' data goes each month, each short of the minimum by 30 days: 30 GB × 30 days = 30 GB-months.
        assert!((steady.early_gb_months - 30.0).abs() < 1e-9, "{steady:?}");
        // A query over a month reads only current data (the last 30 days: Standard); none is retrieved.
        let month_query = &steady.queries[2];
        assert_eq!((month_query.scanned_gb, month_query.retrieved_gb), (30.0, 0.0));

        // Standard-IA after 30 days without expiry: a month-long query at day 30+ reads no cold data, but
        // with objects moved after 1 day (Glacier IR) a week's query retrieves 6 of its 7 days.
        let early = lake(Some(1), StorageClass::GlacierIr, None).months(2, 0.023, &prices());
        let week = &early[1].queries[1];
        assert_eq!((week.scanned_gb, week.retrieved_gb), (7.0, 6.0));
        let (_, retrieval) = week.usd(StorageClass::GlacierIr, &prices());
        assert!((retrieval - 6.0 * 0.03).abs() < 1e-12);
    }

    /// Intelligent-Tiering: frequent until 30 days unread after the month-long query stops reading, then
    /// infrequent, archive instant after 90; monitored per object, no retrieval fee.
    #[test]
    fn intelligent_tiering_steps_down_as_data_goes_unread() {
        let l = lake(Some(0), StorageClass::IntelligentTiering, None);
        let p = prices();
        assert_eq!(l.cold_price(29, 0.023, &p), 0.023);
        assert_eq!(l.cold_price(59, 0.023, &p), 0.023);
        assert_eq!(l.cold_price(60, 0.023, &p), 0.0125);
        assert_eq!(l.cold_price(120, 0.023, &p), 0.004);
        let months = l.months(3, 0.023, &p);
        assert!((months[0].monitored_object_months - 15_000.0).abs() < 1e-6, "{:?}", months[0]);
        assert_eq!(months[0].standard_gb_months, 0.0);

        // Objects under 128 KB do not move at all.
        let small = Lake { object_bytes: 100_000.0, ..l };
        assert_eq!(small.moves_after(), None);
        assert_eq!(small.months(2, 0.023, &p)[1].cold_gb_months, 0.0);
    }
}
