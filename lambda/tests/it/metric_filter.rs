//! The pipeline template's metric filter, evaluated as CloudWatch Logs evaluates a JSON filter pattern against
//! the real `bootstrap`'s JSON log lines: it must match each invocation's summary line and no other, and its
//! metric value (`$.fields.failed`) must add up to the records the function refused. The pattern and value are
//! read from `templates/pipeline.yaml`, so a change there is judged here, not compared as text.

use serde_json::Value;

use crate::runtime::run_bootstrap;

const TEMPLATE: &str = include_str!("../../../templates/pipeline.yaml");

/// The text after `key: ` on the template's line that sets it (the metric filter's only such line), unquoted.
fn template_value(key: &str) -> String {
    let line = TEMPLATE.lines().find_map(|l| l.trim().strip_prefix(&format!("{key}: "))).unwrap_or_else(|| {
        panic!("templates/pipeline.yaml sets no {key}");
    });
    line.trim().trim_matches('\'').to_owned()
}

/// The value at a `$.a.b` selector.
fn select<'a>(line: &'a Value, selector: &str) -> Option<&'a Value> {
    let path = selector.strip_prefix("$.").unwrap_or_else(|| panic!("not a JSON selector: {selector}"));
    path.split('.').try_fold(line, |v, key| v.get(key))
}

/// A JSON filter pattern `{ term (&& | || term)* }`, each term `(…)` or `$.selector OP value` with OP one of
/// `= != > < >= <=` and value a quoted string (a `*` inside matches any run), `*` (the field is present), or a
/// number. Left to right, as the pattern uses no mixed operators without parentheses.
struct Pattern<'a> {
    rest: &'a str,
}

impl Pattern<'_> {
    fn matches(pattern: &str, line: &Value) -> bool {
        let body = pattern.trim().strip_prefix('{').and_then(|p| p.strip_suffix('}')).expect("{ … }");
        let mut p = Pattern { rest: body };
        let result = p.expression(line);
        assert!(p.rest.trim().is_empty(), "unparsed rest of the pattern: {:?}", p.rest);
        result
    }

    fn expression(&mut self, line: &Value) -> bool {
        let mut value = self.term(line);
        loop {
            self.rest = self.rest.trim_start();
            if let Some(rest) = self.rest.strip_prefix("&&") {
                self.rest = rest;
                let right = self.term(line);
                value = value && right;
            } else if let Some(rest) = self.rest.strip_prefix("||") {
                self.rest = rest;
                let right = self.term(line);
                value = value || right;
            } else {
                return value;
            }
        }
    }

    fn term(&mut self, line: &Value) -> bool {
        self.rest = self.rest.trim_start();
        if let Some(rest) = self.rest.strip_prefix('(') {
            self.rest = rest;
            let value = self.expression(line);
            self.rest = self.rest.trim_start().strip_prefix(')').expect("a closing parenthesis");
            return value;
        }
        let end = self.rest.find(|c: char| c.is_whitespace() || "=!<>".contains(c)).expect("a comparison");
        let field = select(line, &self.rest[..end]);
        self.rest = self.rest[end..].trim_start();
        let op = ["!=", ">=", "<=", "=", ">", "<"].into_iter().find(|o| self.rest.starts_with(o)).expect("an operator");
        self.rest = self.rest[op.len()..].trim_start();
        if let Some(rest) = self.rest.strip_prefix('"') {
            let close = rest.find('"').expect("a closing quote");
            let wanted = &rest[..close];
            self.rest = &rest[close + 1..];
            let text = field.and_then(Value::as_str);
            let equal = text.is_some_and(|t| glob(wanted, t));
            return match op {
                "=" => equal,
                "!=" => text.is_some() && !equal,
                other => panic!("{other} on a string"),
            };
        }
        if let Some(rest) = self.rest.strip_prefix('*') {
            self.rest = rest;
            assert_eq!(op, "=", "`*` goes with =");
            return field.is_some_and(|v| !v.is_null());
        }
        let end = self.rest.find(|c: char| c.is_whitespace() || c == ')').unwrap_or(self.rest.len());
        let wanted: f64 = self.rest[..end].parse().expect("a number");
        self.rest = &self.rest[end..];
        let Some(n) = field.and_then(Value::as_f64) else { return false };
        match op {
            "=" => n == wanted,
            "!=" => n != wanted,
            ">" => n > wanted,
            "<" => n < wanted,
            ">=" => n >= wanted,
            _ => n <= wanted,
        }
    }
}

/// `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head) && (0..=text.len() - head.len()).any(|i| glob(tail, &text[head.len() + i..]))
        }
    }
}

#[test]
fn the_metric_filter_counts_refused_records_from_the_bootstraps_own_log_lines() {
    let pattern = template_value("FilterPattern");
    let value = template_value("MetricValue");
    let events: Vec<String> = ["seed_payload.json", "mixed_results.json"].iter().map(|n| crate::fixture(n)).collect();
    let run = run_bootstrap(&events, &[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    let lines: Vec<Value> = run.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(lines.len() > 2, "JSON log lines expected:\n{}", run.stdout);

    let matched: Vec<&Value> = lines.iter().filter(|l| Pattern::matches(&pattern, l)).collect();
    assert_eq!(matched.len(), 2, "one summary line per invocation matches {pattern}:\n{}", run.stdout);
    let refused_lines = lines.iter().filter(|l| select(l, "$.fields.message") == Some(&"record failed".into())).count();
    let counted: f64 = matched.iter().map(|l| select(l, &value).and_then(Value::as_f64).expect("a number")).sum();
    assert_eq!(counted, 5.0, "{value} over the matched lines");
    assert_eq!(counted as usize, refused_lines, "the metric counts what the function refused");

    // The pattern names the field the value is taken from, as CloudWatch requires of a JSON metric filter.
    assert!(pattern.contains(&format!("{value} = *")), "{pattern} matches {value}");
    let without_count = serde_json::json!({"fields": {"message": "batch transformed"}});
    assert!(!Pattern::matches(&pattern, &without_count), "a summary without the count is not counted as 0");
}

/// Partitioning by reading time refuses a record whose readings fall in two hours: the summary line counts it in
/// its own field, and the failed-records metric (bad data) does not count it.
#[test]
fn records_spanning_two_hours_are_not_counted_as_failed() {
    let pattern = template_value("FilterPattern");
    let value = template_value("MetricValue");
    let spanning = br#"{"TIME":"2026-11-25T10:59:59"}{"TIME":"2026-11-25T11:00:00"}"#.as_slice();
    let event = crate::event_of(&[spanning, br#"{"NO2":"x"}"#.as_slice(), br#"{"NO2":1}"#.as_slice()]);
    let body = serde_json::to_string(&event).unwrap();
    let run = run_bootstrap(&[body], &[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("REAQTIONS_PARTITIONING", "event")]);
    let lines: Vec<Value> = run.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let matched: Vec<&Value> = lines.iter().filter(|l| Pattern::matches(&pattern, l)).collect();
    assert_eq!(matched.len(), 1, "{}", run.stdout);
    assert_eq!(select(matched[0], &value).and_then(Value::as_f64), Some(1.0), "only the bad record: {}", matched[0]);
    let fields = &matched[0]["fields"];
    assert_eq!((&fields["spanning_hours"], &fields["arrival_fallback"]), (&1.into(), &1.into()), "{fields}");
    let message = |m: &str| lines.iter().filter(|l| select(l, "$.fields.message") == Some(&m.into())).count();
    assert_eq!((message("record failed"), message("record spans hours")), (1, 1), "{}", run.stdout);
}

#[test]
fn the_pattern_evaluator_reads_patterns_as_cloudwatch_does() {
    let line = serde_json::json!({"level": "INFO", "fields": {"message": "batch transformed", "failed": 3}});
    assert!(Pattern::matches(r#"{ $.fields.message = "batch*" }"#, &line));
    assert!(Pattern::matches(r#"{ ($.fields.failed > 2) && ($.level = "INFO") }"#, &line));
    assert!(!Pattern::matches(r#"{ ($.fields.failed > 3) || ($.level != "INFO") }"#, &line));
    assert!(!Pattern::matches(r#"{ $.fields.other = * }"#, &line));
}
