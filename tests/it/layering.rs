//! The code's shape, checked like behaviour: the top-level modules of the
//! client form layers (no import cycle between them), no function runs past
//! 120 lines, and a file past 800 lines says in its module doc why it stays
//! one file (a line starting `//! Why one long file:`).
//!
//! A small Rust lexer rather than a parser crate: the checks need only
//! `crate::` paths, `fn` items and braces, with strings, chars and comments
//! skipped, and a test should not pull a parser into the build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 120;
const MAX_FILE_LINES: usize = 800;

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `src` with comments, string and char literals blanked (newlines kept, so
/// line numbers hold).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, s: &[u8]| out.extend(s.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
    while i < b.len() {
        let rest = &b[i..];
        // A literal's prefix (`r`, `b`) starts a token; inside an identifier it is a letter.
        let starts_token = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let end = if rest.starts_with(b"//") {
            i + rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            i + 2
                + rest[2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(rest.len() - 2, |p| p + 2)
        } else if let Some((open, hashes)) = raw_string_start(rest).filter(|_| starts_token) {
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            i + open + rest[open..].windows(close.len()).position(|w| w == close).unwrap() + close.len()
        } else if rest[0] == b'"' || (starts_token && rest.starts_with(b"b\"")) {
            let mut j = if rest[0] == b'"' { 1 } else { 2 };
            while rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            i + j + 1
        } else if rest[0] == b'\'' && is_char_literal(rest) {
            // The closing quote comes after the char or its escape's first two bytes.
            let from = if rest[1] == b'\\' { 3 } else { 2 };
            i + from + rest[from..].iter().position(|&c| c == b'\'').unwrap() + 1
        } else {
            out.push(b[i]);
            i += 1;
            continue;
        };
        blank(&mut out, &b[i..end]);
        i = end;
    }
    String::from_utf8(out).unwrap()
}

/// `r"…"`, `r#"…"#`, `br"…"`: the length of the opening (prefix, hashes and
/// quote) and the number of `#`.
fn raw_string_start(rest: &[u8]) -> Option<(usize, usize)> {
    let prefix = if rest.starts_with(b"br") { 2 } else { 1 };
    let r = rest.strip_prefix(b"b").unwrap_or(rest).strip_prefix(b"r")?;
    let hashes = r.iter().take_while(|&&c| c == b'#').count();
    (r.get(hashes) == Some(&b'"')).then_some((prefix + hashes + 1, hashes))
}

/// `'x'`, `'\n'`, `'\u{..}'` (not a lifetime `'a`).
fn is_char_literal(rest: &[u8]) -> bool {
    match rest.get(1) {
        Some(b'\\') => true,
        Some(_) => {
            let window = &rest[1..rest.len().min(6)];
            let s = match std::str::from_utf8(window) {
                Ok(s) => s,
                Err(e) => std::str::from_utf8(&window[..e.valid_up_to()]).unwrap(),
            };
            let mut chars = s.chars();
            chars.next();
            chars.next() == Some('\'')
        }
        None => false,
    }
}

/// The top-level modules `code` names through `crate::…` paths, `use crate::{a, b::c}` included.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The top-level items of a `{…}` group (nested groups skipped).
            let (mut depth, mut item) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(head(&item));
                        item.clear();
                    }
                    _ if depth == 0 => item.push(c),
                    _ => {}
                }
            }
            found.insert(head(&item));
        } else {
            found.insert(head(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    found
}

fn head(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Strongly connected components of more than one module.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for n in edges.get(&m).into_iter().flatten() {
                if seen.insert(n.clone()) {
                    todo.push(n.clone());
                }
            }
        }
        seen
    };
    let mut out: Vec<Vec<String>> = Vec::new();
    for m in edges.keys() {
        let r = reach(m);
        let scc: Vec<String> = edges
            .keys()
            .filter(|n| *n != m && r.contains(*n) && reach(n).contains(m))
            .cloned()
            .collect();
        if !scc.is_empty() && !out.iter().any(|c| c.contains(m)) {
            let mut c = scc;
            c.push(m.clone());
            c.sort();
            out.push(c);
        }
    }
    out
}

#[test]
fn the_top_level_modules_form_layers_without_an_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut why: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        let top = head(&rel.components().next().unwrap().as_os_str().to_string_lossy());
        if top == "lib" || top == "main" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        for to in crate_paths(&code) {
            if to != top {
                why.entry((top.clone(), to.clone()))
                    .or_insert_with(|| rel.display().to_string());
                edges.entry(top.clone()).or_default().insert(to);
            }
        }
        edges.entry(top).or_default();
    }
    let found = cycles(&edges);
    let explain: Vec<String> = found
        .iter()
        .map(|c| {
            let uses: Vec<String> = why
                .iter()
                .filter(|((a, b), _)| c.contains(a) && c.contains(b))
                .map(|((a, b), f)| format!("{a} → {b} ({f})"))
                .collect();
            format!("cycle {c:?}: {}", uses.join(", "))
        })
        .collect();
    assert!(found.is_empty(), "{}", explain.join("\n"));
    // The checker sees edges at all: the runner uses the stages.
    assert!(edges["pipeline"].contains("stages"), "{edges:?}");
}

/// Every `fn` item's length in lines (signature to closing brace), by file and line.
fn function_lengths(code: &str) -> Vec<(usize, usize)> {
    let lines: Vec<usize> = std::iter::once(0)
        .chain(code.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let line_of = |at: usize| lines.partition_point(|&s| s <= at);
    let b = code.as_bytes();
    let mut out = Vec::new();
    for (at, _) in code.match_indices("fn ") {
        let word_start = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        if !word_start {
            continue;
        }
        // The body opens at the first `{` before any `;` (a declaration without body has none).
        let Some(open) = code[at..].find(['{', ';']).map(|o| at + o).filter(|&o| b[o] == b'{') else {
            continue;
        };
        let mut depth = 0;
        let close = (open..b.len())
            .find(|&j| {
                match b[j] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .unwrap();
        out.push((line_of(at), line_of(close) - line_of(at) + 1));
    }
    out
}

#[test]
fn no_function_is_longer_than_120_lines_and_long_files_say_why() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = rust_files(&root.join("src"));
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        files.extend(rust_files(&krate.unwrap().path().join("src")));
    }
    let mut problems = Vec::new();
    let mut longest = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(root).unwrap().display();
        for (line, len) in function_lengths(&code_only(&text)) {
            longest = longest.max(len);
            if len > MAX_FN_LINES {
                problems.push(format!("{rel}:{line}: a function of {len} lines"));
            }
        }
        let says_why = text
            .lines()
            .take_while(|l| l.starts_with("//!") || l.is_empty())
            .any(|l| l.starts_with("//! Why one long file:"));
        if text.lines().count() > MAX_FILE_LINES && !says_why {
            problems.push(format!(
                "{rel}: {} lines, and its module doc does not say why",
                text.lines().count()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The measure sees functions at all.
    assert!(longest > 40, "the longest function found has {longest} lines");
}

#[test]
fn the_lexer_skips_what_is_not_code() {
    let src = "let a = \"crate::x { \"; // crate::y {\nlet c = '{'; let q = '\\''; let r = r#\"}\"#; let s = br#\"{\"#; let u = '→'; fn f<'a>() { crate::z::w() }\n";
    let code = code_only(src);
    assert_eq!(code.lines().count(), 2);
    assert_eq!(crate_paths(&code), BTreeSet::from(["z".to_string()]));
    assert_eq!(function_lengths(&code), vec![(2, 1)]);
    assert_eq!(
        crate_paths("use crate::{a::b, c, d::{e, f}};"),
        BTreeSet::from(["a".into(), "c".into(), "d".into()])
    );
}
