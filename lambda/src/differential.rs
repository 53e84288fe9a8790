//! The fast path against the full scanner, byte for byte. The oracle is today's scanner ([`crate::scan`], which
//! the fast path leaves unchanged and falls back to); the candidate is what the transform runs,
//! [`fast::reading_or_full`]. Over generated readings and the edge payloads devices send — a BOM, `NaN` and
//! `Infinity`, duplicate keys, escapes, deep nesting, truncated and mutated input — every reading's output bytes,
//! outcome or failure (with its offset) and the place the next reading starts must be the same, and the fast
//! path must take the usual readings itself.

use proptest::prelude::*;

use crate::fast::{self, Padded};
use crate::scan::{Fail, ReadingOutcome, Scanner};
use crate::time::HourCache;

/// One reading as scanned: what it appended, its verdict, where the scanner stood after it.
#[derive(Debug, PartialEq)]
struct Step {
    out: Vec<u8>,
    verdict: Result<ReadingOutcome, Fail>,
    next: usize,
}

/// The readings of `text` (up to the first failure or value that is not an object), by `scan`.
fn steps(
    text: &str,
    mut scan: impl FnMut(&mut Scanner<'_>, &mut Vec<u8>) -> Result<ReadingOutcome, Fail>,
) -> Vec<Step> {
    let mut scanner = Scanner::new(text);
    let mut steps = Vec::new();
    while scanner.next_reading() && text.as_bytes()[scanner.i] == b'{' {
        let mut out = b"before".to_vec();
        let verdict = scan(&mut scanner, &mut out);
        let failed = verdict.is_err();
        steps.push(Step { out, verdict, next: scanner.i });
        if failed {
            break;
        }
    }
    steps
}

/// Checks the two scanners agree on `text`; returns how many readings the fast path took itself.
fn agree(text: &str) -> usize {
    let mut padded = text.as_bytes().to_vec();
    fast::pad(&mut padded);
    let padded = Padded::new(&padded).expect("padded");
    let oracle = steps(text, |scanner, out| scanner.reading(out));
    let mut hours = HourCache::default();
    let ours = steps(text, |scanner, out| fast::reading_or_full(padded, scanner, &mut hours, out));
    assert_eq!(ours, oracle, "{text:?}");
    taken(text, padded)
}

/// How many readings of `text` the fast path takes without the full scanner.
fn taken(text: &str, padded: Padded<'_>) -> usize {
    let mut scanner = Scanner::new(text);
    let mut taken = 0;
    while scanner.next_reading() && text.as_bytes()[scanner.i] == b'{' {
        match fast::reading(padded, scanner.i, &mut HourCache::default(), &mut Vec::new()) {
            Some(clean) => {
                taken += 1;
                scanner.i = clean.end;
            }
            None => break,
        }
    }
    taken
}

/// A reading as `json.dumps` writes it, one like every sensor sends.
const USUAL: &str = r#"{"device_id": "aq-0042", "seq": 42, "TIME": "2026-11-25T21:00:42.123456", "USER_INPUT": 3, "NO2": 13.000, "CO": 0.6000, "PM01": 5.00, "PM2_5": 16.00, "PM10": 20.00, "AQI": 82, "eCO2": 442, "TVOC": 142, "P": 1011.25, "T": 21.70, "RH": 57.00, "firmware": "v1.4.2-rc1 build 2026-11-01", "location": {"lat": 52.520008, "lon": 13.404954, "site": "Berlin Mitte, rooftop 3"}}"#;

#[test]
fn usual_readings_are_taken_by_the_fast_path_as_the_full_scanner_writes_them() {
    let compact = USUAL.replace(": ", ":").replace(", ", ",");
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(USUAL).unwrap()).unwrap();
    for text in [USUAL.to_owned(), compact, pretty, format!("{USUAL}\n{USUAL}\r\n{USUAL}{USUAL}"), "{}".into()] {
        let readings = steps(&text, |scanner, out| scanner.reading(out)).len();
        assert_eq!(agree(&text), readings, "every reading taken: {text}");
    }
}

#[test]
fn keys_are_classified_as_the_full_scanner_classifies_them() {
    let known = ["TIME", "device_id", "seq", "_firehose_arrival", "reaqtions_iot_payload", "_reading_time"];
    let mut names: Vec<Vec<u8>> = crate::MEASURES.iter().chain(&known).map(|n| n.as_bytes().to_vec()).collect();
    for name in names.clone() {
        // Each name one byte short, one byte long, and with each byte changed.
        names.push(name[..name.len() - 1].to_vec());
        names.push([name.as_slice(), b"x"].concat());
        names.push([b"x", name.as_slice()].concat());
        for at in 0..name.len() {
            let mut changed = name.clone();
            changed[at] ^= 0x20;
            names.push(changed);
        }
    }
    names.extend(["", "é", "PM2.5", "device_ie", "USER_INPUTS", "firmware", "location"].map(|n| n.as_bytes().to_vec()));
    for name in &names {
        assert_eq!(fast::key_of(name), crate::scan::classify(name), "{:?}", String::from_utf8_lossy(name));
    }
}

#[test]
fn every_truncation_of_a_reading_is_refused_alike() {
    for text in [USUAL, r#"{"a": [1, {"b": "c\u00e9\n"}], "NO2": -1.5e3, "x": true, "y": null, "TIME": "2026-11-25"}"#]
    {
        for end in (0..=text.len()).filter(|&end| text.is_char_boundary(end)) {
            agree(&text[..end]);
        }
    }
}

#[test]
fn edge_payloads_are_scanned_alike() {
    let deep =
        |depth: usize, open: &str, close: &str| format!("{{\"x\": {}1{}}}", open.repeat(depth), close.repeat(depth));
    let mut edge: Vec<String> = [
        "\u{FEFF}{\"NO2\": 1}",
        "{\"PM2_5\": NaN, \"NO2\": Infinity, \"CO\": -Infinity}",
        "{\"x\": NaN}",
        "{\"NO2\": -Inf}",
        "{\"NO2\": Nan}",
        "{\"NO2\": 1, \"NO2\": 2}",
        "{\"a\": 1, \"a\": 2}",
        "{\"a\": 1, \"\\u0061\": 2}",
        "{\"axb\": 1, \"ayb\": 2}",
        "{\"PM2_5\": \"broken\", \"PM2_5\": NaN, \"PM2_5\": 4.5}",
        "{\"s\": \"tab\\there \\\"quoted\\\" \\\\ \\/ \\b\\f\\n\\r \\u00e9 \\ud83c\\udf2b\"}",
        "{\"s\": \"\\ud800\"}",
        "{\"s\": \"\\udc00\"}",
        "{\"s\": \"\\x\"}",
        "{\"s\": \"raw\u{1}control\"}",
        "{\"s\": \"raw\ttab\"}",
        "{\"s\": \"nul\u{0}byte\"}",
        "{\"s\": 1}\u{0}",
        "{\"s\": \"\u{7f}é🌫\"}",
        "{\"TIME\": \"2026-11-25T21:00:00\\u002e5\"}",
        "{\"TIME\": \"2026-13-25T21:00:00\"}",
        "{\"TIME\": \"2026-11-25T21:00:00+05:30\", \"TIME\": 5}",
        "{\"seq\": -1}",
        "{\"seq\": 1.0}",
        "{\"seq\": 18446744073709551615}",
        "{\"seq\": 18446744073709551616}",
        "{\"seq\": 99999999999999999999}",
        "{\"seq\": 007}",
        "{\"seq\": 1e3}",
        "{\"n\": 1e400}",
        "{\"n\": -1E-400}",
        "{\"n\": 01}",
        "{\"n\": 1.}",
        "{\"n\": .5}",
        "{\"n\": -}",
        "{\"n\": +1}",
        "{\"device_id\": 7}",
        "{\"device_id\": null}",
        "{\"_firehose_arrival\": \"x\"}",
        "{\"_reading_time\": \"x\"}",
        "{\"reaqtions_iot_payload\": \"x\"}",
        "{ }",
        "{\n\t\"a\" : 1 \r\n}",
        "{\"a\":1,}",
        "{,\"a\":1}",
        "{\"a\" 1}",
        "{\"a\": tru}",
        "{\"a\": [1,]}",
        "{\"a\": [,1]}",
        "{\"a\": {\"b\"}}",
        "{\"a\": [] , \"b\": {} }",
        "{\"a\": {\"b\": 1]}",
        "{\"a\": [1}}",
        "{\"a\": [1, {\"b\": [2]]}}",
        "{\"a\": 1]",
        "{\"a\": 1}}",
        "{\"a\": 1}{\"b\": 2}x",
        "{\"a\": 1} [1]",
        "{'a': 1}",
    ]
    .map(String::from)
    .into();
    edge.push(format!("{{\"n\": {}}}", "9".repeat(301)));
    edge.push(format!("{{\"n\": 1.{}}}", "5".repeat(400)));
    for depth in [1, 14, 15, 16, 17, 127, 128, 129, 200] {
        edge.push(deep(depth, "[", "]"));
        edge.push(deep(depth, "{\"k\": ", "}"));
    }
    for text in &edge {
        agree(text);
    }
}

/// A value as a device may write it: JSON, Python's tokens, and some mistakes.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (-1e6f64..1e6).prop_map(|f| format!("{f:.3}")),
        any::<f64>().prop_map(|f| if f.is_finite() { format!("{f:e}") } else { "1e999".into() }),
        prop_oneof![Just("NaN"), Just("Infinity"), Just("-Infinity"), Just("true"), Just("false"), Just("null")]
            .prop_map(String::from),
        prop_oneof![Just("-0"), Just("0.5"), Just("1E+2"), Just("01"), Just("1."), Just("-"), Just("nul")]
            .prop_map(String::from),
        "[a-z é🌫\"\\\\\n\t\u{1}/]{0,12}".prop_map(|s| serde_json::to_string(&s).expect("a string")),
        prop_oneof![
            Just("\"2026-11-25T21:00:00.123456\""),
            Just("\"2026-11-25T21:00:00Z\""),
            Just("\"2026-11-25 21:00:00.5+05:30\""),
            Just("\"2026-02-30T00:00:00\""),
            Just("\"\\u00e9\\ud83c\\udf2b\""),
            Just("\"\\ud800x\""),
            Just("\"raw\u{1}\""),
        ]
        .prop_map(String::from),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (proptest::collection::vec(inner.clone(), 0..4), separator())
                .prop_map(|(items, (comma, _))| format!("[{}]", items.join(comma))),
            (proptest::collection::vec((key(), inner), 0..4), separator()).prop_map(|(fields, (comma, colon))| {
                let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}{colon}{v}")).collect();
                format!("{{{}}}", fields.join(comma))
            }),
        ]
    })
}

/// A key, known to the schema or not, sometimes escaped (so duplicates and classes are common).
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("TIME"),
        Just("NO2"),
        Just("PM2_5"),
        Just("AQI"),
        Just("USER_INPUT"),
        Just("seq"),
        Just("device_id"),
        Just("firmware"),
        Just("location"),
        Just("x"),
        Just("é"),
        Just("k1"),
        Just("_firehose_arrival"),
        Just("reaqtions_iot_payload"),
        Just("\\u0061"),
        Just("a"),
    ]
    .prop_map(|k| format!("\"{k}\""))
}

/// `,` and `:` as compact JSON, `json.dumps`, a pretty printer or a careless hand write them.
fn separator() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop_oneof![Just((",", ":")), Just((", ", ": ")), Just((",\n  ", ": ")), Just((" ,\t", " :\r\n"))]
}

/// A value as the usual reading holds it: what the fast path takes.
fn clean_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<u32>().prop_map(|n| n.to_string()),
        (-1e6f64..1e6).prop_map(|f| format!("{f:.4}")),
        prop_oneof![Just("true"), Just("false"), Just("null")].prop_map(String::from),
        "[a-zA-Z0-9 .,é🌫-]{0,30}".prop_map(|s| format!("\"{s}\"")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(|items| format!("[{}]", items.join(", "))),
            proptest::collection::vec(inner, 0..3).prop_map(|values| {
                let fields: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("\"f{i}\": {v}")).collect();
                format!("{{{}}}", fields.join(", "))
            }),
        ]
    })
}

/// A reading with each key once and values of the right types, as most devices send it.
fn clean_reading() -> impl Strategy<Value = String> {
    let fields = (
        0u32..1_000_000,
        proptest::collection::vec(-1e4f64..1e4, 12),
        proptest::collection::vec(clean_value(), 0..4),
        "[a-z0-9-]{1,12}",
    );
    (fields, separator()).prop_map(|((seq, measures, others, device), (comma, colon))| {
        let mut parts = vec![
            format!("\"device_id\"{colon}\"{device}\""),
            format!("\"seq\"{colon}{seq}"),
            format!("\"TIME\"{colon}\"2026-11-25T21:{:02}:00.123456\"", seq % 60),
        ];
        for (name, value) in crate::MEASURES.iter().zip(&measures).take(usize::try_from(seq % 13).unwrap_or(0)) {
            parts.push(format!("\"{name}\"{colon}{value:.2}"));
        }
        for (i, value) in others.iter().enumerate() {
            parts.push(format!("\"other{i}\"{colon}{value}"));
        }
        format!("{{{}}}", parts.join(comma))
    })
}

/// Readings back to back, then maybe cut short or with one byte changed.
fn record() -> impl Strategy<Value = String> {
    let messy =
        (proptest::collection::vec((key(), value()), 0..8), separator()).prop_map(|(fields, (comma, colon))| {
            let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}{colon}{v}")).collect();
            format!("{{{}}}", fields.join(comma))
        });
    let reading = prop_oneof![messy, clean_reading()];
    let between = prop_oneof![Just(""), Just("\n"), Just(" "), Just("\r\n")];
    (proptest::collection::vec(reading, 1..4), between, 0u8..8, any::<usize>(), any::<u8>()).prop_map(
        |(readings, between, mutation, at, byte)| {
            let text = readings.join(between);
            let mut bytes = text.clone().into_bytes();
            let at = at % (bytes.len() + 1);
            let token = b"{}[]:,\"\\u0e.-+ tnN\x00"[usize::from(byte) % 19];
            match mutation {
                1 => bytes.truncate(at),
                2 if at < bytes.len() => drop(bytes.remove(at)),
                3 => bytes.insert(at, token),
                4 if at < bytes.len() => bytes[at] = token,
                // Most records arrive as sent.
                _ => {}
            }
            String::from_utf8(bytes).unwrap_or(text)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn generated_records_are_scanned_alike(text in record()) {
        agree(&text);
    }
}

#[test]
fn generated_records_exercise_both_paths() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut readings, mut taken) = (0, 0);
    for _ in 0..2000 {
        let text = record().new_tree(&mut runner).expect("a record").current();
        readings += steps(&text, |scanner, out| scanner.reading(out)).len();
        taken += agree(&text);
    }
    eprintln!("{taken} of {readings}");
    assert!(taken * 5 > readings && taken * 5 < readings * 4, "{taken} of {readings} readings taken by the fast path");
}
