//! Normalisation of identity fields: email, names, company domain, LinkedIn URL.
//!
//! Pure functions on strings, used by sources and stages alike; they allocate
//! only when the value changes or must be owned.

use unicode_normalization::{UnicodeNormalization, is_nfc_quick};

/// Trim and lowercase an email and check its syntax.
/// `Err` carries a short reason suitable for a rejects file.
pub fn email(raw: &str) -> Result<String, &'static str> {
    let mut out = String::new();
    email_into(raw, &mut out).map(|()| out)
}

/// [`email`], appending to `out` (left unchanged on error).
pub fn email_into(raw: &str, out: &mut String) -> Result<(), &'static str> {
    let s = trim(raw);
    if s.is_empty() {
        return Err("empty email");
    }
    let start = out.len();
    if s.is_ascii() {
        out.push_str(s);
        out[start..].make_ascii_lowercase();
    } else {
        out.extend(s.chars().flat_map(char::to_lowercase));
    }
    match check_email(&out[start..]) {
        Ok(()) => Ok(()),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// `str::trim`, without decoding characters when both ends are plainly not whitespace.
fn trim(s: &str) -> &str {
    let plain = |b: u8| b.is_ascii() && !matches!(b, b'\t'..=b'\r' | b' ');
    match s.as_bytes() {
        [first, .., last] if plain(*first) && plain(*last) => s,
        [only] if plain(*only) => s,
        _ => s.trim(),
    }
}

/// Bytes allowed in an email's local part (besides non-ASCII ones).
const LOCAL_OK: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c >= 0x80;
        b += 1;
    }
    let extra = b"!#$%&'*+-/=?^_`{|}~.";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
};

/// Bytes allowed in a domain label (besides non-ASCII ones).
const LABEL_OK: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c >= 0x80;
        b += 1;
    }
    t
};

/// RFC 5321-shaped syntax check (the common subset mail providers accept).
pub fn check_email(s: &str) -> Result<(), &'static str> {
    let at = memchr::memchr(b'@', s.as_bytes()).ok_or("email has no @")?;
    let (local, domain) = (&s.as_bytes()[..at], &s.as_bytes()[at + 1..]);
    if memchr::memchr(b'@', domain).is_some() {
        return Err("email has more than one @");
    }
    if local.is_empty() || local.len() > 64 {
        return Err("email local part is empty or longer than 64 characters");
    }
    let mut double_dot = false;
    let mut allowed = true;
    let mut prev = 0u8;
    for &b in local {
        double_dot |= b == b'.' && prev == b'.';
        allowed &= LOCAL_OK[b as usize];
        prev = b;
    }
    if local[0] == b'.' || prev == b'.' || double_dot {
        return Err("email local part has a misplaced dot");
    }
    if !allowed {
        return Err("email local part has a character that is not allowed");
    }
    check_domain(domain)
}

fn check_domain(domain: &[u8]) -> Result<(), &'static str> {
    if domain.len() > 253 || memchr::memchr(b'.', domain).is_none() {
        return Err("email domain is not a full domain name");
    }
    let mut rest = domain;
    loop {
        let (label, last) = match memchr::memchr(b'.', rest) {
            Some(dot) => (&rest[..dot], false),
            None => (rest, true),
        };
        if label.is_empty() || label.len() > 63 {
            return Err("email domain has an empty or overlong label");
        }
        if label[0] == b'-' || label[label.len() - 1] == b'-' {
            return Err("email domain label starts or ends with a hyphen");
        }
        if !label.iter().all(|&b| LABEL_OK[b as usize]) {
            return Err("email domain has a character that is not allowed");
        }
        if last {
            if label.len() < 2 || label.iter().all(u8::is_ascii_digit) {
                return Err("email domain has no valid top-level domain");
            }
            return Ok(());
        }
        rest = &rest[label.len() + 1..];
    }
}

/// Gmail treats dots and `+tags` in the local part as the same mailbox.
/// Returns the canonical address for gmail.com / googlemail.com, else the input.
pub fn gmail_canonical(email: &str) -> std::borrow::Cow<'_, str> {
    let Some((local, domain)) = email.split_once('@') else {
        return email.into();
    };
    if domain != "gmail.com" && domain != "googlemail.com" {
        return email.into();
    }
    let local = local.split('+').next().unwrap_or(local);
    let mut out: String = local.chars().filter(|&c| c != '.').collect();
    out.push_str("@gmail.com");
    out.into()
}

/// NFC-normalise, trim and collapse inner whitespace; `None` if nothing is left.
pub fn name(raw: &str) -> Option<String> {
    let mut out = String::new();
    name_into(raw, &mut out).then_some(out)
}

/// [`name`], appending to `out`; false (and `out` unchanged) if nothing is left.
pub fn name_into(raw: &str, out: &mut String) -> bool {
    let s = trim(raw);
    if s.is_empty() {
        return false;
    }
    if is_simple_ascii(s.as_bytes()) {
        out.push_str(s);
        return true;
    }
    let simple = !s.contains("  ") && !s.contains(['\t', '\n', '\r', '\u{a0}']);
    if simple && (s.is_ascii() || is_nfc_quick(s.chars()) == unicode_normalization::IsNormalized::Yes) {
        out.push_str(s);
        return true;
    }
    let start = out.len();
    for (i, word) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.extend(word.nfc());
    }
    out.len() > start
}

/// ASCII with no tab, line break or double space: already a normal name.
fn is_simple_ascii(s: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in s {
        if !b.is_ascii() || matches!(b, b'\t' | b'\n' | b'\r') || (b == b' ' && prev == b' ') {
            return false;
        }
        prev = b;
    }
    true
}

/// Split a full name into (first, last): the last word is the last name.
pub fn split_full_name(full: &str) -> (Option<String>, Option<String>) {
    let (first, last) = split_full_name_ref(full);
    (first.map(str::to_string), last.map(str::to_string))
}

/// [`split_full_name`], borrowing from `full`.
pub fn split_full_name_ref(full: &str) -> (Option<&str>, Option<&str>) {
    match full.rsplit_once(' ') {
        Some((first, last)) => (Some(first), Some(last)),
        None => (Some(full), None),
    }
}

/// The bare host of a website or URL: no scheme, `www.`, path, port or query; lowercased.
pub fn domain(raw: &str) -> Option<String> {
    let mut out = String::new();
    domain_into(raw, &mut out).then_some(out)
}

/// [`domain`], appending to `out`; false (and `out` unchanged) if it is not a domain.
pub fn domain_into(raw: &str, out: &mut String) -> bool {
    let text = trim(raw);
    // Every cut below is at an ASCII byte, so `text[from..to]` stays on character boundaries.
    let b = text.as_bytes();
    let (mut from, mut to) = (0, b.len());
    for scheme in [&b"https://"[..], b"http://", b"//"] {
        if b.len() >= scheme.len() && b[..scheme.len()].eq_ignore_ascii_case(scheme) {
            from = scheme.len();
            break;
        }
    }
    if let Some(end) = b[from..].iter().position(|&c| matches!(c, b'/' | b'?' | b'#')) {
        to = from + end;
    }
    if let Some(at) = memchr::memrchr(b'@', &b[from..to]) {
        from += at + 1;
    }
    if let Some(colon) = memchr::memchr(b':', &b[from..to]) {
        to = from + colon;
    }
    while to > from && b[to - 1] == b'.' {
        to -= 1;
    }
    if to - from > 4 && b[from..from + 4].eq_ignore_ascii_case(b"www.") {
        from += 4;
    }
    let start = out.len();
    out.push_str(&text[from..to]);
    out[start..].make_ascii_lowercase();
    if check_domain(&out.as_bytes()[start..]).is_ok() {
        true
    } else {
        out.truncate(start);
        false
    }
}

/// Mailbox providers whose domain says nothing about the person's employer.
pub fn is_free_mail(domain: &str) -> bool {
    matches!(
        domain,
        "gmail.com"
            | "googlemail.com"
            | "yahoo.com"
            | "hotmail.com"
            | "outlook.com"
            | "live.com"
            | "aol.com"
            | "icloud.com"
            | "me.com"
            | "proton.me"
            | "protonmail.com"
            | "gmx.com"
            | "gmx.de"
            | "web.de"
            | "mail.ru"
            | "yandex.ru"
            | "qq.com"
            | "163.com"
    )
}

/// A LinkedIn profile URL in one canonical form: `https://www.linkedin.com/in/<slug>`.
pub fn linkedin_url(raw: &str) -> Option<String> {
    let mut out = String::new();
    linkedin_url_into(raw, &mut out).then_some(out)
}

/// [`linkedin_url`], appending to `out`; false (and `out` unchanged) if it is not a LinkedIn URL.
pub fn linkedin_url_into(raw: &str, out: &mut String) -> bool {
    const HOST: &[u8] = b"linkedin.com/";
    let s = trim(raw);
    let bytes = s.as_bytes();
    let Some(at) = memchr::memchr2_iter(b'l', b'L', bytes)
        .find(|&i| bytes.len() - i >= HOST.len() && bytes[i..i + HOST.len()].eq_ignore_ascii_case(HOST))
    else {
        return false;
    };
    let path = &s[at + HOST.len()..];
    let path = path.split(['?', '#']).next().unwrap_or("").trim_end_matches('/');
    if path.is_empty() {
        return false;
    }
    out.push_str("https://www.linkedin.com/");
    out.push_str(path);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails() {
        assert_eq!(email("  Jane.Doe@Example.COM ").unwrap(), "jane.doe@example.com");
        assert!(email("jane").is_err());
        assert!(email("jane@@example.com").is_err());
        assert!(email("ja ne@example.com").is_err());
        assert!(email("jane@example").is_err());
        assert!(email("jane@example.c").is_err());
        assert!(email(".jane@example.com").is_err());
        assert!(email("").is_err());
    }

    #[test]
    fn gmail() {
        assert_eq!(gmail_canonical("j.a.ne+news@googlemail.com"), "jane@gmail.com");
        assert_eq!(gmail_canonical("j.ane@example.com"), "j.ane@example.com");
    }

    #[test]
    fn domains() {
        assert_eq!(domain("https://www.Acme.com/about?x=1").as_deref(), Some("acme.com"));
        assert_eq!(domain("acme.io:8080").as_deref(), Some("acme.io"));
        assert_eq!(domain("not a domain"), None);
    }

    #[test]
    fn names() {
        assert_eq!(name("  Zoe\u{0308}   Smith ").as_deref(), Some("Zo\u{00eb} Smith"));
        assert_eq!(
            split_full_name("Mary Ann Jones"),
            (Some("Mary Ann".into()), Some("Jones".into()))
        );
    }

    #[test]
    fn linkedin() {
        assert_eq!(
            linkedin_url("http://linkedin.com/in/jane-doe/?trk=x").as_deref(),
            Some("https://www.linkedin.com/in/jane-doe")
        );
        assert_eq!(linkedin_url("https://example.com"), None);
    }

    proptest! {
        #[test]
        fn email_normalisation_is_idempotent(s in "[ A-Za-z0-9._+@-]{0,30}") {
            if let Ok(e) = email(&s) {
                prop_assert_eq!(email(&e).unwrap(), e.clone());
                prop_assert_eq!(e.trim(), e.as_str());
                prop_assert!(!e.bytes().any(|b| b.is_ascii_uppercase()));
            }
        }

        #[test]
        fn gmail_canonical_is_idempotent(local in "[a-z0-9.+]{1,12}") {
            let e = format!("{local}@gmail.com");
            let c = gmail_canonical(&e).into_owned();
            prop_assert_eq!(gmail_canonical(&c).into_owned(), c);
        }

        #[test]
        fn names_are_nfc_and_trimmed(s in "\\PC{0,20}") {
            if let Some(n) = name(&s) {
                prop_assert_eq!(n.trim(), n.as_str());
                prop_assert!(!n.contains("  "));
                prop_assert_eq!(n.nfc().collect::<String>(), n.clone());
            }
        }

        /// The byte-level normalisers give exactly what the straightforward `str` versions give.
        #[test]
        fn byte_level_normalisers_match_the_reference(s in "[ \\t.@:/?#a-zA-Z0-9_+-]{0,24}|\\PC{0,16}|( ?(https?://)?(www\\.)?[A-Za-z0-9.-]{0,10}(linkedin\\.com/)?[a-z/-]{0,8} ?)") {
            let mut out = String::from("prefix");
            let got = email_into(&s, &mut out).map(|()| out[6..].to_string());
            prop_assert_eq!(got, reference::email(&s));
            prop_assert_eq!(name(&s), reference::name(&s));
            prop_assert_eq!(domain(&s), reference::domain(&s));
            prop_assert_eq!(linkedin_url(&s), reference::linkedin_url(&s));
        }
    }

    /// The normalisers as first written, on `str` methods: the behaviour the fast versions keep.
    mod reference {
        use unicode_normalization::{UnicodeNormalization, is_nfc_quick};

        pub fn email(raw: &str) -> Result<String, &'static str> {
            let s = raw.trim();
            if s.is_empty() {
                return Err("empty email");
            }
            let out: String = s.chars().flat_map(char::to_lowercase).collect();
            check_email(&out).map(|()| out)
        }

        fn check_email(s: &str) -> Result<(), &'static str> {
            let (local, domain) = s.split_once('@').ok_or("email has no @")?;
            if domain.contains('@') {
                return Err("email has more than one @");
            }
            if local.is_empty() || local.len() > 64 {
                return Err("email local part is empty or longer than 64 characters");
            }
            if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
                return Err("email local part has a misplaced dot");
            }
            if !local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b) || b >= 0x80)
            {
                return Err("email local part has a character that is not allowed");
            }
            check_domain(domain)
        }

        fn check_domain(domain: &str) -> Result<(), &'static str> {
            if domain.len() > 253 || !domain.contains('.') {
                return Err("email domain is not a full domain name");
            }
            let mut labels = domain.split('.').peekable();
            while let Some(label) = labels.next() {
                if label.is_empty() || label.len() > 63 {
                    return Err("email domain has an empty or overlong label");
                }
                if label.starts_with('-') || label.ends_with('-') {
                    return Err("email domain label starts or ends with a hyphen");
                }
                if !label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80)
                {
                    return Err("email domain has a character that is not allowed");
                }
                if labels.peek().is_none() && (label.len() < 2 || label.bytes().all(|b| b.is_ascii_digit())) {
                    return Err("email domain has no valid top-level domain");
                }
            }
            Ok(())
        }

        pub fn name(raw: &str) -> Option<String> {
            let s = raw.trim();
            if s.is_empty() {
                return None;
            }
            let simple = !s.contains("  ") && !s.contains(['\t', '\n', '\r', '\u{a0}']);
            if simple && (s.is_ascii() || is_nfc_quick(s.chars()) == unicode_normalization::IsNormalized::Yes) {
                return Some(s.to_string());
            }
            let mut out = String::new();
            for (i, word) in s.split_whitespace().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.extend(word.nfc());
            }
            (!out.is_empty()).then_some(out)
        }

        pub fn domain(raw: &str) -> Option<String> {
            let mut s = raw.trim();
            for scheme in ["https://", "http://", "//"] {
                if s.len() >= scheme.len() && s.as_bytes()[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes()) {
                    s = &s[scheme.len()..];
                    break;
                }
            }
            let s = s.split(['/', '?', '#']).next().unwrap_or("");
            let s = s.rsplit_once('@').map_or(s, |(_, host)| host);
            let s = s.split(':').next().unwrap_or("");
            let s = s.trim_end_matches('.');
            let s = if s.len() > 4 && s.as_bytes()[..4].eq_ignore_ascii_case(b"www.") {
                &s[4..]
            } else {
                s
            };
            let out: String = s.chars().map(|c| c.to_ascii_lowercase()).collect();
            check_domain(&out).is_ok().then_some(out)
        }

        pub fn linkedin_url(raw: &str) -> Option<String> {
            const HOST: &[u8] = b"linkedin.com/";
            let s = raw.trim();
            let at = s
                .as_bytes()
                .windows(HOST.len())
                .position(|w| w.eq_ignore_ascii_case(HOST))?;
            let path = &s[at + HOST.len()..];
            let path = path.split(['?', '#']).next().unwrap_or("").trim_end_matches('/');
            if path.is_empty() {
                return None;
            }
            Some(format!("https://www.linkedin.com/{path}"))
        }
    }
}
