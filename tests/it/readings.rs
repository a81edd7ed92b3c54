//! The contracts leave questions open, and a real vendor answers each its
//! own way. Each [`Reading`] is a set of answers the sandbox plays (every
//! alternative of `docs/contracts.md` is in at least one); the demo and the
//! CRM pipelines, as committed, must complete under each with no row
//! failed, every row's outcome as the sandbox's own universe says, and the
//! report's credits per vendor equal to what the sandbox charged.

use std::collections::BTreeMap;

use leadpipe::sandbox::{
    Charging, EmailStatus, ErrorShape, Lifecycle, RrOutcome, Sandbox, SandboxConfig, Universe, Vendor,
};
use serde_json::Value;

use crate::support::*;

/// One way of answering the open questions.
struct Reading {
    name: &'static str,
    play: fn(&mut SandboxConfig),
}

/// The sandbox as it ships: the contract's examples taken literally.
const LITERAL: Reading = Reading {
    name: "literal",
    play: |_| {},
};

/// A vendor that echoes nothing it need not, masks what a preview may mask,
/// batches deliveries, and charges every profile.
const TERSE: Reading = Reading {
    name: "terse",
    play: |c| {
        c.rocketreach.charging = Charging::EveryProfile;
        c.rocketreach.bulk_echo_metadata = false;
        c.rocketreach.webhook.same_request_id = false;
        c.rocketreach.error_shape = ErrorShape::Drf;
        c.reachstream.preview_masks_company = true;
        c.reachstream.preview_size = 1;
        c.reachstream.webhook.batch_size = 1;
        c.reachstream.webhook.deliver_twice = true;
        c.reachstream.webhook.hmac_signature = true;
    },
};

/// A slow vendor: lookups stay pending for several polls, previews are
/// large, deliveries come in pairs of records.
const SLOW: Reading = Reading {
    name: "slow",
    play: |c| {
        c.rocketreach.lifecycle = Lifecycle { polls: 4, after_ms: 0 };
        c.rocketreach.error_shape = ErrorShape::Docs;
        c.reachstream.preview_size = 5;
        c.reachstream.webhook.batch_size = 2;
    },
};

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_and_crm_pipelines_hold_under_the_literal_reading() {
    both_pipelines(&LITERAL).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_and_crm_pipelines_hold_under_a_terse_vendor() {
    both_pipelines(&TERSE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_and_crm_pipelines_hold_under_a_slow_vendor() {
    both_pipelines(&SLOW).await;
}

async fn both_pipelines(reading: &Reading) {
    for pipeline in ["demo", "crm-nightly"] {
        let mut c = SandboxConfig::default();
        (reading.play)(&mut c);
        let sb = Sandbox::start(c).await.expect("sandbox starts");
        let w = Work::new();
        prepare(&w, &sb, pipeline);
        let out = output_of(command(&w, &sb)).await;
        let context = format!("{pipeline} under the {} reading", reading.name);
        assert_eq!(code(&out), 0, "{context}:\n{}", stderr(&out));
        let report = w.report("out/report.json");
        assert_eq!(report["rows_failed"], 0, "{context}: {report}");
        credits_are_what_the_sandbox_charged(&sb, &report, &context);
        let rows = w.csv_rows(&format!("out/{pipeline}.csv.check"));
        outcomes_are_the_universes(sb.universe(), &rows, &contacts_levels(&w), &context);
    }
}

/// The committed pipeline, its vendors pointed at `sb`, writing a CSV beside its other outputs.
pub(crate) fn prepare(w: &Work, sb: &Sandbox, name: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/pipelines/{name}.toml")).unwrap();
    let mut p: toml::Table = text.parse().unwrap();
    if let Some(path) = p["source"].get("path").and_then(|v| v.as_str()) {
        p["source"]["path"] = format!("{root}/{path}").into();
    }
    let e = sb.endpoints();
    let vendors = p["vendors"].as_table_mut().unwrap();
    for (name, base) in [
        ("rocketreach", &e.rocketreach.base_url),
        ("reachstream", &e.reachstream.base_url),
        ("leadrocks", &e.leadrocks.base_url),
        ("graph8", &e.graph8.base_url),
    ] {
        if let Some(v) = vendors.get_mut(name).and_then(|v| v.as_table_mut()) {
            v.insert("base_url".into(), base.as_str().into());
        }
    }
    if vendors.contains_key("reachstream") {
        let port = free_port();
        let mut hook = toml::Table::new();
        hook.insert("listen".into(), format!("127.0.0.1:{port}").into());
        p.insert("webhook".into(), hook.into());
        let url = format!("http://127.0.0.1:{port}/reachstream");
        sb.update(move |c| {
            c.reachstream.webhook.url = Some(url);
            c.reachstream.webhook.active = true;
        })
        .unwrap();
    }
    let mut check = toml::Table::new();
    check.insert("kind".into(), "csv".into());
    check.insert("path".into(), format!("out/{name}.csv.check").into());
    p["sinks"].as_array_mut().unwrap().push(check.into());
    w.write("p.toml", toml::to_string(&p).unwrap());
}

fn command(w: &Work, sb: &Sandbox) -> std::process::Command {
    run_on_sandbox(w, sb)
}

/// Credits reported are credits charged, by the sandbox's count, for every paid vendor.
fn credits_are_what_the_sandbox_charged(sb: &Sandbox, report: &Value, context: &str) {
    let stats = sb.stats();
    for vendor in [Vendor::RocketReach, Vendor::ReachStream, Vendor::LeadRocks] {
        let Some(entry) = report["vendors"].get(vendor.as_str()) else {
            continue;
        };
        assert_eq!(
            entry["credits"].as_u64(),
            Some(stats.credits_charged(vendor)),
            "{context}: {vendor:?} {entry}"
        );
        assert_eq!(entry["credits_source"], "balance", "{context}: {entry}");
        assert_eq!(entry["answers_refused"], 0, "{context}: nothing to refuse here");
    }
}

/// Contacts mode: the title levels the pipeline's ReachStream stage asks for
/// (`None` in company mode, where any known company is found).
fn contacts_levels(w: &Work) -> Option<Vec<String>> {
    let p: toml::Table = w.read("p.toml").parse().unwrap();
    let stage = p["stages"]
        .as_array()?
        .iter()
        .find(|s| s["kind"].as_str() == Some("reachstream_enrich"))?;
    (stage.get("mode")?.as_str()? == "contacts").then(|| {
        stage["criteria"]["job_title_level"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    })
}

/// Each row's RocketReach, ReachStream and LeadRocks outcome is the one the
/// sandbox's universe holds for that person, company and address.
fn outcomes_are_the_universes(
    u: &Universe,
    rows: &[BTreeMap<String, String>],
    levels: &Option<Vec<String>>,
    context: &str,
) {
    let mut checked = BTreeMap::<&str, usize>::new();
    for row in rows {
        let at = format!("{context}, row {}", row["row_id"]);
        if let Some(status) = row
            .get("rocketreach_status")
            .filter(|s| matches!(s.as_str(), "found" | "not_found"))
        {
            let person = person_asked(u, row);
            let found = person.is_some_and(|p| matches!(p.rr, RrOutcome::Instant | RrOutcome::Async));
            assert_eq!(status == "found", found, "{at}: rocketreach {status}");
            if found {
                assert_eq!(row["rocketreach_id"], person.unwrap().id.to_string(), "{at}");
            }
            *checked.entry("rocketreach").or_default() += 1;
        }
        if let Some(status) = row
            .get("reachstream_status")
            .filter(|s| matches!(s.as_str(), "found" | "not_found"))
        {
            let domain = row["company_domain"].to_lowercase();
            let company = u.company_by_domain(&domain);
            // Contacts mode finds a company through its contacts of those levels with a valid email.
            let found = company.is_some_and(|c| match levels {
                None => true,
                Some(levels) => u.people.iter().any(|p| {
                    p.company == c.idx
                        && p.email_status == EmailStatus::Valid
                        && levels.iter().any(|l| l.eq_ignore_ascii_case(p.title_level))
                }),
            });
            assert_eq!(status == "found", found, "{at}: reachstream {status} for {domain}");
            if status == "found" {
                assert_eq!(
                    row["company_website"], domain,
                    "{at}: the firmographics are its company's"
                );
            }
            *checked.entry("reachstream").or_default() += 1;
        }
        if let Some(status) = row.get("email_status").filter(|s| !s.is_empty()) {
            // The output spells verdicts in snake case (`not_valid`, `catch_all`).
            let want = u.verdict(&row["email"]).status.as_str().replace(['-', ' '], "_");
            assert_eq!(*status, want, "{at}: verdict of {}", row["email"]);
            *checked.entry("leadrocks").or_default() += 1;
        }
    }
    assert!(
        checked.values().all(|n| *n > 0) && checked.len() >= 3,
        "{context}: every vendor's outcomes checked: {checked:?}"
    );
}

/// The person the row was looked up with: LinkedIn URL, else email, else name and employer.
fn person_asked<'u>(u: &'u Universe, row: &BTreeMap<String, String>) -> Option<&'u leadpipe::sandbox::Person> {
    let get = |k: &str| row.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if let Some(url) = get("linkedin_url") {
        return u.person_by_linkedin(url);
    }
    if let Some(email) = get("email") {
        return u.person_by_email(email);
    }
    u.person_by_name_employer(get("full_name")?, get("company").or(get("company_domain"))?)
}
