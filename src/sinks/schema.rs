//! The output schema: which columns the sinks write, their types and where
//! each value comes from. One definition serves Parquet and CSV alike.
//!
//! Columns: `row_id` and `line` (provenance in the input), every original
//! column under its own name (renamed `original_<name>` only if it collides
//! with a leadpipe column), then leadpipe's normalised identity columns.

use arrow_schema::DataType;

use crate::record::{Record, Slots};

/// One cell, borrowed from a record.
pub enum Cell<'a> {
    Str(Option<&'a str>),
    U64(u64),
    I64(Option<i64>),
    F64(Option<f64>),
    Bool(Option<bool>),
    /// Unix seconds, written as a UTC timestamp (microseconds).
    Time(Option<f64>),
    List(&'a [String]),
}

/// How a column gets its value from a record.
#[derive(Clone, Copy)]
pub enum Source {
    /// Where the row is in the input.
    Position(Position),
    Original(usize),
    Derived(fn(&Record) -> Cell<'_>),
}

/// A row's place in the input: the provenance columns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// 0-based among the data rows (`row_id`).
    RowId,
    /// 1-based line where the row starts (`line`).
    Line,
}

impl Position {
    pub fn of(self, rec: &Record) -> u64 {
        match self {
            Position::RowId => rec.id,
            Position::Line => rec.line,
        }
    }
}

#[derive(Clone)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
    pub nullable: bool,
    pub source: Source,
}

impl Column {
    pub fn cell<'a>(&self, rec: &'a Record) -> Cell<'a> {
        match self.source {
            Source::Position(p) => Cell::U64(p.of(rec)),
            Source::Original(i) => Cell::Str(rec.original.get(i)),
            Source::Derived(get) => get(rec),
        }
    }
}

/// leadpipe's own columns, in output order: (name, type, getter).
/// A leadpipe column: name, type and the function reading it from a record.
type Derived = (&'static str, DataType, fn(&Record) -> Cell<'_>);

fn leadpipe_columns() -> Vec<Derived> {
    use DataType::Utf8;
    vec![
        ("email", Utf8, |r| Cell::Str(r.identity.email())),
        ("email_problem", Utf8, |r| Cell::Str(r.identity.email_problem)),
        ("first_name", Utf8, |r| Cell::Str(r.identity.first_name())),
        ("last_name", Utf8, |r| Cell::Str(r.identity.last_name())),
        ("full_name", Utf8, |r| Cell::Str(r.identity.full_name())),
        ("company", Utf8, |r| Cell::Str(r.identity.company())),
        ("company_domain", Utf8, |r| Cell::Str(r.identity.company_domain())),
        ("linkedin_url", Utf8, |r| Cell::Str(r.identity.linkedin_url())),
    ]
}

/// Columns of the person lookup (RocketReach), after the identity columns.
fn person_columns() -> Vec<Derived> {
    use DataType::{Boolean, Float64, Int64, Utf8};
    fn p(r: &Record) -> Option<&crate::record::Person> {
        r.person.as_deref()
    }
    fn f(r: &Record) -> Option<&crate::record::PersonFields> {
        p(r).map(|p| &p.fields)
    }
    let list = DataType::List(std::sync::Arc::new(arrow_schema::Field::new("item", Utf8, true)));
    let time = DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()));
    vec![
        ("title", Utf8, |r| Cell::Str(f(r).and_then(|f| f.title.as_deref()))),
        ("employer", Utf8, |r| {
            Cell::Str(f(r).and_then(|f| f.employer.as_deref()))
        }),
        ("employer_domain", Utf8, |r| {
            Cell::Str(f(r).and_then(|f| f.employer_domain.as_deref()))
        }),
        ("found_email", Utf8, |r| {
            Cell::Str(f(r).and_then(|f| f.email.as_deref()))
        }),
        ("found_email_grade", Utf8, |r| {
            Cell::Str(f(r).and_then(|f| f.email_grade.as_deref()))
        }),
        ("found_email_smtp", Utf8, |r| {
            Cell::Str(f(r).and_then(|f| f.email_smtp.as_deref()))
        }),
        ("emails", list.clone(), |r| Cell::List(f(r).map_or(&[], |f| &f.emails))),
        ("phone", Utf8, |r| Cell::Str(f(r).and_then(|f| f.phone.as_deref()))),
        ("phones", list, |r| Cell::List(f(r).map_or(&[], |f| &f.phones))),
        ("person_linkedin_url", Utf8, |r| {
            Cell::Str(f(r).and_then(|f| f.linkedin_url.as_deref()))
        }),
        ("location", Utf8, |r| {
            Cell::Str(f(r).and_then(|f| f.location.as_deref()))
        }),
        ("rocketreach_id", Int64, |r| Cell::I64(f(r).and_then(|f| f.vendor_id))),
        ("rocketreach_status", Utf8, |r| {
            Cell::Str(p(r).map(|p| p.outcome.status.as_str()))
        }),
        ("rocketreach_reason", Utf8, |r| {
            Cell::Str(p(r).and_then(|p| p.outcome.reason.as_deref()))
        }),
        ("rocketreach_at", time, |r| Cell::Time(p(r).map(|p| p.outcome.at))),
        ("rocketreach_cached", Boolean, |r| {
            Cell::Bool(p(r).map(|p| p.outcome.cached))
        }),
        ("rocketreach_credits", Float64, |r| {
            Cell::F64(p(r).map(|p| p.outcome.credits))
        }),
    ]
}

/// Columns of the email verification (LeadRocks): the verdict, typed, then provenance.
fn verdict_columns() -> Vec<Derived> {
    use DataType::{Boolean, Float64, Utf8};
    fn v(r: &Record) -> Option<&crate::record::Verification> {
        r.verification.as_deref()
    }
    fn f(r: &Record) -> Option<&crate::record::VerificationFields> {
        v(r).map(|v| &v.fields)
    }
    let time = DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()));
    vec![
        ("email_status", Utf8, |r| {
            Cell::Str(f(r).and_then(|f| f.status.as_deref()))
        }),
        ("safe_to_send", Boolean, |r| {
            Cell::Bool(f(r).and_then(|f| f.safe_to_send))
        }),
        ("disposable", Boolean, |r| Cell::Bool(f(r).and_then(|f| f.disposable))),
        ("free_account", Boolean, |r| {
            Cell::Bool(f(r).and_then(|f| f.free_account))
        }),
        ("role_account", Boolean, |r| {
            Cell::Bool(f(r).and_then(|f| f.role_account))
        }),
        ("leadrocks_method", Utf8, |r| {
            Cell::Str(f(r).and_then(|f| f.method.as_deref()))
        }),
        ("leadrocks_status", Utf8, |r| {
            Cell::Str(v(r).map(|v| v.outcome.status.as_str()))
        }),
        ("leadrocks_reason", Utf8, |r| {
            Cell::Str(v(r).and_then(|v| v.outcome.reason.as_deref()))
        }),
        ("leadrocks_at", time, |r| Cell::Time(v(r).map(|v| v.outcome.at))),
        ("leadrocks_cached", Boolean, |r| {
            Cell::Bool(v(r).map(|v| v.outcome.cached))
        }),
        ("leadrocks_credits", Float64, |r| {
            Cell::F64(v(r).map(|v| v.outcome.credits))
        }),
    ]
}

/// Columns of the ReachStream stage: firmographics, then (contacts mode) the
/// delivered contacts, then provenance.
fn reachstream_columns(contacts: bool) -> Vec<Derived> {
    use crate::stages::reachstream::{Enrichment, Firmographics, RsFields};
    use DataType::{Boolean, Float64, Utf8};
    fn e(r: &Record) -> Option<&Enrichment> {
        r.reachstream.as_deref()
    }
    fn f(r: &Record) -> Option<&RsFields> {
        e(r).map(|e| &e.fields)
    }
    fn c(r: &Record) -> Option<&Firmographics> {
        f(r).and_then(|f| f.firmographics.as_ref())
    }
    let list = DataType::List(std::sync::Arc::new(arrow_schema::Field::new("item", Utf8, true)));
    let time = DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()));
    let mut cols: Vec<Derived> = vec![
        ("company_employee_size", Utf8, |r| {
            Cell::Str(c(r).and_then(|c| c.employee_size.as_deref()))
        }),
        ("company_revenue", Utf8, |r| {
            Cell::Str(c(r).and_then(|c| c.revenue.as_deref()))
        }),
        ("company_industry", Utf8, |r| {
            Cell::Str(c(r).and_then(|c| c.industry.as_deref()))
        }),
        ("company_sic", Utf8, |r| {
            Cell::Str(c(r).and_then(|c| c.sic_code.as_deref()))
        }),
        ("company_tech_keywords", list.clone(), |r| {
            Cell::List(c(r).map_or(&[], |c| &c.tech_keywords))
        }),
        ("company_address", Utf8, |r| {
            Cell::Str(c(r).and_then(|c| c.address.as_deref()))
        }),
        ("company_website", Utf8, |r| {
            Cell::Str(c(r).and_then(|c| c.website.as_deref()))
        }),
    ];
    if contacts {
        cols.extend::<Vec<Derived>>(vec![
            ("reachstream_contacts", list, |r| {
                Cell::List(f(r).map_or(&[], |f| &f.contacts))
            }),
            ("reachstream_contact_title", Utf8, |r| {
                Cell::Str(f(r).and_then(|f| f.contact_title.as_deref()))
            }),
            ("reachstream_contact_phone", Utf8, |r| {
                Cell::Str(f(r).and_then(|f| f.contact_phone.as_deref()))
            }),
        ]);
    }
    cols.extend::<Vec<Derived>>(vec![
        ("reachstream_status", Utf8, |r| {
            Cell::Str(e(r).map(|e| e.outcome.status.as_str()))
        }),
        ("reachstream_reason", Utf8, |r| {
            Cell::Str(e(r).and_then(|e| e.outcome.reason.as_deref()))
        }),
        ("reachstream_at", time, |r| Cell::Time(e(r).map(|e| e.outcome.at))),
        ("reachstream_cached", Boolean, |r| {
            Cell::Bool(e(r).map(|e| e.outcome.cached))
        }),
        ("reachstream_credits", Float64, |r| {
            Cell::F64(e(r).map(|e| e.outcome.credits))
        }),
    ]);
    cols
}

/// Columns of a waterfall: which provider answered the row, with which
/// verdict, which were asked, and what the row cost across them.
fn waterfall_columns() -> Vec<Derived> {
    use crate::record::WaterfallAnswer as Answer;
    use DataType::{Float64, Utf8};
    fn w(r: &Record) -> Option<&Answer> {
        r.waterfall.as_deref()
    }
    let list = DataType::List(std::sync::Arc::new(arrow_schema::Field::new("item", Utf8, true)));
    vec![
        ("waterfall_provider", Utf8, |r| {
            Cell::Str(w(r).map(|w| w.provider.as_str()))
        }),
        ("waterfall_verdict", Utf8, |r| {
            Cell::Str(w(r).map(|w| w.verdict.as_str()))
        }),
        ("waterfall_asked", list, |r| Cell::List(w(r).map_or(&[], |w| &w.asked))),
        ("waterfall_credits", Float64, |r| Cell::F64(w(r).map(|w| w.credits))),
    ]
}

/// The columns of a run's output, from the source header.
pub fn output_columns(header: &[String], groups: Slots) -> Vec<Column> {
    let mut ours = leadpipe_columns();
    if groups.person {
        ours.extend(person_columns());
    }
    if groups.verification {
        ours.extend(verdict_columns());
    }
    if groups.reachstream {
        ours.extend(reachstream_columns(groups.reachstream_contacts));
    }
    if groups.waterfall {
        ours.extend(waterfall_columns());
    }
    let provenance = [("row_id", Position::RowId), ("line", Position::Line)];
    let mut taken: std::collections::HashSet<String> = (provenance.iter().map(|(n, _)| *n))
        .chain(ours.iter().map(|(n, ..)| *n))
        .map(String::from)
        .collect();
    let mut columns = Vec::with_capacity(header.len() + ours.len() + 2);
    for (name, position) in provenance {
        columns.push(Column {
            name: name.to_string(),
            data_type: DataType::UInt64,
            nullable: false,
            source: Source::Position(position),
        });
    }
    for (i, raw) in header.iter().enumerate() {
        let base = if raw.is_empty() {
            format!("column_{}", i + 1)
        } else {
            raw.clone()
        };
        let mut name = if taken.contains(&base) {
            format!("original_{base}")
        } else {
            base
        };
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{}_{n}", name.trim_end_matches(&format!("_{}", n - 1)));
            n += 1;
        }
        taken.insert(name.clone());
        columns.push(Column {
            name,
            data_type: DataType::Utf8,
            nullable: true,
            source: Source::Original(i),
        });
    }
    for (name, data_type, get) in &ours {
        columns.push(Column {
            name: name.to_string(),
            data_type: data_type.clone(),
            nullable: true,
            source: Source::Derived(*get),
        });
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_original_columns_are_renamed() {
        let cols = output_columns(&["email".into(), "notes".into(), "".into()], Slots::default());
        let names: Vec<_> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(&names[..5], ["row_id", "line", "original_email", "notes", "column_3"]);
        assert!(names.contains(&"email"));
    }
}
