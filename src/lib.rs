//! reaqtions: provisions and drives an IoT air-quality ingestion pipeline — devices → Firehose → the
//! transformation Lambda → S3 — on AWS, or on one machine with the local target.

pub mod aqi;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod compression;
pub mod cost;
pub mod deprecated;
pub mod device;
pub mod error;
pub mod failed;
pub mod fetch;
pub mod health;
pub mod lifecycle;
pub mod limits;
pub mod local;
pub mod mqtt;
pub mod output;
pub mod prefix;
pub mod progress;
pub mod report;
pub mod reprocess;
pub mod settings;
pub mod simulate;
pub mod target;
