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
pub struct RegionPrices {
    pub firehose_ingestion_per_gb: f64,
    pub lambda_requests_per_million: f64,
    pub lambda_gb_second_x86_64: f64,
    pub lambda_gb_second_arm64: f64,
    pub s3_put_per_1000: f64,
    pub s3_storage_per_gb_month: f64,
    pub logs_ingestion_per_gb: f64,
    /// A standard-resolution alarm (percentile and Metrics Insights alarms alike), per month. These four are
    /// the same in every region; a price file written before they were priced gets these list prices.
    #[serde(default = "list::alarm")]
    pub cloudwatch_alarm_per_month: f64,
    #[serde(default = "list::custom_metric")]
    pub cloudwatch_custom_metric_per_month: f64,
    /// Beyond the account's three free dashboards.
    #[serde(default = "list::dashboard")]
    pub cloudwatch_dashboard_per_month: f64,
    #[serde(default = "list::kms_key")]
    pub kms_key_per_month: f64,
}

/// List prices of 2026-11 for what a price file may leave out.
mod list {
    pub fn alarm() -> f64 {
        0.10
    }
    pub fn custom_metric() -> f64 {
        0.30
    }
    pub fn dashboard() -> f64 {
        3.00
    }
    pub fn kms_key() -> f64 {
        1.00
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// When the prices were read off their source.
    pub date: String,
    pub source: String,
    pub currency: String,
    pub regions: BTreeMap<String, RegionPrices>,
}

impl Prices {
    pub fn embedded() -> Prices {
        serde_json::from_str(EMBEDDED).expect("data/prices.json is valid (tested)")
    }

    pub fn load(path: &Path) -> Result<Prices> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read price file {}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| invalid!("price file {} is not of data/prices.json's shape: {e}", path.display()))
    }

    /// The region's prices, or an error listing the regions there are prices for.
    pub fn region(&self, region: &str) -> Result<&RegionPrices> {
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
        let e = prices.region("ap-south-2").unwrap_err().to_string();
        assert!(e.contains("eu-west-1, us-east-1") && e.contains("--prices"), "{e}");
    }
}
