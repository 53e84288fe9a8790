//! `cost`: the monthly bill of a fleet on the pipeline, one reading per record and packed, side by side — a
//! table for people (with the prices' date and source, quota warnings and packing advice on stderr), or JSON
//! rows `{scenario, component, quantity, unit, usd}` for scripts.

use anyhow::Result;
use comfy_table::{CellAlignment, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::Exit;
use crate::cli::CostArgs;
use crate::cost::{Fleet, Pipeline, Prices, Row, estimate, packing_advice, quota_warnings};
use crate::invalid;
use crate::output::{OutputFormat, line};
use crate::settings::PipelineSettings;

pub fn run(args: &CostArgs, region: Option<&str>) -> Result<Exit> {
    if args.devices == 0 || !(args.rate > 0.0 && args.rate.is_finite()) {
        return Err(invalid!(
            "--devices must be at least 1 and --rate positive (got {} and {})",
            args.devices,
            args.rate
        ));
    }
    if !(1..=1000 * 1024).contains(&args.record_bytes) {
        return Err(invalid!("--record-bytes must be 1-1024000 (got {})", args.record_bytes));
    }
    let region = region.unwrap_or("us-east-1");
    let prices = match &args.prices {
        Some(path) => Prices::load(path)?,
        None => Prices::embedded(),
    };
    let regional = prices.region(region)?;
    let settings = PipelineSettings::resolve(args.settings.clone().with_file(args.config.as_deref())?)?;
    let fleet = Fleet {
        devices: args.devices,
        rate: args.rate,
        reading_bytes: args.reading_bytes.unwrap_or_else(crate::simulate::device::typical_reading_bytes).max(1),
        record_bytes: args.record_bytes,
        linger_seconds: args.linger.as_secs_f64(),
    };
    let pipeline = Pipeline {
        lambda_memory_mb: settings.lambda.memory_mb,
        processor_buffer_mb: settings.processor.size_mb,
        processor_interval_seconds: settings.processor.interval_seconds,
        s3_buffer_mib: settings.buffering.size_mib,
        s3_interval_seconds: settings.buffering.interval_seconds,
        arm64: settings.architecture == "arm64",
        alarms: settings.monitoring.alarms,
        dashboard: settings.monitoring.dashboard,
    };
    let per_reading = estimate(&fleet, &pipeline, regional, false);
    let packed = estimate(&fleet, &pipeline, regional, true);
    eprintln!(
        "prices: {region}, {} as of {} ({}); {} devices × {}/s, {} bytes per reading, {} Lambda",
        prices.currency,
        prices.date,
        prices.source,
        fleet.devices,
        fleet.rate,
        fleet.reading_bytes,
        settings.architecture
    );
    for warning in quota_warnings(&fleet, region) {
        eprintln!("warning: {warning}");
    }
    if let Some(advice) = packing_advice(&fleet) {
        eprintln!("note: {advice}");
    }
    let (a, b) = (per_reading.last().map_or(0.0, |r| r.usd), packed.last().map_or(0.0, |r| r.usd));
    if a > 0.0 {
        eprintln!(
            "packed: {:.2} USD/month against {:.2} for one reading per record ({:.0} % of it; {} readings per record)",
            b,
            a,
            100.0 * b / a,
            fleet.sending(true).readings_per_record
        );
    }
    match args.output {
        OutputFormat::Json => {
            let rows: Vec<&Row> = per_reading.iter().chain(&packed).collect();
            line(&serde_json::to_string_pretty(&rows)?)?;
        }
        OutputFormat::Table => line(&table(&per_reading, &packed).to_string())?,
    }
    Ok(Exit::Ok)
}

fn table(per_reading: &[Row], packed: &[Row]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(["component", "unit", "one reading per record", "USD/month", "packed", "USD/month"]);
    for (a, b) in per_reading.iter().zip(packed) {
        table.add_row([
            a.component.to_owned(),
            a.unit.to_owned(),
            quantity(a.quantity),
            format!("{:.2}", a.usd),
            quantity(b.quantity),
            format!("{:.2}", b.usd),
        ]);
    }
    for column in [2, 3, 4, 5] {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Large counts in thousands separators, small ones with two decimals.
fn quantity(q: f64) -> String {
    if q >= 1000.0 { crate::output::thousands(q) } else { format!("{q:.2}") }
}
