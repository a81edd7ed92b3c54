//! The graph8 lists a pipeline names, checked for their entity type before
//! anything is bought. Each use of a list reads or writes one kind of entity,
//! and graph8 may take contacts into a list of another type and keep none of
//! them (an upsert then reports rows upserted while the list stays empty), or
//! refuse them with a 400 after the paid stages have run. So the run starts
//! only when every list is of a type its use can work with:
//!
//! | use | pipeline key | accepted types | why |
//! |---|---|---|---|
//! | `graph8_upsert` sink | `sinks[i].list_id` | `contacts` | it writes contacts |
//! | `graph8_list` source | `source.list_id` | `contacts`, `leads` | it reads people; a `suppressions` list would send the very people nobody may contact to the paid stages, `companies` and `deals` hold no people |
//! | `suppress` stage | `stages[i].graph8_list` | `suppressions`, `contacts`, `leads` | it needs people's emails and LinkedIn URLs; a `companies` or `deals` list would suppress nobody |
//!
//! A list the organisation does not have is refused too. A list whose `type`
//! is missing or outside the documented five is let through with a warning.
//! Lists come from `GET /lists`, page by page: the API has no `GET /lists/{id}`.
//! This module owns the check only; reading and writing lists is
//! `source::graph8`, `stages::suppress` and `sinks::graph8`.

use indexmap::IndexMap;

use super::runner::RunError;
use crate::source::SourceError;
use crate::spec::{SinkSpec, SourceSpec, ValidPipeline};
use crate::stages::StageSpec;
use crate::vendors::graph8::Graph8;
use crate::vendors::http::{Vendor, VendorHttp};

/// The entity types graph8 documents for a list.
const KNOWN: [&str; 5] = ["contacts", "companies", "suppressions", "deals", "leads"];

/// One use of a list: where the pipeline names it, what reads or writes it, what it accepts.
struct Use {
    key: String,
    list_id: u64,
    what: &'static str,
    accepts: &'static [&'static str],
}

fn uses(p: &ValidPipeline) -> Vec<Use> {
    let mut out = Vec::new();
    if let SourceSpec::Graph8List(g) = &p.source {
        out.push(Use {
            key: "source.list_id".into(),
            list_id: g.list_id,
            what: "the graph8_list source reads people",
            accepts: &["contacts", "leads"],
        });
    }
    for (i, stage) in p.stages.iter().enumerate() {
        if let StageSpec::Suppress(s) = stage
            && let Some(list_id) = s.graph8_list
        {
            out.push(Use {
                key: format!("stages[{i}].graph8_list"),
                list_id,
                what: "the suppress stage reads people's emails and LinkedIn URLs",
                accepts: &["suppressions", "contacts", "leads"],
            });
        }
    }
    for (i, sink) in p.sinks.iter().enumerate() {
        if let SinkSpec::Graph8Upsert(g) = sink {
            out.push(Use {
                key: format!("sinks[{i}].list_id"),
                list_id: g.list_id,
                what: "the graph8_upsert sink writes contacts",
                accepts: &["contacts"],
            });
        }
    }
    out
}

/// Refuses the run (exit 2, nothing bought) when a list the pipeline names is
/// missing or of a type its use cannot work with; asks graph8 through the
/// run's client of it in `vendors`.
pub async fn check(p: &ValidPipeline, vendors: &IndexMap<Vendor, VendorHttp>) -> Result<(), RunError> {
    let uses = uses(p);
    let (Some(http), Some(first)) = (vendors.get(&Vendor::Graph8), uses.first()) else {
        return Ok(());
    };
    let client = Graph8::new(http.clone());
    let ids: Vec<u64> = uses.iter().map(|u| u.list_id).collect();
    let lists = client.lists(&ids).await.map_err(|error| SourceError::List {
        list_id: first.list_id,
        error,
    })?;
    let file = p.file.display();
    for u in &uses {
        let Some(list) = lists.iter().find(|l| l.id == u.list_id) else {
            return Err(RunError::CrmList(format!(
                "{file}: {} = {}: graph8 has no list {} in this organisation (GET /lists); nothing was bought",
                u.key, u.list_id, u.list_id
            )));
        };
        if !KNOWN.contains(&list.kind.as_str()) {
            tracing::warn!(list_id = list.id, kind = %list.kind, "graph8 list of an undocumented type; not checked");
            continue;
        }
        if !u.accepts.contains(&list.kind.as_str()) {
            return Err(RunError::CrmList(format!(
                "{file}: {} = {}: graph8 list {} {:?} is a {} list, and {}: it needs a list of type {}; nothing was bought",
                u.key,
                u.list_id,
                list.id,
                list.title,
                list.kind,
                u.what,
                u.accepts.join(" or "),
            )));
        }
    }
    Ok(())
}
