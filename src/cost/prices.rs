//! The price list `cost` uses: `data/prices.json` embedded in the binary (dated, with its source), or a file of
//! the same shape given with `--prices`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::invalid;

const EMBEDDED: &str = include_str!("../../data/prices.json");

/// Prices of the components the pipeline uses, in one region.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegionPrices {
    pub(crate) firehose_ingestion_per_gb: f64,
    pub(crate) lambda_requests_per_million: f64,
    pub(crate) lambda_gb_second_x86_64: f64,
    pub(crate) lambda_gb_second_arm64: f64,
    pub(crate) s3_put_per_1000: f64,
    pub(crate) s3_storage_per_gb_month: f64,
    pub(crate) logs_ingestion_per_gb: f64,
    /// A standard-resolution alarm (percentile and Metrics Insights alarms alike), per month. These four are
    /// the same in every region; a price file written before they were priced gets these list prices.
    #[serde(default = "list::alarm")]
    pub(crate) cloudwatch_alarm_per_month: f64,
    #[serde(default = "list::custom_metric")]
    pub(crate) cloudwatch_custom_metric_per_month: f64,
    /// Beyond the account's three free dashboards.
    #[serde(default = "list::dashboard")]
    pub(crate) cloudwatch_dashboard_per_month: f64,
    /// The alarm topic's key of earlier releases: a price file that still has it is accepted, the price unused.
    #[serde(default, rename = "kms_key_per_month")]
    pub(crate) _former_kms_key_per_month: serde::de::IgnoredAny,
    /// The lake's storage classes, their fees, and Athena; a price file without them gets us-east-1's list prices.
    #[serde(default)]
    pub(crate) lake: LakePrices,
    /// Firehose's dynamic partitioning (partitioning event); a price file without them gets the figures of
    /// [`PartitioningPrices::default`].
    #[serde(default)]
    pub(crate) dynamic_partitioning: PartitioningPrices,
}

/// What Firehose bills for dynamic partitioning: "per GB delivered to S3, per object, and optionally per JQ
/// processing hour" (the pricing page). The pipeline's keys come from its Lambda, so no JQ hour is billed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct PartitioningPrices {
    pub(crate) per_gb_delivered: f64,
    pub(crate) per_1000_objects: f64,
    /// Where the two figures come from, and how far they were checked (named where `cost` uses them).
    pub(crate) source: String,
}

/// The pricing page the dynamic-partitioning dimensions were read from (its German edition, the one stored here:
/// "pro an S3 geliefertes GB, pro Objekt und optional pro JQ-Verarbeitungsstunde").
pub(crate) const PARTITIONING_PRICE_PAGE: &str = "https://aws.amazon.com/de/kinesis/data-firehose/pricing/";

impl Default for PartitioningPrices {
    /// The figures published for us-east-1 (per GB and per 1,000 S3 objects delivered), unconfirmed offline.
    fn default() -> Self {
        PartitioningPrices {
            per_gb_delivered: 0.020,
            per_1000_objects: 0.005,
            source: format!(
                "Amazon Data Firehose pricing page ({PARTITIONING_PRICE_PAGE}), us-east-1; the billing dimensions \
                 are cited from it, the dollar figures are unconfirmed offline (the stored page's text ends before \
                 them; a public cost analysis gives the same $0.020 per GB and $0.005 per 1,000 objects)"
            ),
        }
    }
}

/// What keeping and querying the lake costs beyond S3 Standard storage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LakePrices {
    pub(crate) standard_ia_per_gb_month: f64,
    pub(crate) glacier_ir_per_gb_month: f64,
    /// Intelligent-Tiering's tiers: frequent (Standard's price), then infrequent and archive instant as data goes
    /// unread ([`crate::limits::S3_INTELLIGENT_TIERING_INFREQUENT_AFTER_DAYS`] and
    /// [`crate::limits::S3_INTELLIGENT_TIERING_ARCHIVE_INSTANT_AFTER_DAYS`]).
    pub(crate) intelligent_tiering_infrequent_per_gb_month: f64,
    pub(crate) intelligent_tiering_archive_instant_per_gb_month: f64,
    pub(crate) intelligent_tiering_monitoring_per_1000_objects: f64,
    pub(crate) standard_ia_retrieval_per_gb: f64,
    pub(crate) glacier_ir_retrieval_per_gb: f64,
    /// Lifecycle transition requests, per 1,000 objects moved into the class.
    pub(crate) transition_to_intelligent_tiering_per_1000: f64,
    pub(crate) transition_to_standard_ia_per_1000: f64,
    pub(crate) transition_to_glacier_ir_per_1000: f64,
    /// Billed per query on the bytes it scans (compressed bytes when the objects are), at least
    /// [`crate::limits::ATHENA_MINIMUM_SCANNED_MB`] a query.
    pub(crate) athena_per_tb_scanned: f64,
}

impl Default for LakePrices {
    /// us-east-1's list prices of 2026-11.
    fn default() -> Self {
        LakePrices {
            standard_ia_per_gb_month: 0.0125,
            glacier_ir_per_gb_month: 0.004,
            intelligent_tiering_infrequent_per_gb_month: 0.0125,
            intelligent_tiering_archive_instant_per_gb_month: 0.004,
            intelligent_tiering_monitoring_per_1000_objects: 0.0025,
            standard_ia_retrieval_per_gb: 0.01,
            glacier_ir_retrieval_per_gb: 0.03,
            transition_to_intelligent_tiering_per_1000: 0.01,
            transition_to_standard_ia_per_1000: 0.01,
            transition_to_glacier_ir_per_1000: 0.02,
            athena_per_tb_scanned: 5.00,
        }
    }
}

/// List prices of 2026-11 for what a price file may leave out.
mod list {
    pub(crate) fn alarm() -> f64 {
        0.10
    }
    pub(crate) fn custom_metric() -> f64 {
        0.30
    }
    pub(crate) fn dashboard() -> f64 {
        3.00
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Prices {
    /// When the prices were read off their source.
    pub(crate) date: String,
    pub(crate) source: String,
    pub(crate) currency: String,
    pub(crate) regions: BTreeMap<String, RegionPrices>,
}

impl Prices {
    pub(crate) fn embedded() -> Prices {
        serde_json::from_str(EMBEDDED).expect("data/prices.json is valid (tested)")
    }

    pub(crate) fn load(path: &Path) -> Result<Prices> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read price file {}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| invalid!("price file {} is not of data/prices.json's shape: {e}", path.display()))
    }

    /// The region's prices, or an error listing the regions there are prices for.
    pub(crate) fn region(&self, region: &str) -> Result<&RegionPrices> {
        self.regions.get(region).ok_or_else(|| {
            let known: Vec<&str> = self.regions.keys().map(String::as_str).collect();
            invalid!(
                "no prices for region {region} (the price list has {}): pass --prices FILE with that region",
                known.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_list_is_dated_and_names_its_source() {
        let prices = Prices::embedded();
        assert!(chrono::NaiveDate::parse_from_str(&prices.date, "%Y-%m-%d").is_ok());
        assert!(prices.source.contains("AWS"));
        assert!(prices.regions.contains_key("us-east-1") && prices.regions.contains_key("eu-west-1"));
        // The file spells out every lake price; the defaults are for files written before there were any.
        assert_eq!(prices.regions["us-east-1"].lake, LakePrices::default());
        // Dynamic partitioning's figures as the defaults give them, and marked as what they are.
        let partitioning = &prices.regions["us-east-1"].dynamic_partitioning;
        assert_eq!(
            (partitioning.per_gb_delivered, partitioning.per_1000_objects),
            (PartitioningPrices::default().per_gb_delivered, PartitioningPrices::default().per_1000_objects)
        );
        assert!(
            partitioning.source.contains(PARTITIONING_PRICE_PAGE)
                && partitioning.source.contains("unconfirmed offline"),
            "{}",
            partitioning.source
        );
        let e = prices.region("ap-south-2").unwrap_err().to_string();
        assert!(e.contains("eu-west-1, us-east-1") && e.contains("--prices"), "{e}");
    }

    #[test]
    fn price_files_of_earlier_releases_still_load() {
        let mut file: serde_json::Value = serde_json::from_str(EMBEDDED).unwrap();
        file["regions"]["us-east-1"]["kms_key_per_month"] = 1.0.into();
        let old: Prices = serde_json::from_value(file.clone()).expect("kms_key_per_month is accepted and ignored");
        assert_eq!(old.regions["us-east-1"].s3_put_per_1000, Prices::embedded().regions["us-east-1"].s3_put_per_1000);
        // Written before dynamic partitioning was priced: the figures of the default.
        file["regions"]["us-east-1"].as_object_mut().unwrap().remove("dynamic_partitioning");
        let older: Prices = serde_json::from_value(file.clone()).expect("dynamic_partitioning may be left out");
        assert_eq!(older.regions["us-east-1"].dynamic_partitioning, PartitioningPrices::default());
        file["regions"]["us-east-1"]["kms_key_per_moth"] = 1.0.into();
        let typo = serde_json::from_value::<Prices>(file).unwrap_err().to_string();
        assert!(typo.contains("kms_key_per_moth"), "other unknown fields are still refused: {typo}");
    }
}
