//! The raw bucket's storage tiers and retention: the settings (all off by default), their rules checked before
//! any AWS call (Standard-IA not before S3's first day for it, expiry after the move), and what they cost that a
//! person should hear about before deploying (minimum storage durations; small objects, which S3 does not move by
//! default and IA and Glacier IR bill at the small-object size). S3's figures are in [`crate::limits`].

use serde::{Deserialize, Serialize};

use crate::invalid;
use crate::limits::{
    S3_GLACIER_IR_MINIMUM_DAYS, S3_SMALL_OBJECT_BYTES, S3_STANDARD_IA_FIRST_TRANSITION_DAY, S3_STANDARD_IA_MINIMUM_DAYS,
};

/// Where `processed/` objects move after `cold_after_days`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    #[default]
    #[value(name = "INTELLIGENT_TIERING")]
    IntelligentTiering,
    #[value(name = "STANDARD_IA")]
    StandardIa,
    #[value(name = "GLACIER_IR")]
    GlacierIr,
}

impl StorageClass {
    /// S3's name for it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::GlacierIr => "GLACIER_IR",
        }
    }

    /// Days an object is billed for at least once moved there (Intelligent-Tiering has no minimum).
    pub(crate) fn minimum_days(self) -> u32 {
        match self {
            StorageClass::IntelligentTiering => 0,
            StorageClass::StandardIa => S3_STANDARD_IA_MINIMUM_DAYS,
            StorageClass::GlacierIr => S3_GLACIER_IR_MINIMUM_DAYS,
        }
    }
}

/// The raw bucket's lifecycle beyond its fixed hygiene (incomplete uploads, old versions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Lifecycle {
    /// `processed/` objects move to `cold_storage_class` this many days after they were written.
    pub(crate) cold_after_days: Option<u32>,
    pub(crate) cold_storage_class: StorageClass,
    /// `processed/` objects expire (their versions then follow `noncurrent_version_days`).
    pub(crate) expire_processed_after_days: Option<u32>,
    /// Error objects expire.
    pub(crate) expire_errors_after_days: Option<u32>,
}

impl Lifecycle {
    pub(crate) fn is_set(&self) -> bool {
        self.cold_after_days.is_some()
            || self.expire_processed_after_days.is_some()
            || self.expire_errors_after_days.is_some()
    }

    /// The rules that span lifecycle settings, naming the setting that breaks one (each day count's own range is
    /// in its declaration, src/settings/input.rs).
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if let Some(cold) = self.cold_after_days
            && self.cold_storage_class == StorageClass::StandardIa
            && cold < S3_STANDARD_IA_FIRST_TRANSITION_DAY
        {
            return Err(invalid!(
                "cold_after_days {cold} with STANDARD_IA: S3 moves objects to Standard-IA no earlier than day \
                 {S3_STANDARD_IA_FIRST_TRANSITION_DAY}"
            ));
        }
        if let (Some(cold), Some(expire)) = (self.cold_after_days, self.expire_processed_after_days)
            && expire <= cold
        {
            return Err(invalid!(
                "expire_processed_after_days {expire} is not after cold_after_days {cold}: the objects would never \
                 be cold"
            ));
        }
        Ok(())
    }

    /// What the settings cost beyond what they say, for `deploy` to print: a minimum storage duration the
    /// expiry cuts short, and objects too small to move (`object_bytes`: the largest object the buffering makes).
    pub(crate) fn warnings(&self, object_bytes: u64) -> Vec<String> {
        let mut out = Vec::new();
        let Some(cold) = self.cold_after_days else { return out };
        let class = self.cold_storage_class;
        if let Some(expire) = self.expire_processed_after_days
            && expire - cold < class.minimum_days()
        {
            out.push(format!(
                "{} bills {} days at least: objects expiring {} days after they moved are billed the rest anyway",
                class.as_str(),
                class.minimum_days(),
                expire - cold
            ));
        }
        if object_bytes < S3_SMALL_OBJECT_BYTES {
            let small_kb = S3_SMALL_OBJECT_BYTES / 1024;
            out.push(format!(
                "objects here are at most ~{} KB (the S3 buffer, compressed), under {small_kb} KB: S3 does not move \
                 them by default{}",
                object_bytes / 1024,
                if class == StorageClass::IntelligentTiering {
                    ", and Intelligent-Tiering would not monitor them".to_owned()
                } else {
                    format!(", and {} would bill each as {small_kb} KB", class.as_str())
                }
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifecycle(cold: Option<u32>, class: StorageClass, expire: Option<u32>) -> Lifecycle {
        Lifecycle {
            cold_after_days: cold,
            cold_storage_class: class,
            expire_processed_after_days: expire,
            ..Default::default()
        }
    }

    #[test]
    fn the_rules_s3_holds_are_checked_before_any_call() {
        assert!(Lifecycle::default().validate().is_ok() && !Lifecycle::default().is_set());
        let ia = lifecycle(Some(7), StorageClass::StandardIa, None).validate().unwrap_err();
        assert!(ia.to_string().contains("no earlier than day 30"), "{ia}");
        assert!(lifecycle(Some(30), StorageClass::StandardIa, None).validate().is_ok());
        assert!(lifecycle(Some(1), StorageClass::GlacierIr, None).validate().is_ok());
        let order = lifecycle(Some(90), StorageClass::GlacierIr, Some(60)).validate().unwrap_err();
        assert!(order.to_string().contains("expire_processed_after_days 60"), "{order}");
    }

    #[test]
    fn deploy_hears_what_the_settings_cost() {
        let short = lifecycle(Some(30), StorageClass::GlacierIr, Some(60)).warnings(512 * 1024);
        assert_eq!(short.len(), 1);
        assert!(short[0].contains("GLACIER_IR bills 90 days") && short[0].contains("30 days after"), "{short:?}");
        let small = lifecycle(Some(30), StorageClass::StandardIa, None).warnings(100 * 1024);
        assert!(
            small[0].contains("~100 KB") && small[0].contains("STANDARD_IA would bill each as 128 KB"),
            "{small:?}"
        );
        assert!(lifecycle(None, StorageClass::GlacierIr, Some(5)).warnings(1).is_empty(), "nothing moves");
    }
}
