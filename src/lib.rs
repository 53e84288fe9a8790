//! reaqtions: provisions and drives an IoT air-quality ingestion pipeline — devices → Firehose → the
//! transformation Lambda → S3 — on AWS, or on one machine with the local target.

mod aqi;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod compression;
pub mod copies;
mod cost;
pub mod deprecated;
mod device;
pub mod error;
pub mod failed_records;
mod health;
pub mod layout;
pub mod lifecycle;
pub mod limits;
pub mod local;
pub mod mqtt;
pub mod output;
pub mod prefix;
mod progress;
mod read_ahead;
pub mod report;
mod reprocess;
pub mod seams;
pub mod settings;
pub mod simulate;
