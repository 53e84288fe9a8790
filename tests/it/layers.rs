//! The crate's layers, read from its `crate::` imports: every arrow points down the declared order (or stays
//! inside a layer), no two top-level modules need each other, and no two files in one folder import each other.
//! docs/contributing.md ("Layers") shows the same order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first: a module may use its own layer's modules (without a circle) and any layer below.
const LAYERS: [(&str, &[&str]); 6] = [
    ("the interface", &["commands", "cli", "deprecated"]),
    ("the engines", &["simulate", "report", "health", "reprocess", "cost", "read_ahead"]),
    ("the targets", &["aws", "local", "mqtt"]),
    ("the seams", &["seams", "layout"]),
    ("the domain", &["settings", "prefix", "compression", "copies", "lifecycle", "failed_records", "aqi", "device"]),
    ("the foundation", &["error", "limits", "output", "progress"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file as a build without tests compiles it: without its `#[cfg(test)] mod … { … }` blocks
/// (`*tests.rs` files are such modules' bodies), comments, or the text of string and character literals.
fn code(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name.ends_with("tests.rs") {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    Some(without_test_modules(&blank_comments_and_literals(&text)))
}

/// The text with every comment and the inside of every string and character literal turned to spaces (lines kept),
/// so that braces and paths in them no longer count.
fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let after_identifier = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = (!after_identifier).then(|| raw_string_start(&chars[i..])).flatten() {
            // r"…", r#"…"#, br"…", cr"…": no escapes, ends at a quote followed by as many `#`.
            let (prefix, count) = hashes;
            i += prefix;
            out.push('"');
            let end: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', count)).collect();
            while i < chars.len() && !chars[i..].starts_with(&end) {
                blank(&mut out, chars[i]);
                i += 1;
            }
            out.push('"');
            i += end.len();
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if let Some(&c) = chars.get(i) {
                    blank(&mut out, c);
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\'', '\u{…}'); a lone quote is a lifetime or a label.
            out.push('\'');
            i += 1;
            if chars.get(i) == Some(&'\\') {
                // The escape and the character it escapes (which may be a quote).
                out.push_str("  ");
                i += 2;
            }
            while i < chars.len() && chars[i] != '\'' {
                blank(&mut out, chars[i]);
                i += 1;
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// If the characters start a raw string (`r"`, `r#"`, `br"`, `cr#"`…): how many characters its opening takes and
/// how many `#` close it.
fn raw_string_start(chars: &[char]) -> Option<(usize, usize)> {
    let at = match chars {
        ['r', ..] => 1,
        ['b' | 'c', 'r', ..] => 2,
        _ => return None,
    };
    let hashes = chars[at..].iter().take_while(|c| **c == '#').count();
    (chars.get(at + hashes) == Some(&'"')).then_some((at + hashes + 1, hashes))
}

/// The code without its `#[cfg(test)] mod name { … }` blocks (code already without comments and literals, so its
/// braces balance). Other `#[cfg(test)]` items stay: test helpers in the code are held to the layers too.
fn without_test_modules(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        let after = &rest[at + MARK.len()..];
        match test_module_len(after) {
            Some(len) => {
                out.push_str(&rest[..at]);
                // Keep the lines, so what follows keeps its line numbers.
                out.extend(rest[at..at + MARK.len() + len].chars().filter(|c| *c == '\n'));
                rest = &after[len..];
            }
            None => {
                out.push_str(&rest[..at + MARK.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// If the text (just after a `#[cfg(test)]`) goes on with more attributes and `mod name { … }` or `mod name;`, the
/// length of that item.
fn test_module_len(text: &str) -> Option<usize> {
    let mut at = 0;
    let skip_space = |at: &mut usize| *at += text[*at..].len() - text[*at..].trim_start().len();
    skip_space(&mut at);
    while text[at..].starts_with("#[") {
        at += closing(&text[at + 1..], '[', ']')? + 2;
        skip_space(&mut at);
    }
    if text[at..].starts_with("pub") {
        at += 3;
        skip_space(&mut at);
        if text[at..].starts_with('(') {
            at += closing(&text[at..], '(', ')')? + 1;
            skip_space(&mut at);
        }
    }
    at += text[at..].strip_prefix("mod")?.starts_with(char::is_whitespace).then_some(3)?;
    skip_space(&mut at);
    at += text[at..].find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    skip_space(&mut at);
    match text[at..].chars().next()? {
        ';' => Some(at + 1),
        '{' => Some(at + closing(&text[at..], '{', '}')? + 1),
        _ => None,
    }
}

/// The offset of the bracket that closes the one the text starts with.
fn closing(text: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    for (at, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(at);
            }
        }
    }
    None
}

/// The modules a piece of code names by `crate::a` (and `use crate::{a, b::{c, d}}`: `a` and `b`), and by
/// `super::a` when given the sibling names.
fn named(code: &str, prefix: &str) -> BTreeSet<String> {
    let name =
        |text: &str| -> String { text.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if rest.starts_with('{') {
            let list = &rest[1..closing(rest, '{', '}').unwrap_or(rest.len())];
            // Only the group's own items: commas inside a nested group split that group's items.
            let mut depth = 0;
            let mut start = 0;
            for (at, c) in list.char_indices().chain([(list.len(), ',')]) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(name(&list[start..at]));
                        start = at + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(name(rest));
        }
    }
    found.remove("");
    found
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

/// A circle in a graph, if there is one (as the modules on it).
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            return Some(path[at..].iter().cloned().chain([node.to_owned()]).collect());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The arrows between top-level modules of the main crate, each with the file that draws it.
fn arrows(src: &Path) -> BTreeMap<(String, String), String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut arrows = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let top = relative.iter().next().unwrap().to_str().unwrap().trim_end_matches(".rs").to_owned();
        if ["main", "lib"].contains(&top.as_str()) {
            continue;
        }
        let Some(code) = code(&file) else { continue };
        for mut used in named(&code, "crate::") {
            // Exported macros are named at the crate's root: `invalid!` is error.rs's, `say!` and `warning!` output.rs's.
            match used.as_str() {
                "invalid" => used = "error".to_owned(),
                "say" | "warning" => used = "output".to_owned(),
                _ => {}
            }
            if used != top {
                arrows.entry((top.clone(), used)).or_insert_with(|| relative.display().to_string());
            }
        }
    }
    arrows
}

#[test]
fn every_import_points_down_the_declared_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let arrows = arrows(&root.join("src"));
    let mut problems = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ((from, to), file) in &arrows {
        match (layer_of(from), layer_of(to)) {
            (None, _) => problems.push(format!("module {from} ({file}) is in no layer: add it to LAYERS")),
            (_, None) => problems.push(format!("module {to} (used by {file}) is in no layer: add it to LAYERS")),
            (Some(a), Some(b)) if b < a => problems
                .push(format!("{file}: {from} ({}) uses {to}, which is above it ({})", LAYERS[a].0, LAYERS[b].0)),
            _ => {}
        }
        graph.entry(from.clone()).or_default().insert(to.clone());
    }
    if let Some(circle) = circle(&graph) {
        problems.push(format!("modules that need each other: {}", circle.join(" → ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!("{} arrows between {} modules, all pointing down", arrows.len(), graph.len());
}

#[test]
fn no_two_files_of_a_folder_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("lambda/src"), &mut files);
    // folder → (file module → sibling modules it names)
    let mut folders: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let Some(code) = code(file) else { continue };
        let folder = file.parent().unwrap().to_owned();
        let module = file.file_stem().unwrap().to_str().unwrap().to_owned();
        if ["mod", "lib", "main"].contains(&module.as_str()) {
            continue;
        }
        // A sibling by `super::x` (in the main crate's folders) or `crate::x` (at a crate's root).
        let mut used = named(&code, "super::");
        let crate_root = folder.ends_with("src");
        if crate_root {
            used.extend(named(&code, "crate::"));
        }
        folders.entry(folder).or_default().insert(module, used);
    }
    let mut problems = Vec::new();
    for (folder, modules) in &folders {
        let graph: BTreeMap<String, BTreeSet<String>> = modules
            .iter()
            .map(|(m, used)| {
                (m.clone(), used.iter().filter(|u| modules.contains_key(*u) && *u != m).cloned().collect())
            })
            .collect();
        if let Some(circle) = circle(&graph) {
            problems.push(format!("{}: {}", folder.strip_prefix(root).unwrap().display(), circle.join(" → ")));
        }
    }
    assert!(problems.is_empty(), "files that import each other:\n{}", problems.join("\n"));
}

#[test]
fn the_check_finds_an_arrow_up_and_a_circle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("settings")).unwrap();
    std::fs::write(src.join("settings/mod.rs"), "use crate::commands::Exit;\n").unwrap();
    std::fs::write(src.join("commands.rs"), "use crate::{settings, output};\n// crate::aws in a comment\n").unwrap();
    let found = arrows(src);
    let keys: Vec<(&str, &str)> = found.keys().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(keys, [("commands", "output"), ("commands", "settings"), ("settings", "commands")]);
    assert!(layer_of("settings") > layer_of("commands"), "settings → commands points up");
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), BTreeSet::from([b.to_owned()])))
        .collect();
    assert_eq!(circle(&graph).unwrap(), ["a", "b", "c", "a"]);
}

#[test]
fn the_check_reads_past_test_items_and_skips_only_test_modules() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let file = r####"
use crate::output::say;

impl Thing {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize { crate::limits::MAX }
}

/* a block comment /* nested */ naming crate::aws { */
const BRACES: [char; 2] = ['{', '\''];
const TEXT: &str = "crate::health } \" {";
const RAW: &str = r#"crate::cost "} "#;
fn f<'a>(x: &'a str) -> &'a str { x }

#[cfg(test)]
#[allow(unused)]
mod tests {
    use crate::cli;
    const CLOSE: &str = "}";
    mod inner { use crate::commands; }
}

use crate::{settings::{Partitioning, Names}, error};
pub fn after() { crate::prefix::object_name(); }
"####;
    std::fs::write(src.join("report.rs"), file).unwrap();
    let found: Vec<String> = arrows(src).into_keys().map(|(_, to)| to).collect();
    assert_eq!(found, ["error", "limits", "output", "prefix", "settings"]);
}
