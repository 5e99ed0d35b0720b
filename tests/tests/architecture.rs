//! The layering ARCHITECTURE.md promises, checked on the sources: crates keep their
//! order by the compiler (each names only the crates below it in its Cargo.toml); this
//! checks what the compiler does not, that the top-level modules inside each crate
//! depend on each other without a cycle, and that no crate names one above it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crates of the server, lowest first, with their source folders relative to the
/// workspace root.
const CRATES: &[(&str, &str)] = &[
    ("switchyard_runtime", "host/runtime/src"),
    ("switchyard_domain", "host/domain/src"),
    ("switchyard_store", "host/store/src"),
    ("switchyard", "host/src"),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate's top-level modules: `src/x.rs` and `src/x/` (the root file is not one).
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|path| {
            let name = path.file_stem()?.to_str()?.to_owned();
            let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
            (is_module && name != "lib" && name != "main").then_some(name)
        })
        .collect()
}

/// Identifiers that follow `prefix` in `text` (`crate::queue::x` gives `queue`).
fn names_after<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(prefix).filter_map(move |(at, _)| {
        let before = text[..at].chars().next_back();
        // `a::switchyard::x` is a path inside something else (the WIT package's
        // generated modules), not the crate `switchyard`.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            return None;
        }
        let rest = &text[at + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        Some(&rest[..end])
    })
}

/// Which top-level modules each top-level module names: through `crate::m`, through
/// `crate::{m, ..}` groups, and through `super::m` in a top-level module's own file.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let modules = top_level_modules(src);
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let mut parts = relative.iter().map(|p| p.to_str().unwrap());
        let first = parts.next().unwrap();
        let owner = first.trim_end_matches(".rs").to_owned();
        if !modules.contains(&owner) {
            continue;
        }
        let own_file = relative.components().count() == 1
            || (relative.components().count() == 2 && relative.ends_with("mod.rs"));
        let text = fs::read_to_string(&file).unwrap();
        let mut named: Vec<String> = names_after(&text, "crate::").map(str::to_owned).collect();
        for (at, _) in text.match_indices("crate::{") {
            let group = &text[at + "crate::{".len()..];
            let group = &group[..group.find("};").unwrap_or(group.len())];
            named.extend(
                group
                    .split(',')
                    .filter_map(|item| item.split("::").next())
                    .map(|n| n.trim().trim_start_matches('{').trim().to_owned()),
            );
        }
        if own_file {
            named.extend(names_after(&text, "super::").map(str::to_owned));
        }
        for name in named {
            if name != owner && modules.contains(&name) {
                graph
                    .entry(owner.clone())
                    .or_default()
                    .entry(name)
                    .or_insert_with(|| relative.to_path_buf());
            }
        }
    }
    graph
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeMap<String, PathBuf>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|edges| edges.keys()) {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn modules_inside_each_crate_depend_on_each_other_one_way() {
    let root = workspace_root();
    for (name, src) in CRATES {
        let graph = module_graph(&root.join(src));
        if let Some(cycle) = find_cycle(&graph) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    format!(
                        "{} -> {} (in {})",
                        w[0],
                        w[1],
                        graph[&w[0]][&w[1]].display()
                    )
                })
                .collect();
            panic!("a module cycle in {name}:\n  {}", steps.join("\n  "));
        }
    }
}

#[test]
fn the_cycle_check_finds_a_cycle_when_there_is_one() {
    let edge = |to: &str| (to.to_owned(), PathBuf::from("x.rs"));
    let mut graph = BTreeMap::new();
    graph.insert("api".to_owned(), BTreeMap::from([edge("store")]));
    graph.insert("store".to_owned(), BTreeMap::from([edge("queue")]));
    assert_eq!(find_cycle(&graph), None);
    graph.insert("queue".to_owned(), BTreeMap::from([edge("store")]));
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["store".into(), "queue".into(), "store".into()])
    );
}

#[test]
fn no_crate_names_a_crate_above_it() {
    let root = workspace_root();
    for (position, (name, src)) in CRATES.iter().enumerate() {
        let mut files = Vec::new();
        rust_files(&root.join(src), &mut files);
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            for (above, _) in &CRATES[position + 1..] {
                assert!(
                    names_after(&text, &format!("{above}::")).next().is_none(),
                    "{name} names {above}, a crate above it, in {}",
                    file.display()
                );
            }
        }
        let manifest =
            fs::read_to_string(root.join(src).parent().unwrap().join("Cargo.toml")).unwrap();
        for (above, _) in &CRATES[position + 1..] {
            let package = above.replace('_', "-");
            assert!(
                !manifest.contains(&format!("\n{package} ")),
                "{name}'s Cargo.toml depends on {package}, a crate above it"
            );
        }
    }
}

#[test]
fn the_module_graph_sees_grouped_and_super_imports() {
    let root = workspace_root();
    // The server's queue processor imports the routing environment; the store's queue
    // module imports the messages module through `super::`.
    let server = module_graph(&root.join("host/src"));
    assert!(server["queue"].contains_key("routing"), "{server:#?}");
    let store = module_graph(&root.join("host/store/src"));
    assert!(store["queue"].contains_key("messages"), "{store:#?}");
}
