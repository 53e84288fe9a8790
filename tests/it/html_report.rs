//! `report --format html` in a real headless browser (Debian's chromium): the rendered DOM has one PM2.5 series per
//! device with as many points as its readings fill buckets, a device id with `<script>` in it is text, failed
//! records are counted by device, nothing logs to the console, and the screenshot is not blank (kept under
//! target/tmp/report-html/).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::Env;

const EVIL: &str = "<script>alert(1)</script>";

/// chromium headless with its console on stderr and its profile in `dir`.
fn chromium(dir: &Path, args: &[&str], page: &Path) -> Output {
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", dir.join("chromium-profile").display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (Debian's `chromium` package; .ci/run installs it)");
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// What the page's scripts (or the browser, for the page) said on the console.
fn console_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(str::to_owned).collect()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[at..at + tag[at..].find('"')?])
}

/// Each rendered figure: its attributes and the points of its mean line.
struct Figure {
    device: String,
    measure: String,
    points: usize,
    declared: usize,
    bucket_ms: i64,
}

fn figures(dom: &str) -> Vec<Figure> {
    dom.split("<figure ")
        .skip(1)
        .map(|part| {
            let body = &part[..part.find("</figure>").expect("closed figure")];
            let tag = &body[..body.find('>').unwrap()];
            let line = body
                .split("<polyline ")
                .skip(1)
                .find(|p| p.contains(&format!("stroke=\"{}\"", reaqtions::report::html::MEAN_STROKE)))
                .expect("a mean line");
            let points = attribute(&format!(" {line}"), "points").unwrap().split_whitespace().count();
            Figure {
                device: unescape(attribute(&format!(" {tag}"), "data-device").unwrap()),
                measure: attribute(&format!(" {tag}"), "data-measure").unwrap().to_owned(),
                points,
                declared: attribute(&format!(" {tag}"), "data-points").unwrap().parse().unwrap(),
                bucket_ms: attribute(&format!(" {tag}"), "data-bucket-ms").unwrap().parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn the_html_report_renders_in_a_browser_one_series_per_device() {
    let env = Env::default();
    env.ok(&["deploy"]);
    env.ok(&["simulate", "--devices", "3", "--rate", "20", "--duration", "2s", "--quiet"]);
    // Readings from a device whose id is markup, one failed record that names it and one that names nothing.
    let now = chrono::Utc::now();
    let mut spool = String::new();
    for i in 0..4 {
        let time = (now + chrono::Duration::milliseconds(700 * i)).format("%Y-%m-%dT%H:%M:%S%.6f");
        spool.push_str(&format!(
            "{{\"device_id\":{},\"TIME\":\"{time}\",\"PM2_5\":{}.5,\"PM10\":50.0,\"T\":21.0}}\n",
            serde_json::to_string(EVIL).unwrap(),
            38 + i
        ));
    }
    spool.push_str(&format!("{{\"device_id\":{},\"PM2_5\":\"n/a\"}}\n", serde_json::to_string(EVIL).unwrap()));
    spool.push_str("neither json nor a device\n");
    let spool_path = env.dir.path().join("spool.ndjson");
    std::fs::write(&spool_path, spool).unwrap();
    env.cmd(&["simulate", "--resend", spool_path.to_str().unwrap(), "--quiet"]).output().unwrap();

    // The rows the page should draw: per device, the TIME of every reading.
    let rows: Vec<Value> = serde_json::from_str(&env.ok(&["report", "--format", "json"])).unwrap();
    let mut times: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for row in &rows {
        let time = row["TIME"].as_str().unwrap();
        let t = time
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap_or_else(|_| chrono::NaiveDateTime::parse_from_str(time, "%Y-%m-%dT%H:%M:%S%.f").unwrap().and_utc());
        times.entry(row["device_id"].as_str().unwrap().to_owned()).or_default().push(t.timestamp_millis());
    }
    assert_eq!(times.len(), 4, "three simulated devices and the markup one");

    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-html");
    std::fs::create_dir_all(&out_dir).unwrap();
    let page = out_dir.join("page.html");
    let out = env.cmd(&["report", "--format", "html", "--output", page.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    // One file: no script, nothing fetched at view time.
    for fetch in ["<script", "<link", " src=", " href=", "url("] {
        assert!(!html.contains(fetch), "the page holds {fetch}");
    }

    let dom_run = chromium(env.dir.path(), &["--dump-dom"], &page);
    assert_eq!(console_lines(&dom_run), Vec::<String>::new(), "the console stays quiet");
    let dom = String::from_utf8(dom_run.stdout).unwrap();
    assert!(!dom.contains("<script"), "the markup device id did not become an element");
    assert!(dom.contains(&format!("<h3>{}</h3>", EVIL.replace('<', "&lt;").replace('>', "&gt;"))), "it is text");

    let figures = figures(&dom);
    let pm25: BTreeMap<&str, &Figure> =
        figures.iter().filter(|f| f.measure == "PM2_5").map(|f| (f.device.as_str(), f)).collect();
    let expected: BTreeSet<&str> = times.keys().map(String::as_str).chain(["fleet"]).collect();
    assert_eq!(pm25.keys().copied().collect::<BTreeSet<_>>(), expected, "one PM2.5 series per device and the fleet");
    for (device, figure) in &pm25 {
        let own: Vec<i64> =
            if *device == "fleet" { times.values().flatten().copied().collect() } else { times[*device].clone() };
        let buckets: BTreeSet<i64> = own.iter().map(|t| t.div_euclid(figure.bucket_ms)).collect();
        assert_eq!(figure.points, buckets.len(), "{device}: one point per bucket holding readings");
        assert_eq!(figure.declared, figure.points, "{device}");
    }
    // The markup device sent PM2.5, PM10 and T only: those are its charts.
    let evil_measures: BTreeSet<&str> =
        figures.iter().filter(|f| f.device == EVIL).map(|f| f.measure.as_str()).collect();
    assert_eq!(evil_measures, BTreeSet::from(["PM10", "PM2_5", "T"]));
    // Failed records: one tied to the markup device by the id its bytes name, one to no device.
    let evil_row = dom.split("<tr>").find(|r| r.contains("<td>&lt;script&gt;")).expect("the device's summary row");
    assert!(evil_row.split("</tr>").next().unwrap().ends_with("<td>1</td>"), "its last cell: {evil_row}");
    assert!(dom.contains("1 could not be tied to a device"), "the unattributed record is said");

    // The detector hears a console: a page that logs an error is caught.
    let noisy = out_dir.join("noisy.html");
    std::fs::write(&noisy, "<html><body><script>console.error('boom')</script></body></html>").unwrap();
    assert_eq!(console_lines(&chromium(env.dir.path(), &["--dump-dom"], &noisy)).len(), 1);

    let shot = out_dir.join("page.png");
    let shot_arg = format!("--screenshot={}", shot.display());
    chromium(env.dir.path(), &[&shot_arg, "--window-size=1240,1800"], &page);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    let colors: BTreeSet<&[u8]> = pixels.chunks(channels).collect();
    let inked = pixels.chunks(channels).filter(|p| p[..3].iter().any(|&c| c < 200)).count();
    assert!(colors.len() > 50, "{} colors: the screenshot is blank", colors.len());
    assert!(inked * 100 > pixels.len() / channels, "under 1 % of the screenshot is drawn");
}
