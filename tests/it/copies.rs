//! Every reading counted once: `report` keeps one copy of a reading the lake holds more than once (the same spool
//! resent, objects placed where Firehose would put a retry's copy) and says how many it dropped; a reading that
//! shares a key with other values is a conflict, kept and counted; `--keep-duplicates` shows what the lake holds.
//! On the local target, against moto's S3 with objects placed by hand, and through a front whose "failed" entries
//! were delivered (the client's retries make the copies).

use serde_json::Value;

use crate::{AwsEnv, Cli, Env};

/// `report` with `args`: stdout and stderr, asserting success.
fn report(cli: &dyn Cli, args: &[&str]) -> (String, String) {
    let out = cli.cmd(&[&["report"], args].concat()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{} report {args:?}: {stderr}", cli.target());
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

fn rows(cli: &dyn Cli, args: &[&str]) -> (Vec<Value>, String) {
    let (stdout, stderr) = report(cli, &[&["--format", "json"], args].concat());
    (serde_json::from_str(&stdout).unwrap(), stderr)
}

/// The summary's row of `device`.
fn summary_of<'a>(summary: &'a [Value], device: &str) -> &'a Value {
    summary.iter().find(|r| r["device_id"] == device).unwrap_or_else(|| panic!("{device} in {summary:?}"))
}

#[test]
fn a_spool_sent_twice_is_reported_once() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // 3 simulated devices × 4 readings, a real sensor's reading (no seq) and one without a device id.
    let now = chrono::Utc::now() - chrono::Duration::minutes(5);
    let at = |i: i64| (now + chrono::Duration::seconds(i)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut spool = String::new();
    for device in 1..=3 {
        for seq in 0..4 {
            spool.push_str(&format!(
                "{{\"device_id\":\"aq-000{device}\",\"seq\":{seq},\"sim_run\":\"run-a\",\"TIME\":\"{}\",\"PM2_5\":{seq}.5}}\n",
                at(seq)
            ));
        }
    }
    spool.push_str(&format!("{{\"device_id\":\"sensor-1\",\"TIME\":\"{}\",\"PM2_5\":7.0}}\n", at(1)));
    spool.push_str(&format!("{{\"TIME\":\"{}\",\"PM2_5\":3.0}}\n", at(2)));
    let path = env.dir.path().join("spool.ndjson");
    std::fs::write(&path, spool).unwrap();
    for _ in 0..2 {
        env.ok(&["simulate", "--resend", path.to_str().unwrap(), "--quiet"]);
    }

    let (all, stderr) = rows(&env, &["--keep-duplicates"]);
    assert_eq!(all.len(), 28, "the lake holds every line twice");
    assert!(stderr.contains("every copy of a reading kept (--keep-duplicates)"), "{stderr}");

    let (once, stderr) = rows(&env, &[]);
    assert_eq!(once.len(), 12 + 1 + 2, "each reading once; the two without a device id are never merged");
    assert!(
        stderr.contains("report: 13 copies of readings dropped (each reading counted once; --keep-duplicates shows them), no conflicts"),
        "{stderr}"
    );
    let mut keys: Vec<String> = once.iter().map(|r| format!("{}/{}", r["device_id"], r["seq"])).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 14, "12 seq readings, the sensor's, and the device-less one: {keys:?}");

    // Every format counts the same readings.
    let (csv, _) = report(&env, &["--format", "csv"]);
    assert_eq!(csv::Reader::from_reader(csv.as_bytes()).records().count(), 15);
    let (ndjson, _) = report(&env, &["--format", "ndjson"]);
    assert_eq!(ndjson.lines().count(), 15);
    let (table, _) = report(&env, &["--format", "table"]);
    assert_eq!(table.matches("run-a").count(), 12, "{table}");
    let page = env.dir.path().join("page.html");
    report(&env, &["--format", "html", "--output", page.to_str().unwrap()]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("5 devices, 15 readings"), "{}", &html[..html.len().min(2000)]);

    let (summary, _) = rows(&env, &["--summary"]);
    for device in ["aq-0001", "aq-0002", "aq-0003"] {
        let row = summary_of(&summary, device);
        assert_eq!((&row["readings"], &row["copies_dropped"], &row["conflicts"]), (&4.into(), &4.into(), &0.into()));
    }
    let sensor = summary_of(&summary, "sensor-1");
    assert_eq!((&sensor["readings"], &sensor["copies_dropped"]), (&1.into(), &1.into()), "keyed by its time");
    let nobody = summary_of(&summary, "(no device_id)");
    assert_eq!((&nobody["readings"], &nobody["copies_dropped"]), (&2.into(), &0.into()));
    let (kept, _) = rows(&env, &["--summary", "--keep-duplicates"]);
    assert_eq!(summary_of(&kept, "aq-0001")["readings"], 8);
    assert!(summary_of(&kept, "aq-0001").get("copies_dropped").is_none(), "not counted, not said");
}

const LAYOUT: &str = "processed/year=2026/month=11/day=25";

/// A transformed line: the reading's fields, then the arrival and reading time the transform appends.
fn line(fields: &str, arrival: &str, reading: &str) -> String {
    format!("{{{fields},\"_firehose_arrival\":\"2026-11-25T{arrival}Z\",\"_reading_time\":\"2026-11-25T{reading}Z\"}}")
}

/// (key, body): a first delivery under hour 12 and, under hour 13, a retry's copies of it beside readings that
/// share a key with other values, a second simulator run, and a reading without a device id again.
fn objects() -> Vec<(String, String)> {
    let sim = |run: &str, pm: &str| {
        format!(
            "\"device_id\":\"aq-0001\",\"seq\":1,\"sim_run\":\"{run}\",\"TIME\":\"2026-11-25T12:00:00.000Z\",\"PM2_5\":{pm}"
        )
    };
    let sensor = |time: &str, pm: &str| format!("\"device_id\":\"s-1\",\"TIME\":\"2026-11-25T{time}\",\"PM2_5\":{pm}");
    let nobody = "\"TIME\":\"2026-11-25T12:00:02\",\"PM10\":15.0";
    let first = [
        line(&sim("r1", "9.5"), "12:00:01.000", "12:00:00.000"),
        line(&sensor("12:00:00", "4.0"), "12:00:01.000", "12:00:00.000"),
        line(nobody, "12:00:03.000", "12:00:02.000"),
    ];
    let retry = [
        line(&sim("r1", "9.5"), "13:05:00.000", "12:00:00.000"),
        line(&sim("r1", "12.0"), "13:05:00.000", "12:00:00.000"),
        line(&sensor("12:00:00", "4.0"), "13:05:00.000", "12:00:00.000"),
        line(&sensor("12:00:00", "5.0"), "13:05:00.000", "12:00:00.000"),
        line(&sensor("12:00:01", "4.0"), "13:05:00.000", "12:00:01.000"),
        line(nobody, "13:05:00.000", "12:00:02.000"),
        line(&sim("r2", "9.5"), "13:05:00.000", "12:00:00.000"),
    ];
    vec![
        (format!("{LAYOUT}/hour=12/reaqtions-iot-data-stream-1-2026-11-25-12-00-01-first"), first.join("\n") + "\n"),
        (format!("{LAYOUT}/hour=13/reaqtions-iot-data-stream-1-2026-11-25-13-05-00-retry"), retry.join("\n") + "\n"),
    ]
}

fn copies_and_conflicts(cli: &dyn Cli) {
    let (all, _) = rows(cli, &["--keep-duplicates"]);
    assert_eq!(all.len(), 10, "{}: what the lake holds", cli.target());
    let (once, stderr) = rows(cli, &[]);
    assert!(stderr.contains("report: 2 copies of readings dropped"), "{}: {stderr}", cli.target());
    assert!(stderr.contains("2 conflicts kept (one key, other values: not copies)"), "{stderr}");
    assert_eq!(once.len(), 8, "{}: {once:#?}", cli.target());
    let pm = |device: &str| -> Vec<String> {
        once.iter().filter(|r| r["device_id"] == device).map(|r| format!("{}@{}", r["PM2_5"], r["TIME"])).collect()
    };
    // The first copy in key order is kept: the one that arrived at 12:00:01.
    let kept = once.iter().find(|r| r["sim_run"] == "r1" && r["PM2_5"] == 9.5).unwrap();
    assert_eq!(kept["_firehose_arrival"], "2026-11-25T12:00:01.000Z");
    assert_eq!(
        pm("aq-0001"),
        ["9.5@\"2026-11-25T12:00:00.000Z\"", "12.0@\"2026-11-25T12:00:00.000Z\"", "9.5@\"2026-11-25T12:00:00.000Z\""]
    );
    assert_eq!(
        pm("s-1"),
        ["4.0@\"2026-11-25T12:00:00\"", "5.0@\"2026-11-25T12:00:00\"", "4.0@\"2026-11-25T12:00:01\""],
        "a sensor's readings are keyed by device and time: one copy, one conflict, one other reading"
    );
    assert_eq!(once.iter().filter(|r| r.get("device_id").is_none()).count(), 2, "never merged");
    let (again, _) = rows(cli, &[]);
    assert_eq!(again, once, "{}: two runs give the same rows", cli.target());

    let (summary, _) = rows(cli, &["--summary"]);
    for device in ["aq-0001", "s-1"] {
        let row = summary_of(&summary, device);
        let got = (&row["readings"], &row["copies_dropped"], &row["conflicts"]);
        assert_eq!(got, (&3.into(), &1.into(), &1.into()), "{}: {device}", cli.target());
    }
}

/// The deployment on `cli`'s target with [`objects`] placed in its lake.
fn laid_out(cli: &dyn Cli) {
    cli.deploy(&[]);
    for (key, body) in objects() {
        cli.place(&key, body.as_bytes());
    }
}

#[test]
fn copies_placed_by_hand_are_dropped_and_conflicts_kept_locally() {
    let env = Env::default();
    laid_out(&env);
    copies_and_conflicts(&env);
}

#[test]
fn copies_placed_by_hand_are_dropped_and_conflicts_kept_on_s3() {
    let env = AwsEnv::start();
    laid_out(&env);
    copies_and_conflicts(&env);
}

/// Through a front that delivers every entry and still reports a fifth of them failed (the API's "might have
/// failed" case), the client's resends put real copies in the lake: `report` counts exactly the readings `simulate`
/// reported accepted, drops as many copies as `simulate --verify` found duplicated, and `--keep-duplicates` shows
/// them all.
#[test]
fn resends_of_delivered_entries_are_counted_once_on_moto() {
    let env = AwsEnv::start();
    let bucket = "reaqtions-iot-data-lake-raw";
    env.runtime.block_on(env.s3().create_bucket().bucket(bucket).send()).unwrap();
    crate::create_stream(&env, "reaqtions-iot-data-stream", bucket);
    let proxy = crate::fault_proxy::FaultProxy::duplicating(&env.moto.url, 0.2, 17);
    let pipeline = ["--stream", "reaqtions-iot-data-stream", "--bucket", bucket];
    let out = env
        .cmd(&["simulate", "--devices", "10", "--count", "30", "--rate", "50", "--no-pack", "--verify"])
        .args(["--format", "json", "--quiet"])
        .args(pipeline)
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let resent = proxy.stats.delivered_but_failed.load(std::sync::atomic::Ordering::Relaxed);
    assert!(resent >= 20, "the front reported {resent} delivered entries failed");
    assert_eq!((summary["accepted"].as_u64(), summary["failed"].as_u64()), (Some(300), Some(0)), "{summary}");
    let verify = &summary["verify"];
    assert_eq!((verify["missing"].as_u64(), verify["duplicated"].as_u64()), (Some(0), Some(resent)), "{summary}");

    let (all, _) = rows(&env, &[&["--keep-duplicates"], &pipeline[..]].concat());
    assert_eq!(all.len() as u64, 300 + resent, "the lake holds every resend");
    let (once, stderr) = rows(&env, &pipeline);
    assert_eq!(once.len(), 300, "exactly the readings simulate reported accepted");
    assert!(stderr.contains(&format!("report: {resent} copies of readings dropped")), "{stderr}");
    assert!(stderr.contains("no conflicts"), "a resend is byte for byte the reading: {stderr}");
    let (summary, _) = rows(&env, &[&["--summary"], &pipeline[..]].concat());
    let dropped: u64 = summary.iter().map(|r| r["copies_dropped"].as_u64().unwrap()).sum();
    assert_eq!(dropped, resent, "{summary:#?}");
    assert!(summary.iter().all(|r| r["readings"] == 30), "{summary:#?}");
}
