//! `[budget]` and the file hash: the hash that decides whether an unfinished
//! run may be resumed leaves the budget out, so raising a budget and running
//! again continues the run. The budget itself is `vendors::budget::spec`.

/// The pipeline file's text without its `[budget]` table, for the hash that
/// decides whether an unfinished run may be resumed: raising a budget and
/// running again continues the run. Identical to `raw` when the file has no
/// budget, so adding one does not change the hash either.
pub fn without_budget(raw: &str) -> std::borrow::Cow<'_, str> {
    let mut kept = String::with_capacity(raw.len());
    let mut in_budget = false;
    let mut dropped = false;
    for line in raw.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            let name = t.trim_start_matches('[').split(']').next().unwrap_or("").trim();
            in_budget = name == "budget" || name.starts_with("budget.");
        }
        // A dotted key at the top level (`budget.leadrocks = …`) is the same table.
        let top_level_dotted = !in_budget && t.starts_with("budget.") && t.contains('=');
        if in_budget || top_level_dotted {
            dropped = true;
            continue;
        }
        kept.push_str(line);
    }
    if dropped {
        std::borrow::Cow::Owned(kept)
    } else {
        std::borrow::Cow::Borrowed(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_text_drops_the_budget_table_and_nothing_else() {
        let raw = "name = \"x\"\n[state]\npath = \"s.db\"\n\n[budget]\nmax_paid_calls = 5\nleadrocks = { run = 1 }\n\n[[sinks]]\nkind = \"csv\"\n";
        assert_eq!(
            without_budget(raw),
            "name = \"x\"\n[state]\npath = \"s.db\"\n\n[[sinks]]\nkind = \"csv\"\n"
        );
        let plain = "name = \"x\"\n[state]\npath = \"s.db\"\n";
        assert!(matches!(without_budget(plain), std::borrow::Cow::Borrowed(_)));
    }
}
