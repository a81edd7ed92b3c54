//! `[source] kind = "graph8_list"`: the contacts of a graph8 list, page by
//! page (cursor or page number), as records.
//!
//! Each contact becomes a row whose original columns are graph8's fields
//! ([`HEADER`]), the first being `graph8_id` (the contact id, kept for
//! write-back and shown in every output). A record's id is its position in
//! the list, so a resumed run sees the same ids as long as the list has not
//! changed; the run's input fingerprint is the list id and its size, so a
//! list that gained or lost members is refused on resume, not mixed.

use std::sync::Arc;

use serde::Deserialize;

use super::SourceError;
use super::csv::AutoIdentity;
use crate::record::{Batch, Header, Record, Reject};
use crate::vendors::graph8::{Contact, Graph8, MAX_PAGE, Next, Paging};

/// `[source] kind = "graph8_list"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Graph8SourceSpec {
    /// The list to read (`GET /lists/{list_id}/contacts`).
    pub list_id: u64,
    /// `"cursor"` (default: follow `next_cursor`) or `"page"` (`page=1,2,…`).
    #[serde(default)]
    pub paging: Paging,
    /// Contacts per page, 1–200 (default 200).
    #[serde(default = "default_page_size")]
    pub page_size: usize,
}

fn default_page_size() -> usize {
    MAX_PAGE
}

impl Graph8SourceSpec {
    pub fn check(&self) -> Vec<(&'static str, String)> {
        if (1..=MAX_PAGE).contains(&self.page_size) {
            Vec::new()
        } else {
            vec![("page_size", format!("{} is outside 1..={MAX_PAGE}", self.page_size))]
        }
    }

    /// What identifies this input in the state store: the list and its size
    /// (one call for a one-contact page). A resumed run must read the same
    /// list; one that gained or lost members since is refused as changed
    /// (record ids are positions, so continuing would attach earlier answers
    /// to other people). Also the list's size, when graph8 tells it.
    pub async fn fingerprint(&self, client: &Graph8) -> Result<(String, Option<u64>), SourceError> {
        let page = client
            .list_page(self.list_id, &Next::Page(1), 1)
            .await
            .map_err(|error| SourceError::List {
                list_id: self.list_id,
                error,
            })?;
        let total = page.pagination.total;
        let shown = total.map_or_else(|| "?".into(), |n| n.to_string());
        Ok((format!("graph8:list={};total={shown}", self.list_id), total))
    }
}

/// The original columns of a graph8 row, in order.
pub const HEADER: [&str; 14] = [
    "graph8_id",
    "first_name",
    "last_name",
    "work_email",
    "direct_phone",
    "mobile_phone",
    "job_title",
    "job_department",
    "seniority_level",
    "linkedin_url",
    "city",
    "state",
    "country",
    "company_id",
];

/// An open graph8 list, read page by page on the runtime.
pub struct Graph8Source {
    client: Graph8,
    spec: Graph8SourceSpec,
    next: Next,
    next_id: u64,
    header: Header,
    mapping: AutoIdentity,
    scratch: String,
}

impl Graph8Source {
    pub fn new(spec: &Graph8SourceSpec, client: Graph8) -> Graph8Source {
        let header: Vec<String> = HEADER.iter().map(|s| s.to_string()).collect();
        Graph8Source {
            client,
            next: Next::first(spec.paging),
            spec: spec.clone(),
            next_id: 0,
            mapping: AutoIdentity::new(&header),
            header: Arc::new(header),
            scratch: String::new(),
        }
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next page as a batch, or `None` after the last one.
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.next == Next::Done {
            return Ok(None);
        }
        let page = self
            .client
            .list_page(self.spec.list_id, &self.next, self.spec.page_size)
            .await
            .map_err(|error| SourceError::List {
                list_id: self.spec.list_id,
                error,
            })?;
        self.next = Graph8::next_of(&self.next, &page);
        let mut batch = Batch {
            rows_in: page.contacts.len() as u64,
            ..Batch::default()
        };
        for c in &page.contacts {
            let id = self.next_id;
            self.next_id += 1;
            let rec = row(c);
            let identity = self.mapping.identity(&rec, &mut self.scratch);
            // The line is the 1-based position in the list (there is no file).
            let line = id + 1;
            if identity.identifies_someone() {
                batch.records.push(Record::new(id, line, rec, identity));
            } else {
                batch.rejects.push(Reject {
                    id,
                    line,
                    reason: "nothing identifies the person (no email, name or LinkedIn URL)".into(),
                    fields: rec.iter().map(str::to_string).collect(),
                });
            }
        }
        Ok(Some(batch))
    }
}

/// A contact's fields in [`HEADER`] order (absent = empty).
fn row(c: &Contact) -> csv::StringRecord {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    csv::StringRecord::from(vec![
        c.id.to_string(),
        s(&c.first_name),
        s(&c.last_name),
        s(&c.work_email),
        s(&c.direct_phone),
        s(&c.mobile_phone),
        s(&c.job_title),
        s(&c.job_department),
        s(&c.seniority_level),
        s(&c.linkedin_url),
        s(&c.city),
        s(&c.state),
        s(&c.country),
        s(&c.company_id),
    ])
}
