//! A small IAM policy evaluator over the embedded templates, for what no emulator shows: the templates'
//! intrinsics (`!Ref`, `!Sub`, `!GetAtt`, `!If`) resolved for one concrete deployment, then a role's Allow and
//! Deny statements evaluated for concrete actions and ARNs (wildcards `*` and `?`, actions case-insensitive).
//! Conditions are not evaluated: a statement with one applies as if it held, which only over-grants.

use std::collections::HashMap;

use serde_norway::Value;

/// One deployment's names: parameters, pseudo parameters, physical ids and attributes of resources.
pub struct Deployment {
    pub values: HashMap<String, String>,
    pub conditions: HashMap<String, bool>,
}

impl Deployment {
    fn lookup(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_else(|| panic!("no value for {name} in this deployment"))
    }

    /// Resolves every intrinsic in `v`.
    pub fn resolve(&self, v: &Value) -> Value {
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
pub fn glob(pattern: &str, text: &str) -> bool {
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
        Value::Sequence(s) => s.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        Value::Null => vec![],
        other => panic!("not a string or list: {other:?}"),
    }
}

/// The statements of resolved policy documents.
pub struct Policy {
    statements: Vec<(bool, Vec<String>, Vec<String>)>,
}

impl Policy {
    pub fn from_documents(documents: &[Value]) -> Policy {
        let mut statements = Vec::new();
        for doc in documents {
            for s in doc["Statement"].as_sequence().expect("Statement list") {
                let allow = s["Effect"].as_str() == Some("Allow");
                statements.push((allow, strings(&s["Action"]), strings(&s["Resource"])));
            }
        }
        Policy { statements }
    }

    /// Allowed by some statement, denied by none.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        let matches = |(_, actions, resources): &&(bool, Vec<String>, Vec<String>)| {
            actions.iter().any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                && resources.iter().any(|r| glob(r, resource))
        };
        let allowed = self.statements.iter().filter(|s| s.0).any(|s| matches(&s));
        let denied = self.statements.iter().filter(|s| !s.0).any(|s| matches(&s));
        allowed && !denied
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
