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
    ("the seams", &["target", "layout"]),
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

/// The code of a file without its tests (test modules come last in every file; `*tests.rs` files are tests)
/// and without comments.
fn code(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name.ends_with("tests.rs") {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    Some(code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n"))
}

/// The modules a piece of code names by `crate::a` (and `use crate::{a, b}`), and by `super::a` when given the
/// sibling names.
fn named(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            found.extend(list.split(',').filter_map(|item| {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                (!name.is_empty()).then_some(name)
            }));
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.insert(name);
        }
    }
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
