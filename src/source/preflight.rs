//! What the runner reads ahead of a run for the stages that plan ahead: the
//! rows of a file source by the identity fields they have, and its distinct
//! companies. Read once, before any stage starts, and only when a stage asks
//! for it ([`crate::stages::StageSpec::looks_ahead`]); stages never reopen
//! the source.
//!
//! A row is kept as its *shape*, the set of identity fields it has, with one
//! row of that shape as a sample: what a stage asks ahead (is a field
//! missing, is there a key to look the person up with) depends on which
//! fields a row has, not on their values. So memory grows with the distinct
//! companies, never with the rows.

use std::collections::{BTreeSet, HashMap};

use super::SourceError;
use super::csv::CsvSource;
use super::csv::CsvSourceSpec;
use crate::record::{Identity, IdentityField};

/// Which identity fields a row has (one bit per [`IdentityField`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape(u8);

impl Shape {
    pub fn of(id: &Identity) -> Shape {
        Shape(
            IdentityField::ALL
                .iter()
                .filter(|f| id.get(**f).is_some())
                .fold(0, |bits, f| bits | 1 << (*f as u8)),
        )
    }
}

/// A company as stages ask vendors about it: its website's domain (lower
/// case) when the row has one, else its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Company {
    Website(String),
    Name(String),
}

impl Company {
    pub fn of(id: &Identity) -> Option<Company> {
        if let Some(domain) = id.company_domain() {
            return Some(Company::Website(domain.to_lowercase()));
        }
        id.company().map(|name| Company::Name(name.to_string()))
    }
}

/// What the source holds, as far as stages need to know before the first row.
#[derive(Debug, Default)]
pub struct Preflight {
    /// Rows the source yields: read from a file, or a CRM list's member count
    /// as the CRM gives it; `None` when nothing was looked at.
    pub rows: Option<u64>,
    /// A file read ahead: rows by shape, with one row's identity of each.
    shapes: HashMap<Shape, (u64, Identity)>,
    /// A file read ahead: each distinct company, with the shapes of its rows.
    companies: HashMap<Company, BTreeSet<Shape>>,
}

impl Preflight {
    /// A CRM list: its size, nothing read.
    pub fn of_list(members: Option<u64>) -> Preflight {
        Preflight {
            rows: members,
            ..Preflight::default()
        }
    }

    /// Read a file source once, to the end. An unreadable file is an error
    /// of the run (it was readable a moment ago, for the fingerprint).
    pub fn read(spec: &CsvSourceSpec) -> Result<Preflight, SourceError> {
        let mut csv = CsvSource::open(spec)?;
        let mut ahead = Preflight {
            rows: Some(0),
            ..Preflight::default()
        };
        while let Some(batch) = csv.next_batch(4096)? {
            for rec in &batch.records {
                ahead.see(&rec.identity);
            }
        }
        Ok(ahead)
    }

    fn see(&mut self, id: &Identity) {
        let shape = Shape::of(id);
        *self.rows.get_or_insert(0) += 1;
        self.shapes.entry(shape).or_insert_with(|| (0, id.clone())).0 += 1;
        if let Some(company) = Company::of(id) {
            self.companies.entry(company).or_default().insert(shape);
        }
    }

    /// True when a file was read ahead (a CRM list is only counted).
    pub fn was_read(&self) -> bool {
        !self.shapes.is_empty()
    }

    /// Rows for which `wanted` holds. `wanted` must depend only on which
    /// fields a row has: it is asked once per shape, of a sample row.
    pub fn rows_where(&self, wanted: impl Fn(&Identity) -> bool) -> u64 {
        self.shapes.values().filter(|(_, id)| wanted(id)).map(|(n, _)| n).sum()
    }

    /// Distinct companies with at least one row for which `wanted` holds
    /// (asked as [`Preflight::rows_where`] asks it).
    pub fn companies_where(&self, wanted: impl Fn(&Identity) -> bool) -> impl Iterator<Item = &Company> {
        let wanted: BTreeSet<Shape> = self
            .shapes
            .iter()
            .filter(|(_, (_, id))| wanted(id))
            .map(|(s, _)| *s)
            .collect();
        self.companies
            .iter()
            .filter(move |(_, shapes)| !shapes.is_disjoint(&wanted))
            .map(|(c, _)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(fields: &[(IdentityField, &str)]) -> Identity {
        let mut id = Identity::default();
        for (f, v) in fields {
            id.set(*f, v);
        }
        id
    }

    #[test]
    fn rows_and_companies_are_counted_by_the_fields_they_have() {
        let mut ahead = Preflight::default();
        ahead.see(&id(&[
            (IdentityField::Email, "a@x.com"),
            (IdentityField::CompanyDomain, "X.com"),
        ]));
        ahead.see(&id(&[
            (IdentityField::FullName, "Bo Li"),
            (IdentityField::CompanyDomain, "x.com"),
        ]));
        ahead.see(&id(&[
            (IdentityField::FullName, "Cy Ng"),
            (IdentityField::Company, "Yak"),
        ]));
        ahead.see(&id(&[
            (IdentityField::Email, "d@z.com"),
            (IdentityField::Company, "Zed"),
        ]));
        assert_eq!(ahead.rows, Some(4));
        let no_email = |id: &Identity| id.email().is_none();
        assert_eq!(ahead.rows_where(no_email), 2);
        let mut companies: Vec<_> = ahead.companies_where(no_email).cloned().collect();
        companies.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(
            companies,
            vec![Company::Name("Yak".into()), Company::Website("x.com".into())]
        );
    }
}
