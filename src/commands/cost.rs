//! `cost`: the bill of a fleet on the pipeline month by month — one reading per record against packed, plain
//! against gzip, the lake accumulating with its tiers and retention, and one Athena query over a day, a week and
//! a month of data — as tables for people (the prices' date and source, the measured gzip ratio, quota warnings
//! and packing advice on stderr), or JSON rows `{scenario, compression, month, component, quantity, unit, usd}`.
//! With partitioning event (new pipelines) it adds dynamic partitioning's fees, and says what a fleet sending a
//! day's backlog would pay for its objects instead.

use anyhow::Result;
use comfy_table::{CellAlignment, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::Exit;
use crate::cli::CostArgs;
use crate::compression::Compression;
use crate::cost::lake::MAX_MONTHS;
use crate::cost::partitioning::BACKLOG_HOURS;
use crate::cost::{Fleet, Keeping, PartitioningPrices, Prices, Row, bill, lake_of, packing_advice, quota_warnings};
use crate::invalid;
use crate::output::{OutputFormat, line};
use crate::settings::PipelineSettings;
use crate::simulate::device::{SAMPLE_READINGS, sample_ratio};

pub(crate) fn run(args: &CostArgs, region: Option<&str>) -> Result<Exit> {
    super::check_fleet(&args.fleet, None)?;
    let most = crate::limits::FIREHOSE.record_bytes as u64;
    if !(1..=most).contains(&args.record_bytes) {
        return Err(invalid!("--record-bytes must be 1-{most} (got {})", args.record_bytes));
    }
    if !(1..=MAX_MONTHS).contains(&args.months) {
        return Err(invalid!("--months must be 1-{MAX_MONTHS} (got {})", args.months));
    }
    let region = region.unwrap_or("us-east-1");
    let prices = match &args.prices {
        Some(path) => Prices::load(path)?,
        None => Prices::embedded(),
    };
    let regional = prices.region(region)?;
    let settings = PipelineSettings::resolve(args.settings.clone().with_file(args.config.as_deref())?)?;
    let fleet = Fleet {
        devices: args.fleet.devices,
        rate: args.fleet.rate,
        reading_bytes: args.reading_bytes.unwrap_or_else(crate::simulate::device::typical_reading_bytes).max(1),
        record_bytes: args.record_bytes,
        linger_seconds: args.linger.as_secs_f64(),
    };
    let ratio = sample_ratio(Compression::Gzip);
    let keeping = |compression| Keeping {
        compression,
        ratio: if compression == Compression::Gzip { ratio } else { 1.0 },
        lifecycle: settings.lifecycle,
        noncurrent_days: settings.noncurrent_version_days,
    };
    // Every scenario both ways: one reading per record, packed; plain, gzip.
    let bills: Vec<Vec<Row>> = [false, true]
        .into_iter()
        .flat_map(|packed| [Compression::None, Compression::Gzip].map(|c| (packed, c)))
        .map(|(packed, c)| bill(&fleet, &settings, regional, packed, &keeping(c), args.months))
        .collect();
    let of = |packed: bool, c: Compression| &bills[usize::from(packed) * 2 + usize::from(c == Compression::Gzip)];
    let (per_reading, packed) = (of(false, settings.compression), of(true, settings.compression));
    let (plain, gzip) = (of(true, Compression::None), of(true, Compression::Gzip));
    crate::say!(
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
        crate::warning!("{warning}");
    }
    if let Some(advice) = packing_advice(&fleet) {
        crate::say!("note: {advice}");
    }
    let (a, b) = (total(per_reading, 1), total(packed, 1));
    if a > 0.0 {
        crate::say!(
            "packed: {:.2} USD in month 1 against {:.2} for one reading per record ({:.0} % of it; {} readings per \
             record)",
            b,
            a,
            100.0 * b / a,
            fleet.sending(true).readings_per_record
        );
    }
    for said in partitioning_lines(packed, &regional.dynamic_partitioning) {
        crate::say!("{said}");
    }
    crate::say!(
        "gzip: the lake is {ratio:.2}× smaller, measured now on {SAMPLE_READINGS} simulated readings compressed as \
         the local stream writes them (gzip's fastest level; Firehose's level is not documented and may do better)"
    );
    let lake = lake_of(&fleet, &settings, &keeping(settings.compression));
    if settings.lifecycle.cold_after_days.is_some() {
        for warning in settings.lifecycle.warnings(lake.object_bytes as u64) {
            crate::warning!("{warning}");
        }
    }
    let (sum_plain, sum_gzip) = (grand_total(plain), grand_total(gzip));
    if sum_plain > 0.0 {
        crate::say!(
            "over {} month(s), packed: {sum_gzip:.2} USD with gzip against {sum_plain:.2} plain ({:.0} % of it)",
            args.months,
            100.0 * sum_gzip / sum_plain
        );
    }
    match args.shape.format {
        OutputFormat::Json => line(&serde_json::to_string_pretty(&bills.concat())?)?,
        OutputFormat::Table => {
            line(&sending_table(per_reading, packed, settings.compression).to_string())?;
            line(&lake_table(plain, gzip, ratio).to_string())?;
            line(&query_table(plain, gzip, args.months).to_string())?;
        }
    }
    Ok(Exit::Ok)
}

/// With partitioning event, what dynamic partitioning costs in month 1 (packed), what a fleet sending a day's
/// backlog would pay for its objects (Firehose's fee and S3 PUTs) against a steady one, and whence the prices.
fn partitioning_lines(rows: &[Row], prices: &PartitioningPrices) -> Vec<String> {
    let of = |component: &str| rows.iter().find(|r| r.month == 1 && r.component == component);
    let (Some(gb), Some(objects), Some(backlog)) =
        (of("firehose_partitioned_gb"), of("firehose_partitioned_objects"), of("partitioned_objects_backlog"))
    else {
        return vec![];
    };
    let steady = objects.usd + of("s3_put").map_or(0.0, |r| r.usd);
    vec![
        format!(
            "partitioning event: Firehose bills dynamic partitioning per GB delivered ({} USD) and per 1,000 objects \
             ({} USD): {:.2} USD in month 1 for {} GB and {} objects (packed)",
            prices.per_gb_delivered,
            prices.per_1000_objects,
            gb.usd + objects.usd,
            quantity(gb.quantity),
            quantity(objects.quantity),
        ),
        format!(
            "a fleet that sends a day's backlog writes {BACKLOG_HOURS} partitions a flush: {} objects a month, {:.2} \
             USD in object fees and S3 PUTs against {steady:.2} for a steady fleet",
            quantity(backlog.quantity),
            backlog.usd,
        ),
        format!("dynamic partitioning's prices: {}", prices.source),
    ]
}

/// A month's total.
fn total(rows: &[Row], month: u32) -> f64 {
    rows.iter().find(|r| r.month == month && r.component == "total").map_or(0.0, |r| r.usd)
}

/// Every month's total together.
fn grand_total(rows: &[Row]) -> f64 {
    rows.iter().filter(|r| r.component == "total").map(|r| r.usd).sum()
}

fn table_with(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(header.to_vec());
    for column in 1..header.len() {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Month 1, one reading per record against packed, the lake written as the settings say.
fn sending_table(per_reading: &[Row], packed: &[Row], compression: Compression) -> Table {
    let mut table =
        table_with(&["component", "unit", "one reading per record", "USD, month 1", "packed", "USD, month 1"]);
    let month_one = |r: &&Row| r.month == 1 && !r.unit.ends_with("(not in the total)");
    for (a, b) in per_reading.iter().filter(month_one).zip(packed.iter().filter(month_one)) {
        table.add_row([
            a.component.to_owned(),
            if a.component == "s3_storage" {
                format!("{} ({})", a.unit, compression.as_str())
            } else {
                a.unit.to_owned()
            },
            quantity(a.quantity),
            format!("{:.2}", a.usd),
            quantity(b.quantity),
            format!("{:.2}", b.usd),
        ]);
    }
    table
}

/// Packed, month by month: what the lake holds at each month's end and the month's bill, plain against gzip.
fn lake_table(plain: &[Row], gzip: &[Row], ratio: f64) -> Table {
    let gz = format!("gzip ({ratio:.1}×)");
    let mut table = table_with(&[
        "month",
        "plain: lake GB",
        "plain: USD",
        &format!("{gz}: lake GB"),
        &format!("{gz}: USD"),
        "saved",
    ]);
    let months = plain.iter().map(|r| r.month).max().unwrap_or(1);
    for month in 1..=months {
        let (p, g) = (total(plain, month), total(gzip, month));
        table.add_row([
            month.to_string(),
            quantity(lake_gb(plain, month)),
            format!("{p:.2}"),
            quantity(lake_gb(gzip, month)),
            format!("{g:.2}"),
            format!("{:.2}", p - g),
        ]);
    }
    let (p, g) = (grand_total(plain), grand_total(gzip));
    table.add_row([
        "total".to_owned(),
        String::new(),
        format!("{p:.2}"),
        String::new(),
        format!("{g:.2}"),
        format!("{:.2}", p - g),
    ]);
    table
}

/// What the lake holds at a month's end.
fn lake_gb(rows: &[Row], month: u32) -> f64 {
    rows.iter().find(|r| r.month == month && r.component == "s3_stored").map_or(0.0, |r| r.quantity)
}

/// One query over the last day, week and month of data at the last month's end, plain against gzip: Athena's
/// scan and any retrieval fee together.
fn query_table(plain: &[Row], gzip: &[Row], month: u32) -> Table {
    let mut table = table_with(&[
        &format!("one query in month {month} over the last"),
        "plain: GB scanned",
        "plain: USD",
        "gzip: GB scanned",
        "gzip: USD",
    ]);
    let query = |rows: &[Row], window: &str| {
        let of = |prefix: &str| rows.iter().find(|r| r.month == month && r.component == format!("{prefix}_{window}"));
        let scan = of("athena_query");
        (scan.map_or(0.0, |r| r.quantity), scan.map_or(0.0, |r| r.usd) + of("s3_retrieval").map_or(0.0, |r| r.usd))
    };
    for (window, _) in crate::cost::lake::QUERY_WINDOWS {
        let ((pg, pu), (gg, gu)) = (query(plain, window), query(gzip, window));
        table.add_row([window.to_owned(), quantity(pg), format!("{pu:.4}"), quantity(gg), format!("{gu:.4}")]);
    }
    table
}

/// Large counts in thousands separators, small ones with two decimals.
fn quantity(q: f64) -> String {
    if q >= 1000.0 { crate::output::thousands(q) } else { format!("{q:.2}") }
}
