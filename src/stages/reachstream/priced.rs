//! How `leadpipe plan` prices a `reachstream_enrich` stage, without a paid call.

use futures::FutureExt as _;
use futures::future::LocalBoxFuture;

use super::{Mode, ReachStreamSpec, company_filter};
use crate::record::Record;
use crate::stages::priced::{PlannedAsk, Priced};
use crate::state::{StateError, Store};
use crate::vendors::http::VendorHttp;
use crate::vendors::reachstream::Filter;

/// How `leadpipe plan` prices a ReachStream stage: a company count is free,
/// a contacts fetch costs at most `fetch_count`, and at most what the free
/// count API says exists.
impl Priced for ReachStreamSpec {
    fn endpoint(&self) -> &'static str {
        match self.mode {
            Mode::Company => "count",
            Mode::Contacts => "fetch",
        }
    }

    fn ask(&self, rec: &Record, _may_gain_email: bool) -> Option<PlannedAsk> {
        if self.has_all(&rec.identity) {
            return None;
        }
        let company = company_filter(&rec.identity)?;
        Some(match self.mode {
            Mode::Company => PlannedAsk {
                key: format!("count:{}", company.canonical()),
                worst: 0.0,
            },
            Mode::Contacts => PlannedAsk {
                key: fetch_key(&self.contacts_filter(company), self.fetch_count),
                worst: f64::from(self.fetch_count),
            },
        })
    }

    fn follows_cache(&self, _rec: &Record) -> bool {
        self.fill_missing
    }

    fn follow_cached(&self, body: &str, rec: &mut Record) {
        self.fill_from(&mut rec.identity, body);
    }

    fn gains_email(&self, _rec: &Record) -> bool {
        self.fill_missing && self.mode == Mode::Contacts
    }

    fn tighten<'a>(&'a self, http: &'a VendorHttp, key: &'a str, worst: f64) -> LocalBoxFuture<'a, f64> {
        async move {
            let Some((filter, _)) = parse_fetch_key(key) else {
                return worst;
            };
            match crate::vendors::reachstream::preview_count(http, &filter).await {
                Ok(n) => worst.min(n as f64),
                Err(_) => worst,
            }
        }
        .boxed_local()
    }

    /// A fetch delivers what exists (the count API says how many match) with
    /// a valid email: the share earlier fetches delivered of what their counts allowed.
    fn delivered_share<'a>(
        &'a self,
        store: &'a Store,
        http: &'a VendorHttp,
    ) -> LocalBoxFuture<'a, Result<Option<(f64, String)>, StateError>> {
        async move {
            if self.mode != Mode::Contacts {
                return Ok(None);
            }
            Ok(fetch_share(store, http).await?.map(|(q, n)| {
                let basis = format!(
                    "history: fetches delivered {:.0}% of what the count API allowed, over {n} earlier fetches",
                    q * 100.0
                );
                (q, basis)
            }))
        }
        .boxed_local()
    }

    fn waits(&self) -> (std::time::Duration, bool) {
        (self.settle.0, false)
    }
}

/// A contacts fetch's cache and ledger key.
fn fetch_key(filter: &Filter, count: u32) -> String {
    format!("fetch:{}:count={count}", filter.canonical())
}

/// `fetch:<canonical filter>:count=<n>` back into the filter and `n`.
fn parse_fetch_key(key: &str) -> Option<(Filter, u64)> {
    let rest = key.strip_prefix("fetch:")?;
    let (canonical, count) = rest.rsplit_once(":count=")?;
    let mut filter = Filter::default();
    for part in canonical.split('&') {
        let (k, v) = part.split_once('=')?;
        filter = filter.with(k, v.split('|').map(str::to_string));
    }
    Some((filter, count.parse().ok()?))
}

/// Earlier fetches kept in the cache (the latest 100): the credits they
/// cost over what the count API says they could have (free calls), and how
/// many were asked.
async fn fetch_share(store: &Store, http: &VendorHttp) -> Result<Option<(f64, usize)>, StateError> {
    let rows: Vec<(String, f64)> = {
        let mut stmt = store.conn().prepare(
            "SELECT request_key, credits FROM cache WHERE provider = 'reachstream' AND request_key LIKE 'fetch:%'
             AND run_id IS NOT NULL ORDER BY id DESC LIMIT 100",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let (mut delivered, mut allowed, mut asked) = (0.0, 0.0, 0);
    for (key, credits) in rows {
        let Some((filter, count)) = parse_fetch_key(&key) else {
            continue;
        };
        let Ok(n) = crate::vendors::reachstream::preview_count(http, &filter).await else {
            continue;
        };
        delivered += credits;
        allowed += (count.min(n)) as f64;
        asked += 1;
    }
    Ok((allowed > 0.0).then(|| (delivered / allowed, asked)))
}
