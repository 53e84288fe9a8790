//! `report --format html` in a real headless browser (Debian's chromium). A simulated past day with a three-hour
//! hole: round buckets, time ticks on round clock times with the date, the line broken at the hole, the fleet's
//! band said to be the devices' interquartile range with the count of devices reporting. Two simulated days: the
//! hour-of-day profile, and the day the README's picture shows, made by the commands docs/analysing.md gives. And
//! the page's safety: a device id with `<script>` in it is text, failed records are counted by device, nothing
//! logs to the console, the screenshot is not blank. Pages and screenshots are kept under target/tmp/report-html/.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
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
        .expect("chromium (Debian's `chromium` package; scripts/check installs it)");
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The DOM chromium renders, asserting its console stayed quiet.
fn rendered(dir: &Path, page: &Path) -> String {
    let run = chromium(dir, &["--dump-dom"], page);
    assert_eq!(console_lines(&run), Vec::<String>::new(), "the console stays quiet");
    String::from_utf8(run.stdout).unwrap()
}

/// What the page's scripts (or the browser, for the page) said on the console.
fn console_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(str::to_owned).collect()
}

/// Takes a 1280 × 1800 screenshot of `page` into `shot` and checks it is not blank.
fn screenshot(dir: &Path, page: &Path, shot: &Path) {
    chromium(dir, &[&format!("--screenshot={}", shot.display()), "--window-size=1280,1800"], page);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(shot).unwrap()));
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

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-html");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `report --format html` with `args` into `page`.
fn report(env: &Env, page: &Path, args: &[&str]) -> String {
    let out = env.cmd(&[&["report", "--format", "html", "--output", page.to_str().unwrap()], args].concat()).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(page).unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[at..at + tag[at..].find('"')?])
}

/// A rendered figure: its attributes, its line, its time ticks and its caption.
struct Figure {
    device: String,
    measure: String,
    declared: usize,
    bucket_ms: i64,
    /// The line's runs of points (x, y): a new run at each move-to.
    runs: Vec<Vec<(f64, f64)>>,
    /// (x, data-time, label, date under it) of each time tick.
    ticks: Vec<(f64, DateTime<Utc>, String, Option<String>)>,
    caption: String,
    body: String,
}

impl Figure {
    fn points(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    /// Where a moment falls on the chart, from the ticks.
    fn x_of(&self, t: DateTime<Utc>) -> f64 {
        let ((x0, t0, ..), (x1, t1, ..)) = (&self.ticks[0], &self.ticks[1]);
        x0 + (t - *t0).num_milliseconds() as f64 * (x1 - x0) / (*t1 - *t0).num_milliseconds() as f64
    }
}

fn figures(dom: &str) -> Vec<Figure> {
    dom.split("<figure ")
        .skip(1)
        .filter(|part| part.starts_with("data-device"))
        .map(|part| {
            let body = &part[..part.find("</figure>").expect("closed figure")];
            let tag = format!(" {}", &body[..body.find('>').unwrap()]);
            let line = body.split("<path ").find(|p| p.starts_with(r#"class="line""#)).expect("a line");
            assert!(line.contains(&format!(r#"stroke="{}""#, reaqtions::report::html::MEAN_STROKE)));
            let line = format!(" {line}");
            let d = attribute(&line, "d").unwrap();
            let runs = d
                .split('M')
                .skip(1)
                .map(|run| {
                    run.trim_end_matches("h0")
                        .split('L')
                        .map(|p| {
                            let (x, y) = p.split_once(' ').unwrap();
                            (x.parse().unwrap(), y.parse().unwrap())
                        })
                        .collect()
                })
                .collect();
            let ticks = body
                .split(r#"<text class="tick" "#)
                .skip(1)
                .filter_map(|t| {
                    let tag = format!(" {}", &t[..t.find('>').unwrap()]);
                    let time = attribute(&tag, "data-time")?.parse().unwrap();
                    let text = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
                    let label = text.split('<').next().unwrap().to_owned();
                    let date = text
                        .split_once("<tspan")
                        .map(|(_, d)| d[d.find('>').unwrap() + 1..d.find('<').unwrap()].to_owned());
                    Some((attribute(&tag, "x").unwrap().parse().unwrap(), time, label, date))
                })
                .collect();
            let caption = &body[body.find("<figcaption>").unwrap() + 12..body.find("</figcaption>").unwrap()];
            Figure {
                device: unescape(attribute(&tag, "data-device").unwrap()),
                measure: attribute(&tag, "data-measure").unwrap().to_owned(),
                declared: attribute(&tag, "data-points").unwrap().parse().unwrap(),
                bucket_ms: attribute(&tag, "data-bucket-ms").unwrap().parse().unwrap(),
                runs,
                ticks,
                caption: unescape(caption),
                body: body.to_owned(),
            }
        })
        .collect()
}

fn find<'a>(figures: &'a [Figure], device: &str, measure: &str) -> &'a Figure {
    figures.iter().find(|f| f.device == device && f.measure == measure).unwrap_or_else(|| panic!("{device} {measure}"))
}

fn t(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// A dozen devices, one reading a minute, from `start`, `count` each (seed 3, as docs/analysing.md's picture).
fn simulate(env: &Env, start: &str, count: &str) {
    let args = ["--devices", "12", "--start", start, "--every", "1m", "--count", count, "--rate", "2000"];
    env.ok(&[&["simulate"][..], &args, &["--seed", "3", "--quiet"]].concat());
}

#[test]
fn a_past_day_with_a_gap_is_drawn_on_round_times_and_broken_at_the_gap() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // 2026-12-06 from 00:00 to 10:00 and from 13:00 to midnight: a three-hour hole.
    simulate(&env, "2026-12-06T00:00:00Z", "600");
    simulate(&env, "2026-12-06T13:00:00Z", "660");
    let page = out_dir().join("gap.html");
    let html = report(&env, &page, &[]);
    assert!(!html.contains("by hour of the day"), "one day: no hour-of-day profile");
    let figures = figures(&rendered(env.dir.path(), &page));
    let fleet = find(&figures, "fleet", "PM2_5");
    // Round buckets: a quarter of an hour; 96 in the day, 12 of them in the hole.
    assert_eq!(fleet.bucket_ms, 15 * 60_000);
    assert_eq!((fleet.points(), fleet.declared), (84, 84));
    // Ticks every three hours from midnight, dated on the first and at the next midnight.
    let labels: Vec<&str> = fleet.ticks.iter().map(|t| t.2.as_str()).collect();
    assert_eq!(labels, ["00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00", "00:00"]);
    assert!(fleet.ticks.iter().all(|t| t.1.timestamp() % (3 * 3600) == 0));
    let dates: Vec<Option<&str>> = fleet.ticks.iter().map(|t| t.3.as_deref()).collect();
    assert_eq!((dates[0], dates[8]), (Some("2026-12-06"), Some("2026-12-07")));
    assert!(dates[1..8].iter().all(Option::is_none));
    // The line is broken at the hole: two runs, the first ending by 10:00, the next starting after 13:00.
    for line in [fleet, find(&figures, "aq-0001", "PM2_5")] {
        assert_eq!(line.runs.len(), 2, "{}: a move-to after the gap", line.device);
        let (before, after) = (line.runs[0].last().unwrap().0, line.runs[1][0].0);
        assert!(before < line.x_of(t("2026-12-06T10:00:00Z")), "{}: {before}", line.device);
        assert!(after > line.x_of(t("2026-12-06T13:00:00Z")), "{}: {after}", line.device);
    }
    // The band's meaning, and the devices reporting.
    assert!(fleet.caption.contains("per 15 min, the median of the devices' means (line)"), "{}", fleet.caption);
    assert!(fleet.caption.contains("interquartile range") && fleet.caption.contains("devices reporting"));
    assert!(fleet.body.contains(r#"<text class="devices""#) && fleet.body.contains(">12</text>"));
    // Numbers without needless decimals on every axis.
    for figure in &figures {
        let numbers = figure.body.split(r#"text-anchor="end">"#).skip(1).map(|t| &t[..t.find('<').unwrap()]);
        for n in numbers.filter(|n| n.parse::<f64>().is_ok()) {
            assert!(!(n.contains('.') && n.ends_with('0')), "{} {}: {n}", figure.device, figure.measure);
        }
    }
    screenshot(env.dir.path(), &page, &out_dir().join("gap.png"));
}

/// Two days: the hour-of-day profile shows their rhythm; the first day alone is the README's picture.
#[test]
fn two_days_show_their_daily_rhythm() {
    let env = Env::default();
    env.ok(&["deploy"]);
    simulate(&env, "2026-12-05T00:00:00Z", "2880");
    let page = out_dir().join("two-days.html");
    report(&env, &page, &[]);
    let figures = figures(&rendered(env.dir.path(), &page));
    assert_eq!(find(&figures, "fleet", "PM2_5").bucket_ms, 30 * 60_000);
    let profile = find(&figures, "fleet by hour of the day", "PM2_5");
    assert_eq!((profile.points(), profile.runs.len()), (24, 1));
    assert!(profile.caption.contains("median (line) and interquartile range"), "{}", profile.caption);
    // Rush hours over the night: the line is higher (a smaller y) at 08:00 than at 03:00.
    let y = |hour: usize| profile.runs[0][hour].1;
    assert!(y(8) < y(3) && y(18) < y(3), "{:?}", profile.runs[0]);

    // The README's picture: the first day (docs/analysing.md simulates it alone, with --count 1440).
    let readme = out_dir().join("readme.html");
    let args = ["--since", "2026-12-05T00:00:00Z", "--until", "2026-12-06T00:00:00Z"];
    let html = report(&env, &readme, &args);
    assert!(html.contains("<h1>Air quality: 12 devices, 17,280 readings</h1>"));
    screenshot(env.dir.path(), &readme, &out_dir().join("readme.png"));
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

    let page = out_dir().join("page.html");
    let html = report(&env, &page, &[]);
    // One file: no script, nothing fetched at view time.
    for fetch in ["<script", "<link", " src=", " href=", "url("] {
        assert!(!html.contains(fetch), "the page holds {fetch}");
    }

    let dom = rendered(env.dir.path(), &page);
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
        assert_eq!(figure.points(), buckets.len(), "{device}: one point per bucket holding readings");
        assert_eq!(figure.declared, figure.points(), "{device}");
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
    let noisy = out_dir().join("noisy.html");
    std::fs::write(&noisy, "<html><body><script>console.error('boom')</script></body></html>").unwrap();
    assert_eq!(console_lines(&chromium(env.dir.path(), &["--dump-dom"], &noisy)).len(), 1);

    screenshot(env.dir.path(), &page, &out_dir().join("page.png"));
}

/// One rule for a device's category on the page and in `--summary` (the EPA category of its daily mean PM2.5, not
/// of the `AQI` it reported), and failed-record counts that honour the report's window and devices.
#[test]
fn the_summary_and_the_page_agree_and_error_counts_follow_the_filters() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let ago = |minutes: i64| (Utc::now() - chrono::Duration::minutes(minutes)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    // aq-a reports AQI 30 (Good) while its PM2.5 averages 52.5 µg/m³ (Unhealthy for Sensitive Groups).
    let lines = [
        format!(r#"{{"device_id":"aq-a","TIME":"{}","PM2_5":100.0,"AQI":30}}"#, ago(120)),
        format!(r#"{{"device_id":"aq-a","TIME":"{}","PM2_5":5.0,"AQI":21}}"#, ago(10)),
        format!(r#"{{"device_id":"aq-b","TIME":"{}","PM2_5":4.0,"AQI":17}}"#, ago(10)),
        // Refused: aq-a's in the last hour and three hours ago, aq-b's, and bytes that name no device.
        format!(r#"{{"device_id":"aq-a","TIME":"{}","PM2_5":"x"}}"#, ago(5)),
        format!(r#"{{"device_id":"aq-a","TIME":"{}","PM2_5":"x"}}"#, ago(180)),
        format!(r#"{{"device_id":"aq-b","TIME":"{}","PM2_5":"x"}}"#, ago(5)),
        "neither json nor a device".to_owned(),
    ];
    let spool = env.dir.path().join("spool.ndjson");
    std::fs::write(&spool, lines.join("\n") + "\n").unwrap();
    env.cmd(&["simulate", "--resend", spool.to_str().unwrap(), "--no-pack", "--quiet"]).output().unwrap();

    let summary: Vec<Value> = serde_json::from_str(&env.ok(&["report", "--summary", "--format", "json"])).unwrap();
    let a = summary.iter().find(|r| r["device_id"] == "aq-a").expect("aq-a's row");
    assert_eq!((&a["AQI_max"], a["AQI_category"].as_str()), (&Value::from(30), Some("Unhealthy for Sensitive Groups")));
    let html = report(&env, &env.dir.path().join("all.html"), &[]);
    let row = html.split("<tr>").find(|r| r.starts_with("<td>aq-a</td>")).expect("aq-a's page row");
    assert!(row.contains("52.5 → 143") && row.contains("Unhealthy for Sensitive Groups"), "{row}");

    let stderr = |args: &[&str]| {
        let out = env.cmd(&[&["report", "--format", "json"], args].concat()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stderr).unwrap()
    };
    let all = stderr(&[]);
    assert!(all.contains("error records by device: (unattributed) 1, aq-a 2, aq-b 1"), "{all}");
    let filtered = stderr(&["--since", "1h", "--device", "aq-a"]);
    assert!(filtered.contains("error records by device: aq-a 1\n"), "the last hour's, aq-a's only: {filtered}");
    let page = report(&env, &env.dir.path().join("aq-a.html"), &["--since", "1h", "--device", "aq-a"]);
    let row = page.split("<tr>").find(|r| r.starts_with("<td>aq-a</td>")).expect("aq-a's page row");
    assert!(row.split("</tr>").next().unwrap().ends_with("<td>1</td>"), "its failed records: {row}");
    assert!(page.contains("1 more could not be matched to the devices or window asked for"), "the nameless record");
}
