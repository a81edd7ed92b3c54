//! The vendor's own client works unchanged: the official RocketReach Python SDK
//! (installed by `scripts/install-test-deps.sh`) pointed at the sandbox.

use std::process::Command;

use leadpipe::sandbox::{RrOutcome, Vendor};

use super::start;

const SCRIPT: &str = r#"
import json, sys, rocketreach
port, key, name, employer = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
gw = rocketreach.Gateway(rocketreach.GatewayConfig(key, host="127.0.0.1", port=port, proto="http"))
acc = gw.account.get()
assert acc.is_success, acc.message
r = gw.person.lookup(name=name, current_employer=employer)
assert r.is_success, r.message
p = r.person
print(json.dumps({"balance": acc.account.lookup_credit_balance, "id": p.id, "status": p.status,
                  "email": p.current_work_email, "emails": len(p.emails)}))
"#;

fn python_with_sdk() -> String {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let has = |py: &str| {
        Command::new(py)
            .args(["-c", "import rocketreach"])
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        has(&python),
        "{python} lacks the rocketreach SDK: run scripts/install-test-deps.sh (CI runs it from .ci/run)"
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_gets_the_account_and_a_complete_blocking_lookup() {
    let python = tokio::task::spawn_blocking(python_with_sdk).await.unwrap();
    // Default limits on: the SDK stays within 10/s while polling once a second.
    let sb = start(|c| c.rocketreach.lifecycle.polls = 2).await;
    let p = sb
        .universe()
        .people
        .iter()
        .find(|p| p.rr == RrOutcome::Async)
        .unwrap()
        .clone();
    let employer = sb.universe().company_of(&p).name.clone();
    let port = sb.addr(Vendor::RocketReach).port().to_string();
    let key = sb.endpoints().rocketreach.api_key.clone();
    let args = [port, key, p.name.clone(), employer];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg("-c")
            .arg(SCRIPT)
            .args(args)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["id"], p.id);
    assert_eq!(v["status"], "complete");
    assert_eq!(v["email"], p.work_email.as_str());
    assert!(v["emails"].as_u64().unwrap() >= 1);
    assert_eq!(v["balance"], 10_000);
    let st = sb.stats();
    assert!(
        st.calls_to(Vendor::RocketReach, "GET /api/v2/person/checkStatus") >= 2,
        "the SDK polled checkStatus"
    );
    assert!(st.calls_to(Vendor::RocketReach, "GET /api/v2/account") == 1);
}
