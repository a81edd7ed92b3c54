//! The demo input: a contact list drawn from the sandbox universe of a seed,
//! mixing every case the pipeline meets. `examples/gen_demo.rs` writes
//! `data/demo.csv` with it; the crash test draws larger lists from it.
//!
//! The mix (a deterministic function of the seed and row count): mostly people
//! RocketReach finds at once, some whose lookup is async (`searching`/`progress`
//! before `complete`), a few whose lookup `failed`, some RocketReach does not
//! know (universe people it has no profile for, and people who exist nowhere),
//! some at catch-all domains, some on graph8's "Do not contact" suppressions
//! list, a few duplicates (some with case/whitespace variants of the email),
//! some rows without email and some without LinkedIn URL.
//! Columns: `first_name,last_name,email,company,website,linkedin_url`.

use std::collections::HashSet;

use super::{Person, RrOutcome, SandboxConfig, Universe};

/// SplitMix64 step, for deterministic choices here.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Row {
    first: String,
    last: String,
    email: String,
    company: String,
    website: String,
    linkedin: String,
}

fn row(u: &Universe, p: &Person, seed: u64) -> Row {
    let c = u.company_of(p);
    let h = mix(seed ^ p.id);
    Row {
        first: p.first_name.clone(),
        last: p.last_name.clone(),
        // ~10% without email: the pipeline must look them up by name+employer or LinkedIn.
        email: if h.is_multiple_of(10) {
            String::new()
        } else {
            p.work_email.clone()
        },
        company: c.name.clone(),
        website: if h.is_multiple_of(3) {
            c.domain.clone()
        } else {
            c.website.clone()
        },
        // ~12% without LinkedIn on top of people who have none.
        linkedin: if (h >> 8).is_multiple_of(8) {
            String::new()
        } else {
            p.linkedin_url.clone().unwrap_or_default()
        },
    }
}

/// The demo contact list of `rows` rows (at least 10) for a sandbox with
/// `seed` and the default universe, as CSV text with a header.
pub fn demo_contacts(seed: u64, rows: usize) -> String {
    let defaults = SandboxConfig::default();
    let u = Universe::new(seed, defaults.universe.companies, defaults.universe.people);
    // People in a seeded order.
    let mut order: Vec<&Person> = u.people.iter().collect();
    order.sort_by_key(|p| mix(seed.wrapping_mul(31) ^ p.id));
    // The suppressions list holds the first `suppressions_size` flagged people.
    let suppressed: HashSet<u64> = u
        .people
        .iter()
        .filter(|p| p.suppressed)
        .take(defaults.graph8.suppressions_size as usize)
        .map(|p| p.id)
        .collect();

    let n = rows.max(10);
    let quota = |pct: usize| (n * pct).div_ceil(100);
    let mut used = HashSet::new();
    let mut picked: Vec<u32> = Vec::new();
    let mut take = |pred: &dyn Fn(&Person) -> bool, k: usize, picked: &mut Vec<u32>| {
        for p in order
            .iter()
            .filter(|p| !used.contains(&p.id) && pred(p))
            .take(k)
            .copied()
            .collect::<Vec<_>>()
        {
            used.insert(p.id);
            picked.push(p.idx);
        }
    };
    let catch_all = |p: &Person| u.company_of(p).catch_all;
    take(
        &|p| suppressed.contains(&p.id) && p.rr == RrOutcome::Instant,
        quota(2),
        &mut picked,
    );
    take(&|p| catch_all(p) && p.rr == RrOutcome::Instant, quota(7), &mut picked);
    take(&|p| p.rr == RrOutcome::Async, quota(15), &mut picked);
    take(&|p| p.rr == RrOutcome::Failed, quota(4), &mut picked);
    take(&|p| p.rr == RrOutcome::NotFound, quota(5), &mut picked);
    let ghosts = quota(3);
    let dups = quota(3);
    let rest = n.saturating_sub(picked.len() + ghosts + dups);
    take(&|p| p.rr == RrOutcome::Instant && !catch_all(p), rest, &mut picked);

    let mut rows: Vec<(u64, Row)> = picked
        .iter()
        .map(|&i| &u.people[i as usize])
        .map(|p| (mix(seed ^ p.id ^ 0xD3), row(&u, p, seed)))
        .collect();
    for g in 0..ghosts as u64 {
        let (first, last, company, email) = u.ghost(g);
        let domain = email.rsplit('@').next().unwrap_or("").to_string();
        let linkedin = if g % 2 == 0 {
            format!(
                "https://www.linkedin.com/in/{}-{}-{g}",
                first.to_lowercase(),
                last.to_lowercase()
            )
        } else {
            String::new()
        };
        rows.push((
            mix(seed ^ g ^ 0x6057),
            Row {
                first,
                last,
                email,
                company,
                website: format!("https://{domain}"),
                linkedin,
            },
        ));
    }
    rows.sort_by_key(|r| r.0);
    // Duplicates of earlier rows: some exact, some with the email's case or
    // surrounding whitespace changed.
    for d in 0..dups {
        let src = &rows[(mix(seed ^ d as u64 ^ 0xD0) % rows.len() as u64) as usize].1;
        let email = match d % 3 {
            0 => src.email.clone(),
            1 => src.email.to_uppercase(),
            _ => format!("  {} ", capitalise(&src.email)),
        };
        let dup = Row {
            first: src.first.clone(),
            last: src.last.clone(),
            email,
            company: src.company.clone(),
            website: src.website.clone(),
            linkedin: src.linkedin.clone(),
        };
        let at = (mix(seed ^ d as u64 ^ 0xAB) % rows.len() as u64) as usize;
        rows.insert(at, (0, dup));
    }
    rows.truncate(n);

    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["first_name", "last_name", "email", "company", "website", "linkedin_url"])
        .expect("CSV into memory");
    for (_, r) in &rows {
        w.write_record([&r.first, &r.last, &r.email, &r.company, &r.website, &r.linkedin])
            .expect("CSV into memory");
    }
    String::from_utf8(w.into_inner().expect("CSV into memory")).expect("UTF-8 fields")
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
