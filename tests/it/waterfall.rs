//! `pipelines/waterfall.toml` on the sandbox: RocketReach is paid only for
//! the rows ReachStream left without a verified email, every row names the
//! provider that answered and the verdict, and a rerun pays nothing; a run
//! stopped by the second provider resumes without paying any answer twice;
//! `leadpipe plan` prices every provider and verification before a paid call.

use std::collections::BTreeMap;

use leadpipe::sandbox::{Credits, Sandbox, SandboxConfig, Vendor};

use crate::readings::prepare;
use crate::support::*;

const LOOKUP: &str = "GET /api/v2/person/lookup";
const FETCH: &str = "POST /api/v2/async/records/filter";

/// A LinkedIn URL as the sandbox keys it: from `linkedin.com`, lower case, no trailing slash.
fn linkedin_key(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    let from = url.find("linkedin.com").map_or(&url[..], |i| &url[i..]);
    from.trim_end_matches('/').to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_second_provider_is_paid_only_for_rows_the_first_left_without_a_verified_email() {
    let sb = Sandbox::start(SandboxConfig::default()).await.expect("sandbox starts");
    let w = Work::new();
    prepare(&w, &sb, "waterfall");
    let out = output_of(run_on_sandbox(&w, &sb)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = w.csv_rows("out/waterfall.csv.check");
    assert_eq!(rows.len(), 40);

    // Every row names its provider and verdict.
    let mut by_provider: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        let provider = r["waterfall_provider"].as_str();
        assert!(["reachstream", "rocketreach", "none"].contains(&provider), "{r:?}");
        assert!(!r["waterfall_verdict"].is_empty(), "{r:?}");
        if provider != "none" {
            assert_eq!(
                r["waterfall_verdict"], "valid",
                "an answer counts once it verifies: {r:?}"
            );
            assert!(!r["email"].is_empty(), "{r:?}");
        }
        *by_provider.entry(provider).or_default() += 1;
    }
    assert!(
        by_provider.get("reachstream").is_some_and(|&n| n > 0),
        "{by_provider:?}"
    );
    assert!(
        by_provider.get("rocketreach").is_some_and(|&n| n > 0),
        "{by_provider:?}"
    );

    // RocketReach, by the sandbox's count: one lookup per row ReachStream
    // left, and no profile bought for a row ReachStream answered.
    // A lookup the sandbox throttled (429) is sent again: on a busy machine
    // the client's windows and the sandbox's can meet a request apart.
    let left = rows.iter().filter(|r| r["waterfall_provider"] != "reachstream").count();
    let stats = sb.stats();
    assert_eq!(
        stats.answered(Vendor::RocketReach, LOOKUP),
        left as u64,
        "RocketReach lookups answered, by status: {:?}",
        stats.calls.get("rocketreach")
    );
    let bought: Vec<&String> = stats
        .paid_requests
        .keys()
        .filter(|k| k.starts_with("rocketreach:"))
        .collect();
    assert!(!bought.is_empty());
    for r in rows.iter().filter(|r| r["waterfall_provider"] == "reachstream") {
        let linkedin = linkedin_key(&r["linkedin_url"]);
        let (first, last) = (r["first_name"].to_lowercase(), r["last_name"].to_lowercase());
        for key in &bought {
            let same_url = !linkedin.is_empty() && key.ends_with(&format!("linkedin_url={linkedin}"));
            let same_name = key.contains("name=") && key.contains(&first) && key.contains(&last);
            assert!(
                !same_url && !same_name,
                "RocketReach paid for {key}, a row ReachStream answered: {r:?}"
            );
        }
    }

    // The report puts the credits spent beside asking everyone for everything.
    let report = w.report("out/report.json");
    let tally = &report["stages"]["waterfall"]["waterfall"];
    let spent = tally["credits"].as_f64().unwrap();
    assert!(
        spent > 0.0 && tally["credits_if_all_asked"].as_f64().unwrap() >= spent,
        "{tally}"
    );
    assert!(
        stderr(&out).contains("asking every provider for every row would have cost"),
        "{}",
        stderr(&out)
    );

    // A rerun buys nothing: every answer is in the cache.
    let charged: Vec<u64> = [Vendor::ReachStream, Vendor::RocketReach, Vendor::LeadRocks]
        .map(|v| stats.credits_charged(v))
        .to_vec();
    let mut again = run_on_sandbox(&w, &sb);
    again.arg("--fresh");
    let out = output_of(again).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = sb.stats();
    let after: Vec<u64> = [Vendor::ReachStream, Vendor::RocketReach, Vendor::LeadRocks]
        .map(|v| stats.credits_charged(v))
        .to_vec();
    assert_eq!(after, charged, "a rerun paid");
    let report = w.report("out/report.json");
    assert_eq!(report["stages"]["waterfall"]["rows_cached"], 40, "{report}");
    assert_eq!(report["stages"]["waterfall"]["waterfall"]["credits"], 0.0, "{report}");
    // …and names the same provider and verdict for every row.
    let answers = |rows: &[BTreeMap<String, String>]| -> Vec<(String, String, String)> {
        rows.iter()
            .map(|r| {
                (
                    r["row_id"].clone(),
                    r["waterfall_provider"].clone(),
                    r["waterfall_verdict"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(answers(&w.csv_rows("out/waterfall.csv.check")), answers(&rows));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waterfall_stopped_by_its_second_provider_resumes_without_paying_twice() {
    // RocketReach runs out of credits after a few lookups: the run stops (exit 4).
    let mut c = SandboxConfig::default();
    c.rocketreach.credits = Credits::Amount(3);
    let sb = Sandbox::start(c).await.expect("sandbox starts");
    let w = Work::new();
    prepare(&w, &sb, "waterfall");
    let out = output_of(run_on_sandbox(&w, &sb)).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let fetches = sb.stats().answered(Vendor::ReachStream, FETCH);

    sb.update(|c| c.rocketreach.credits = Credits::Unlimited).unwrap();
    let out = output_of(run_on_sandbox(&w, &sb)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(w.report("out/report.json")["resumed"], true);
    let stats = sb.stats();
    assert!(stats.paid_twice().is_empty(), "{:?}", stats.paid_twice());
    assert_eq!(
        stats.answered(Vendor::ReachStream, FETCH),
        fetches,
        "ReachStream's answers of the first attempt were kept"
    );
    let rows = w.csv_rows("out/waterfall.csv.check");
    assert_eq!(rows.len(), 40);
    assert!(
        rows.iter()
            .all(|r| !r["waterfall_provider"].is_empty() && r["waterfall_verdict"] != "failed")
    );
    let left = rows.iter().filter(|r| r["waterfall_provider"] != "reachstream").count();
    // One lookup per row ReachStream left, besides those refused for want of credits (403).
    let refused = stats.calls_with_status(Vendor::RocketReach, LOOKUP, 403);
    assert!(refused > 0);
    assert_eq!(stats.answered(Vendor::RocketReach, LOOKUP) - refused, left as u64);
}

/// `leadpipe plan` walks rows through every provider of a waterfall and the
/// verification of what each may find: it buys nothing, each vendor's worst
/// case covers what the run then charges, and after the run every answer is
/// cached.
#[tokio::test(flavor = "multi_thread")]
async fn plan_prices_every_provider_of_a_waterfall_and_buys_nothing() {
    let sb = Sandbox::start(SandboxConfig::default()).await.expect("sandbox starts");
    let w = Work::new();
    prepare(&w, &sb, "waterfall");
    let paid = [Vendor::ReachStream, Vendor::RocketReach, Vendor::LeadRocks];
    let before = sb.stats();
    let out = output_of(on_sandbox(&w, &sb, &["plan", "p.toml", "--json"])).await;
    check(&out, 0);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let planned = sb.stats();
    for v in paid {
        assert_eq!(
            planned.paid_calls(v),
            before.paid_calls(v),
            "{v:?}: the plan paid for nothing"
        );
        assert_eq!(planned.credits_charged(v), before.credits_charged(v));
    }
    assert_eq!(plan["all_cached"], false, "{plan}");
    let stage = &plan["stages"][0];
    assert_eq!(stage["rows_asking"], 40, "every row lacks an email: {stage}");

    check(&output_of(run_on_sandbox(&w, &sb)).await, 0);
    let ran = sb.stats();
    let vendors = plan["vendors"].as_array().unwrap();
    assert_eq!(vendors.len(), 3, "{plan}");
    let mut worst_sum = 0.0;
    for v in vendors {
        let name = v["vendor"].as_str().unwrap();
        let vendor = *paid.iter().find(|p| p.as_str() == name).expect("a paid vendor");
        let charged = (ran.credits_charged(vendor) - planned.credits_charged(vendor)) as f64;
        let worst = v["credits_worst"].as_f64().unwrap();
        assert!(charged > 0.0, "{name}: the run paid it");
        assert!(
            worst >= charged,
            "{name}: worst case {worst}, the run charged {charged}"
        );
        worst_sum += worst;
    }
    assert_eq!(stage["credits_worst"].as_f64().unwrap(), worst_sum, "{stage}");

    let out = output_of(on_sandbox(&w, &sb, &["plan", "p.toml", "--json"])).await;
    check(&out, 0);
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["all_cached"], true, "{again}");
    assert_eq!(again["stages"][0]["credits_worst"], 0.0, "{again}");
}

/// A vendor asked by two stages (the waterfall's verification and a later
/// `leadrocks_verify`): each stage is priced for the requests it asks, and
/// the stages add up to the vendors.
#[tokio::test(flavor = "multi_thread")]
async fn plan_prices_each_stage_for_its_own_requests_of_a_shared_vendor() {
    let sb = Sandbox::start(SandboxConfig::default()).await.expect("sandbox starts");
    let w = Work::new();
    prepare(&w, &sb, "waterfall");
    let mut p: toml::Table = w.read("p.toml").parse().unwrap();
    p["source"]["path"] = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.csv").into();
    let verify: toml::Table = "kind = \"leadrocks_verify\"\nmode = \"instant\"".parse().unwrap();
    p["stages"].as_array_mut().unwrap().push(verify.into());
    w.write("p.toml", toml::to_string(&p).unwrap());

    let out = output_of(on_sandbox(&w, &sb, &["plan", "p.toml", "--json"])).await;
    check(&out, 0);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sum = |items: &serde_json::Value, key: &str| -> f64 {
        items.as_array().unwrap().iter().map(|i| i[key].as_f64().unwrap()).sum()
    };
    for key in ["credits_worst", "credits_expected"] {
        assert_eq!(sum(&plan["stages"], key), sum(&plan["vendors"], key), "{key}: {plan}");
    }
    let verify = &plan["stages"][1];
    let asked = verify["paid_requests"].as_f64().unwrap();
    assert!(
        asked > 0.0,
        "rows with an email from the source ask the later stage: {verify}"
    );
    assert!(
        verify["credits_worst"].as_f64().unwrap() >= asked,
        "each verification it buys costs a credit at worst: {verify}"
    );
}
