//! The dependency direction of api/src, as ARCHITECTURE.md writes it down:
//!
//! `main → app → routes → {jobs, serving} → {store, infra} → domain`, with `http/` a leaf kit
//! that only `routes` and `app` use, and `config` readable from every layer.
//!
//! This test reads every source file of api/src, collects the top-level modules each one names
//! through `crate::` (in `use` lines and in paths), and fails on an import that runs against the
//! direction. A new top-level module has to be given its place in [`LAYERS`] first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module of api/src and the top-level modules it may import.
const LAYERS: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("config", &[]),
    ("store", &["domain", "config"]),
    ("infra", &["domain", "config"]),
    ("serving", &["store", "infra", "domain", "config"]),
    ("jobs", &["store", "infra", "domain", "config"]),
    ("http", &["store", "infra", "domain", "config"]),
    (
        "routes",
        &[
            "http", "jobs", "serving", "store", "infra", "domain", "config",
        ],
    ),
    (
        "app",
        &[
            "routes", "http", "jobs", "serving", "store", "infra", "domain", "config",
        ],
    ),
    (
        "cli",
        &[
            "app", "jobs", "serving", "store", "infra", "domain", "config",
        ],
    ),
];

/// The top-level module a file under `src` belongs to (`lib` for lib.rs, `main` for main.rs).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("file under src");
    let first = relative
        .components()
        .next()
        .expect("non-empty path")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level module names that `source` reaches through `crate::`.
fn crate_imports(source: &str) -> BTreeSet<String> {
    // Comments may name paths that are not imports.
    let code: String = source
        .lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = BTreeSet::new();
    let mut at = 0;
    while let Some(found) = code[at..].find("crate::") {
        let start = at + found;
        at = start + "crate::".len();
        // `$crate::` belongs to macros; `foo_crate::` is another name.
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| c == '$' || c.is_alphanumeric() || c == '_') {
            continue;
        }
        match code[at..].strip_prefix('{') {
            Some(group) => names.extend(group_heads(group)),
            None => {
                names.insert(head(&code[at..]));
            }
        }
    }
    names.retain(|name| !name.is_empty() && name != "self");
    names
}

/// The first path segment of `path`.
fn head(path: &str) -> String {
    path.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The first segments of the items of a `crate::{a::b, c}` group; `group` starts after `{`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(head(&item));
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    heads.push(head(&item));
    heads
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_follow_the_layer_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some((_, allowed)) = LAYERS.iter().find(|(name, _)| *name == module) else {
            problems.push(format!(
                "{}: top-level module `{module}` has no place in LAYERS",
                file.display()
            ));
            continue;
        };
        let source = std::fs::read_to_string(file).expect("readable source");
        for name in crate_imports(&source) {
            if name == module {
                continue;
            }
            if !allowed.contains(&name.as_str()) {
                problems.push(format!(
                    "{}: `{module}` imports `crate::{name}`, against the layer direction",
                    file.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_scanner_sees_plain_grouped_and_split_imports() {
    let source = "use crate::store::Store;\nuse crate::{\n    domain::Campaign,\n    infra::{cache::Cache, signing},\n};\n// crate::routes in a comment\nlet x = crate::jobs::run();\nmacro_rules! m { () => { $crate::app::x() } }\n";
    let names: Vec<String> = crate_imports(source).into_iter().collect();
    assert_eq!(names, ["domain", "infra", "jobs", "store"]);
}
