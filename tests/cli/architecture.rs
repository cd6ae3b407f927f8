//! The shape of the source tree, checked: no module of a crate depends, through its submodules, on a
//! module that depends back on it (dependencies between the modules of one folder form no cycle), and no
//! source file grows past 500 lines unless its first lines say why (`// Length: ...`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The module path of a file of a crate's `src/` (`lib.rs` → [], `a/mod.rs` → [a], `a/b.rs` → [a, b]).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "lib" | "main" | "mod") {
        parts.push(stem.to_owned());
    }
    parts
}

/// The first identifiers after each `prefix` in `code` (`crate::a::b` → a; `crate::{a, b::c}` → a, b).
fn heads_after(code: &str, prefix: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut out = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let inner = &list[..list.find('}').unwrap_or(list.len())];
            out.extend(inner.split(',').map(|item| ident(item.trim())).filter(|s| !s.is_empty()));
        } else {
            let head = ident(rest);
            if !head.is_empty() {
                out.push(head);
            }
        }
    }
    out
}

/// Code without comments (line comments, doc comments).
fn code_of(text: &str) -> String {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// `a` and `b` as children of their deepest common ancestor, when neither contains the other.
fn siblings(a: &[String], b: &[String]) -> Option<(Vec<String>, String, String)> {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    (common < a.len() && common < b.len()).then(|| (a[..common].to_vec(), a[common].clone(), b[common].clone()))
}

/// A cycle in a directed graph, if any.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| s == m).unwrap();
                    return Some(stack[start..].iter().cloned().chain([m.clone()]).collect());
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, edges, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_module_depends_on_itself_through_another() {
    let mut crates: Vec<PathBuf> =
        std::fs::read_dir(crate::util::root().join("crates")).unwrap().map(|e| e.unwrap().path().join("src")).collect();
    crates.sort();
    for src in crates {
        // (parent module, child) -> children it depends on.
        let mut levels: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for file in rust_files(&src) {
            let module = module_of(&src, &file);
            let is_mod = file.file_name().is_some_and(|n| n == "mod.rs" || n == "lib.rs");
            let code = code_of(&std::fs::read_to_string(&file).unwrap());
            let parent: Vec<String> =
                if is_mod { module.clone() } else { module[..module.len().saturating_sub(1)].to_vec() };
            let mut targets: Vec<Vec<String>> = heads_after(&code, "crate::").into_iter().map(|h| vec![h]).collect();
            // `super::x` in a file is its parent's child x (its grandparent's for a mod.rs).
            let sup: Vec<String> =
                if is_mod { parent[..parent.len().saturating_sub(1)].to_vec() } else { parent.clone() };
            targets.extend(heads_after(&code, "super::").into_iter().map(|h| [sup.clone(), vec![h]].concat()));
            for target in targets {
                if let Some((level, from, to)) = siblings(&module, &target) {
                    levels.entry(level).or_default().entry(from).or_default().insert(to);
                }
            }
        }
        for (level, edges) in &levels {
            if let Some(cycle) = find_cycle(edges) {
                panic!(
                    "{}: modules under `{}` depend on each other in a circle: {}",
                    src.display(),
                    level.join("::"),
                    cycle.join(" -> ")
                );
            }
        }
    }
}

#[test]
fn source_files_stay_short_or_say_why() {
    let root = crate::util::root();
    let mut dirs: Vec<PathBuf> = vec![root.join("src"), root.join("tests")];
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        dirs.push(entry.unwrap().path());
    }
    let mut long = Vec::new();
    for dir in dirs {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            let reason = text.lines().take(12).any(|l| l.starts_with("// Length:"));
            if text.lines().count() > 500 && !reason {
                long.push(format!("{} ({} lines)", file.strip_prefix(&root).unwrap().display(), text.lines().count()));
            }
        }
    }
    assert!(long.is_empty(), "files over 500 lines without a `// Length:` reason: {long:?}");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&edges).unwrap(), ["a", "b", "c", "a"]);
    assert_eq!(heads_after("use crate::{io::x, nn};", "crate::"), ["io", "nn"]);
    assert_eq!(heads_after("slm_crate::y + crate::z::w", "crate::"), ["z"]);
}
