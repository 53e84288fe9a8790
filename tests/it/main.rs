//! Integration tests: the `reaqtions` binary driven end to end on the local target, in temporary directories.

mod aws;
mod aws_sending;
mod bucket_owner;
mod commands;
mod compression;
mod copies;
mod credentials;
mod demo;
mod devices;
mod docs;
mod fault_proxy;
mod first_hour;
mod fixture;
mod handler_permissions;
mod health;
mod html_report;
mod iam_eval;
mod iam_proxy;
mod layers;
mod monitoring;
mod moto;
mod mqtt;
mod mqtt_tls;
mod pipeline;
mod reading_time;
mod reprocess;
mod roles;
mod settings;
mod simulate_time;
mod stack_scope;
mod templates;
mod tls;
mod upstream;
mod voice;
mod windows;

pub(crate) use fixture::{AwsEnv, Cli, Env, RAW, create_stream, fixture, keys_in_bucket, on_both};
