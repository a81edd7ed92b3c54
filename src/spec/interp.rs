//! `${VAR}` interpolation from the environment, applied to the text of a
//! pipeline file before it is parsed.
//!
//! Only double-quoted TOML strings are interpolated (comments and literal
//! strings are left alone), and substituted values are escaped, so a value
//! can never change the file's structure or its line numbers. A variable that
//! is not set becomes a marker that validation later reports with the key
//! that needed it (or ignores, for keys that `--sandbox` replaces).

use std::collections::BTreeMap;

/// Stands for an unset variable inside an interpolated string.
pub const MISSING_MARK: char = '\u{E000}';

/// The interpolated text, and for each unset variable the 1-based lines that use it.
pub struct Interpolated {
    pub text: String,
    pub missing: BTreeMap<String, Vec<usize>>,
}

/// The name of an unset variable if `value` holds its marker.
pub fn missing_var(value: &str) -> Option<&str> {
    let start = value.find(MISSING_MARK)? + MISSING_MARK.len_utf8();
    let len = value[start..].find(MISSING_MARK)?;
    Some(&value[start..start + len])
}

pub fn interpolate(src: &str, env: impl Fn(&str) -> Option<String>) -> Interpolated {
    #[derive(PartialEq)]
    enum Ctx {
        Code,
        Comment,
        Basic,
        BasicMulti,
        Literal,
        LiteralMulti,
    }
    let mut out = String::with_capacity(src.len());
    let mut missing: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut ctx = Ctx::Code;
    let mut line = 1;
    let mut i = 0;
    let bytes = src.as_bytes();
    while i < src.len() {
        let rest = &src[i..];
        let c = rest.chars().next().expect("in bounds");
        match ctx {
            Ctx::Code => {
                if rest.starts_with("\"\"\"") {
                    ctx = Ctx::BasicMulti;
                    out.push_str("\"\"\"");
                    i += 3;
                    continue;
                } else if rest.starts_with("'''") {
                    ctx = Ctx::LiteralMulti;
                    out.push_str("'''");
                    i += 3;
                    continue;
                }
                ctx = match c {
                    '#' => Ctx::Comment,
                    '"' => Ctx::Basic,
                    '\'' => Ctx::Literal,
                    _ => Ctx::Code,
                };
            }
            Ctx::Comment if c == '\n' => ctx = Ctx::Code,
            Ctx::Literal if c == '\'' || c == '\n' => ctx = Ctx::Code,
            Ctx::LiteralMulti if rest.starts_with("'''") => {
                out.push_str("'''");
                i += 3;
                ctx = Ctx::Code;
                continue;
            }
            Ctx::Basic | Ctx::BasicMulti => {
                if c == '\\' && i + 1 < src.len() {
                    // Keep escapes as they are (including an escaped quote).
                    let next = rest[1..].chars().next().expect("in bounds");
                    out.push(c);
                    out.push(next);
                    if next == '\n' {
                        line += 1;
                    }
                    i += 1 + next.len_utf8();
                    continue;
                }
                if ctx == Ctx::Basic && (c == '"' || c == '\n') {
                    ctx = Ctx::Code;
                } else if ctx == Ctx::BasicMulti && rest.starts_with("\"\"\"") {
                    out.push_str("\"\"\"");
                    i += 3;
                    ctx = Ctx::Code;
                    continue;
                } else if rest.starts_with("${")
                    && let Some(end) = rest.find('}')
                {
                    let name = &rest[2..end];
                    if is_var_name(name) {
                        match env(name) {
                            Some(value) => escape_into(&value, &mut out),
                            None => {
                                missing.entry(name.to_string()).or_default().push(line);
                                out.push(MISSING_MARK);
                                out.push_str(name);
                                out.push(MISSING_MARK);
                            }
                        }
                        i += end + 1;
                        continue;
                    }
                }
            }
            _ => {}
        }
        if bytes[i] == b'\n' {
            line += 1;
        }
        out.push(c);
        i += c.len_utf8();
    }
    Interpolated { text: out, missing }
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Escape for a TOML basic string: no substituted value adds a quote or a line.
fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("a\"b\\c".into()),
            "DIR" => Some("/tmp/x".into()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_in_basic_strings_only() {
        let src = "# ${NOPE} in a comment\npath = \"${DIR}/in.csv\"\nlit = '${NOPE}'\nkey = \"${KEY}\"\n";
        let out = interpolate(src, env);
        assert!(out.missing.is_empty(), "{:?}", out.missing);
        let v: toml::Table = toml::from_str(&out.text).unwrap();
        assert_eq!(v["path"].as_str(), Some("/tmp/x/in.csv"));
        assert_eq!(v["lit"].as_str(), Some("${NOPE}"));
        assert_eq!(v["key"].as_str(), Some("a\"b\\c"));
    }

    #[test]
    fn reports_missing_with_line() {
        let out = interpolate("a = 1\nkey = \"${API_KEY}\"\n", env);
        assert_eq!(out.missing["API_KEY"], vec![2]);
        let v: toml::Table = toml::from_str(&out.text).unwrap();
        assert_eq!(missing_var(v["key"].as_str().unwrap()), Some("API_KEY"));
    }
}
