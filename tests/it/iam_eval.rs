//! A small IAM policy evaluator over the embedded templates, for what no emulator shows: the templates'
//! intrinsics (`!Ref`, `!Sub`, `!GetAtt`, `!If`) resolved for one concrete deployment, then a role's Allow and
//! Deny statements evaluated for concrete actions and ARNs (wildcards `*` and `?`, actions case-insensitive),
//! with their conditions evaluated against the request context a test supplies (what AWS would send). It fails
//! closed: a condition operator or key it does not model panics, naming it, rather than being taken as held.

use std::collections::{BTreeMap, HashMap};

use serde_norway::Value;

/// One deployment's names: parameters, pseudo parameters, physical ids and attributes of resources.
pub(crate) struct Deployment {
    pub values: HashMap<String, String>,
    pub conditions: HashMap<String, bool>,
}

impl Deployment {
    fn lookup(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_else(|| panic!("no value for {name} in this deployment"))
    }

    /// Resolves every intrinsic in `v`.
    pub(crate) fn resolve(&self, v: &Value) -> Value {
        match v {
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let arg = &tagged.value;
                match tag.trim_start_matches('!') {
                    "Ref" => Value::String(self.lookup(arg.as_str().unwrap())),
                    "GetAtt" => {
                        let path = match arg {
                            Value::Sequence(s) => format!("{}.{}", s[0].as_str().unwrap(), s[1].as_str().unwrap()),
                            other => other.as_str().unwrap().to_owned(),
                        };
                        Value::String(self.lookup(&path))
                    }
                    "Sub" => match arg {
                        // `!Sub [text, {Name: value}]`: the names are defined for this text only.
                        Value::Sequence(s) => {
                            let mut scoped =
                                Deployment { values: self.values.clone(), conditions: self.conditions.clone() };
                            for (k, v) in s[1].as_mapping().expect("!Sub's second item is a mapping") {
                                let value = self.resolve(v).as_str().unwrap().to_owned();
                                scoped.values.insert(k.as_str().unwrap().to_owned(), value);
                            }
                            Value::String(scoped.substitute(s[0].as_str().expect("!Sub's text")))
                        }
                        other => Value::String(self.substitute(other.as_str().expect("!Sub with a string"))),
                    },
                    "If" => {
                        let s = arg.as_sequence().unwrap();
                        let holds = self.conditions[s[0].as_str().unwrap()];
                        self.resolve(if holds { &s[1] } else { &s[2] })
                    }
                    other => panic!("intrinsic !{other} is not handled by the evaluator"),
                }
            }
            Value::Mapping(m) => Value::Mapping(m.iter().map(|(k, v)| (k.clone(), self.resolve(v))).collect()),
            Value::Sequence(s) => Value::Sequence(s.iter().map(|v| self.resolve(v)).collect()),
            other => other.clone(),
        }
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closed ${") + start;
            let name = &rest[start + 2..end];
            match name.strip_prefix('!') {
                // `${!Literal}` is Fn::Sub's escape: `${Literal}` in the result (IoT policy variables).
                Some(literal) => out.push_str(&format!("${{{literal}}}")),
                None => out.push_str(&self.lookup(name)),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// `*` matches any run of characters, `?` one character.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        Value::Sequence(s) => s.iter().flat_map(strings).collect(),
        Value::Null => vec![],
        other => panic!("not a string or list: {other:?}"),
    }
}

/// The condition keys this evaluator knows how AWS supplies (compared without case, as IAM compares key names).
/// A policy conditioned on any other key fails closed: the evaluation panics, naming it.
const MODELLED_KEYS: [&str; 7] = [
    "aws:requesttag/",
    "cloudformation:createaction",
    "aws:resourcetag/",
    "aws:tagkeys",
    "iam:passedtoservice",
    "s3:prefix",
    "iot:connection.thing.isattached",
];

/// The condition operators it evaluates (alone, or after `ForAllValues:` / `ForAnyValue:`).
const OPERATORS: [&str; 7] =
    ["StringEquals", "StringEqualsIgnoreCase", "StringLike", "StringNotEquals", "StringNotLike", "Bool", "Null"];

/// What AWS supplies with one request: condition keys and their values. A key left out is absent from the
/// request, as `aws:ResourceTag/*` is when the resource is being created.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context(BTreeMap<String, Vec<String>>);

impl Context {
    pub(crate) fn with(mut self, key: &str, values: &[&str]) -> Context {
        self.0.insert(key.to_ascii_lowercase(), values.iter().map(|v| (*v).to_owned()).collect());
        self
    }

    fn get(&self, key: &str) -> Option<&Vec<String>> {
        let key = key.to_ascii_lowercase();
        assert!(
            MODELLED_KEYS.iter().any(|m| if m.ends_with('/') { key.starts_with(m) } else { key == *m }),
            "condition key {key} is not modelled by the evaluator (iam_eval.rs): model what AWS supplies for it"
        );
        self.0.get(&key)
    }
}

/// One condition: `operator` on `key` against `values` (any of them).
#[derive(Debug, Clone)]
struct Condition {
    operator: String,
    key: String,
    values: Vec<String>,
}

impl Condition {
    /// Whether it holds in `context`, as IAM evaluates it: a missing key fails a positive operator and passes a
    /// negated one; `ForAllValues` holds for a missing key, `ForAnyValue` does not. Operators it does not model
    /// panic (fail closed).
    fn holds(&self, context: &Context) -> bool {
        let present = context.get(&self.key);
        let (set, operator) = match self.operator.split_once(':') {
            Some((set, op)) => (Some(set), op),
            None => (None, self.operator.as_str()),
        };
        assert!(
            OPERATORS.contains(&operator) && set.is_none_or(|s| matches!(s, "ForAllValues" | "ForAnyValue")),
            "condition operator {} is not modelled by the evaluator (iam_eval.rs)",
            self.operator
        );
        let one = |value: &str| -> bool {
            let any = |f: &dyn Fn(&str) -> bool| self.values.iter().any(|p| f(p));
            match operator {
                "StringEquals" | "Bool" => any(&|p| p == value),
                "StringEqualsIgnoreCase" => any(&|p| p.eq_ignore_ascii_case(value)),
                "StringLike" => any(&|p| glob(p, value)),
                "StringNotEquals" => !any(&|p| p == value),
                "StringNotLike" => !any(&|p| glob(p, value)),
                _ => unreachable!("checked above"),
            }
        };
        let negated = matches!(operator, "StringNotEquals" | "StringNotLike");
        match (set, operator) {
            (None, "Null") => {
                let want_absent = self.values.iter().any(|v| v == "true");
                present.is_none_or(Vec::is_empty) == want_absent
            }
            (None, _) => match present {
                None => negated,
                Some(values) => values.iter().any(|v| one(v)),
            },
            (Some("ForAllValues"), _) => present.is_none_or(|values| values.iter().all(|v| one(v))),
            (Some("ForAnyValue"), _) => present.is_some_and(|values| values.iter().any(|v| one(v))),
            (Some(_), _) => unreachable!("checked above"),
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {:?}", self.operator, self.key, self.values)
    }
}

#[derive(Debug, Clone)]
struct Statement {
    sid: String,
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
    conditions: Vec<Condition>,
}

impl Statement {
    fn matches(&self, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && self.resources.iter().any(|r| glob(r, resource))
    }

    /// The conditions that do not hold in `context`.
    fn unmet(&self, context: &Context) -> Vec<&Condition> {
        self.conditions.iter().filter(|c| !c.holds(context)).collect()
    }
}

/// The statements of resolved policy documents.
pub(crate) struct Policy {
    statements: Vec<Statement>,
}

impl Policy {
    pub(crate) fn from_documents(documents: &[Value]) -> Policy {
        let mut statements = Vec::new();
        for doc in documents {
            for (i, s) in doc["Statement"].as_sequence().expect("Statement list").iter().enumerate() {
                let mut conditions = Vec::new();
                for (operator, keys) in s["Condition"].as_mapping().into_iter().flatten() {
                    for (key, values) in keys.as_mapping().expect("a condition maps keys to values") {
                        conditions.push(Condition {
                            operator: operator.as_str().unwrap().to_owned(),
                            key: key.as_str().unwrap().to_owned(),
                            values: strings(values),
                        });
                    }
                }
                statements.push(Statement {
                    sid: s["Sid"].as_str().map_or_else(|| format!("#{i}"), str::to_owned),
                    allow: s["Effect"].as_str() == Some("Allow"),
                    actions: strings(&s["Action"]),
                    resources: strings(&s["Resource"]),
                    conditions,
                });
            }
        }
        Policy { statements }
    }

    /// Allowed by some statement, denied by none, in a request that carries no condition keys.
    pub(crate) fn allows(&self, action: &str, resource: &str) -> bool {
        self.allows_in(action, resource, &Context::default())
    }

    /// Allowed by some statement whose conditions hold in `context`, denied by none that applies.
    pub(crate) fn allows_in(&self, action: &str, resource: &str, context: &Context) -> bool {
        let applies = |s: &&Statement| s.matches(action, resource) && s.unmet(context).is_empty();
        let allowed = self.statements.iter().filter(|s| s.allow).any(|s| applies(&s));
        let denied = self.statements.iter().filter(|s| !s.allow).any(|s| applies(&s));
        allowed && !denied
    }

    /// Why `action` on `resource` is not allowed in `context`: each Allow statement that names them, with the
    /// conditions it did not meet (empty when no statement names them at all).
    pub(crate) fn why_not(&self, action: &str, resource: &str, context: &Context) -> Vec<String> {
        (self.statements.iter().filter(|s| s.allow && s.matches(action, resource)))
            .map(|s| {
                let unmet: Vec<String> = s.unmet(context).iter().map(ToString::to_string).collect();
                format!("statement {} requires {}", s.sid, unmet.join(" and "))
            })
            .collect()
    }
}

#[test]
fn globs_match_as_iam_does() {
    assert!(glob("arn:aws:s3:::b/processed/*", "arn:aws:s3:::b/processed/year=2026/x"));
    assert!(!glob("arn:aws:s3:::b/processed/*", "arn:aws:s3:::b/error/x"));
    assert!(glob("s3:get?bject", "s3:getobject"));
    assert!(glob("*", "anything"));
    assert!(!glob("arn:aws:s3:::b", "arn:aws:s3:::b2"));
}

#[test]
fn conditions_evaluate_as_iam_does() {
    let doc: Value = serde_norway::from_str(
        r#"{"Statement": [
            {"Sid": "Create", "Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*", "Condition": {
                "StringEquals": {"aws:RequestTag/team": "a"},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]},
                "Null": {"aws:ResourceTag/team": "true"}}},
            {"Sid": "Keep", "Effect": "Allow", "Action": "kms:UntagResource", "Resource": "*", "Condition": {
                "ForAllValues:StringNotEquals": {"aws:TagKeys": ["team"]}}}
        ]}"#,
    )
    .unwrap();
    let p = Policy::from_documents(&[doc]);
    let tagged = Context::default().with("aws:RequestTag/team", &["a"]).with("aws:TagKeys", &["team"]);
    assert!(p.allows_in("kms:CreateKey", "k", &tagged));
    assert!(!p.allows_in("kms:CreateKey", "k", &Context::default()), "a missing key fails StringEquals");
    assert!(!p.allows_in("kms:CreateKey", "k", &tagged.clone().with("aws:TagKeys", &["team", "other"])));
    assert!(!p.allows_in("kms:CreateKey", "k", &tagged.clone().with("aws:ResourceTag/team", &["b"])), "Null");
    assert!(p.why_not("kms:CreateKey", "k", &Context::default())[0].contains("statement Create requires StringEquals"));
    assert!(p.allows_in("kms:UntagResource", "k", &Context::default().with("aws:TagKeys", &["owner"])));
    assert!(!p.allows_in("kms:UntagResource", "k", &Context::default().with("aws:TagKeys", &["owner", "team"])));
    let unmodelled = std::panic::catch_unwind(|| {
        let doc: Value = serde_norway::from_str(
            r#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01"}}}]}"#,
        )
        .unwrap();
        Policy::from_documents(&[doc]).allows("s3:GetObject", "x")
    });
    assert!(unmodelled.is_err(), "an operator or key the evaluator does not model fails closed");
}
