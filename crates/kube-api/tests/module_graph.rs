//! The crate's modules import each other without cycles: no module imports, directly or through
//! others, a module that imports it back (issue 11's rule). The graph is read from the sources'
//! `crate::`/`super::` paths (in `use` lines and in code), resolved to the files that define the
//! modules (a path to an item resolves to the module that holds it; a root re-export to the
//! module it re-exports). `mod` declarations are not imports, so a folder's `mod.rs` may declare
//! its children.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Pairs allowed to import each other because they are one concept split for size. Empty: no
/// module of this crate needs it.
const ONE_CONCEPT_SPLIT: &[(&str, &str)] = &[];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `a/b.rs` and `a/b/mod.rs` → `a::b`; `lib.rs` → `` (the root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// Code without comments and string literals (so doc links and messages are not imports).
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal that could hide a quote ('"').
            '\'' if chars.clone().nth(1) == Some('\'') || chars.clone().nth(2) == Some('\'') => {
                let mut literal = String::new();
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    literal.push(c);
                }
                if literal.chars().count() > 2 {
                    out.push('\'');
                    out.push_str(&literal);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A file's imports: every path it names from `crate::`, `super::`, `self::` or one of its own
/// child modules (`mod x;`), with `use` trees expanded (`crate::a::{b, c::d}` → `crate::a::b`,
/// `crate::a::c::d`), relative paths made absolute; and separately its `pub use` re-exports
/// (name → path), which route names and are not imports of their own.
#[derive(Default)]
struct Imports {
    paths: Vec<String>,
    reexports: Vec<(String, String)>,
}

fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim_end_matches("::").trim();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let base = if head.is_empty() { prefix.to_string() } else { format!("{prefix}::{head}") };
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&base, &inner[start..], out);
    } else if !tree.is_empty() {
        let name = tree.split(" as ").next().unwrap().trim();
        out.push(if name == "self" { prefix.to_string() } else { format!("{prefix}::{name}") });
    }
}

/// `module` is the file's own path (`a::b`); paths come back as `crate::…`.
fn imports(code: &str, module: &str) -> Imports {
    let children: Vec<&str> = code
        .split(';')
        .filter_map(|st| {
            let st = st.trim();
            let st = st.strip_prefix("pub ").or_else(|| st.strip_prefix("pub(crate) ")).unwrap_or(st);
            st.strip_prefix("mod ").map(str::trim)
        })
        .collect();
    let absolute = |path: &str| -> Option<String> {
        let mut parts: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
        let mut segments = path.split("::").peekable();
        let first = *segments.peek()?;
        match first {
            "crate" => {
                segments.next();
                parts.clear();
            }
            "self" => {
                segments.next();
            }
            "super" => {
                while segments.peek() == Some(&"super") {
                    segments.next();
                    parts.pop();
                }
            }
            child if children.contains(&child) => {}
            _ => return None,
        }
        parts.extend(segments);
        Some(format!("crate::{}", parts.join("::")))
    };
    let mut out = Imports::default();
    for statement in code.split(';') {
        let statement = statement.trim();
        let (public, body) = match statement.strip_prefix("pub ").or_else(|| statement.strip_prefix("pub(crate) ")) {
            Some(body) => (true, body),
            None => (false, statement),
        };
        if let Some(tree) = body.strip_prefix("use ") {
            let mut trees = Vec::new();
            expand("", tree, &mut trees);
            for path in trees {
                let Some(path) = absolute(path.trim_start_matches("::")) else { continue };
                if public {
                    let name = path.rsplit("::").next().unwrap().to_string();
                    out.reexports.push((name, path));
                } else {
                    out.paths.push(path);
                }
            }
            continue;
        }
        let bytes = statement.as_bytes();
        let mut at = 0;
        while at < statement.len() {
            let c = bytes[at] as char;
            let boundary = at == 0 || {
                let before = bytes[at - 1] as char;
                !(before.is_alphanumeric() || before == '_' || before == ':')
            };
            if boundary && (c.is_alphabetic() || c == '_') {
                let end = statement[at..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .map_or(statement.len(), |e| at + e);
                let path = statement[at..end].trim_end_matches(':');
                if path.contains("::")
                    && let Some(absolute) = absolute(path)
                {
                    out.paths.push(absolute);
                }
                at = end.max(at + 1);
            } else {
                at += 1;
            }
        }
    }
    out
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    // A file's unit tests (its `#[cfg(test)]` module, last by the house style) are not part of
    // the graph: their `super` is the file itself.
    let texts: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            (module_of(&src, f), code(text.split("#[cfg(test)]").next().unwrap()))
        })
        .collect();
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    let read: BTreeMap<String, Imports> = texts.iter().map(|(m, text)| (m.clone(), imports(text, m))).collect();
    // The module that defines what `path` names: its longest module prefix, following re-exports
    // (a façade's `pub use` routes the name to where it is defined).
    let resolve = |path: &str| -> Option<String> {
        let mut path = path.strip_prefix("crate::")?.to_string();
        for _ in 0..8 {
            let parts: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let module = (0..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|m| modules.contains(m))?;
            let depth = module.split("::").filter(|s| !s.is_empty()).count();
            let Some(next) = parts.get(depth) else { return Some(module) };
            match read[&module].reexports.iter().find(|(name, _)| name == next) {
                Some((_, target)) => {
                    let rest = parts[depth + 1..].join("::");
                    let target = target.strip_prefix("crate::").unwrap_or(target);
                    path = if rest.is_empty() { target.to_string() } else { format!("{target}::{rest}") };
                }
                None => return Some(module),
            }
        }
        None
    };
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, found) in &read {
        if module.is_empty() {
            continue;
        }
        for path in &found.paths {
            if let Some(target) = resolve(path)
                && target != *module
                && !target.is_empty()
            {
                imports.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    // Every pair (a, b) where b is reachable from a and a from b.
    let reachable = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(m) = stack.pop() {
            for next in imports.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let allowed =
        |a: &str, b: &str| ONE_CONCEPT_SPLIT.iter().any(|(x, y)| (*x == a && *y == b) || (*x == b && *y == a));
    let mut cycles = Vec::new();
    for module in imports.keys() {
        for other in reachable(module) {
            if *module < other && reachable(&other).contains(module) && !allowed(module, &other) {
                cycles.push(format!("{module} <-> {other}"));
            }
        }
    }
    assert!(
        imports.len() > 20,
        "the graph was not read: {} modules import others ({:?})",
        imports.len(),
        imports.keys().collect::<Vec<_>>()
    );
    assert!(cycles.is_empty(), "modules that import each other (directly or through others):\n{}", cycles.join("\n"));
}

#[test]
fn the_reader_sees_imports_in_every_form() {
    let text = code(
        "mod kid;\nuse crate::a::{b, c::{d, e as f}};\nuse super::g;\npub use kid::Thing;\n// crate::not_this\n\
         fn x() { crate::h::i(); let s = \"crate::no\"; super::super::j::k(); kid::run(); other::skip(); }",
    );
    let found = imports(&text, "top::mid");
    let mut paths = found.paths.clone();
    paths.sort();
    assert_eq!(
        paths,
        [
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c::e",
            "crate::h::i",
            "crate::j::k",
            "crate::top::g",
            "crate::top::mid::kid::run"
        ]
    );
    assert_eq!(found.reexports, [("Thing".to_string(), "crate::top::mid::kid::Thing".to_string())]);
}
