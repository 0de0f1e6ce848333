//! The served OpenAPI document describes every route of the router (and only those), and
//! `/metrics` counts what happened, bad input included.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Api};
use serde_json::json;

fn scenario(url: &str) {
    let m = common::start(url);
    let api = Api::new(&m);
    let (status, doc) = api.call("GET", "/api/v1/openapi.json", "", None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in groupcast_manager::ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "openapi.json lacks {method} {path}"
        );
    }
    // Every documented operation exists: the router answers it with something other than
    // its "no such route" / "method not allowed" fallbacks.
    let (mut operations, mut refused) = (0, 0);
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let concrete = path
                .replace("{name}", "nobody")
                .replace("{channel}", "nothing")
                .replace("{id}", "1");
            let body = (method == "post").then(|| json!({}));
            let (status, answer) = api.call(&method.to_uppercase(), &concrete, "bad-token", body);
            refused += u64::from((400..500).contains(&status));
            let fallback = answer["error"] == "no such route" || status == 405;
            assert!(
                !fallback,
                "{method} {path} is documented but not routed: {status} {answer}"
            );
        }
        for (_, op) in item.as_object().unwrap() {
            for r in op["responses"].as_object().unwrap().values() {
                if let Some(schema) = r.pointer("/content/application~1json/schema/$ref") {
                    let name = schema.as_str().unwrap().rsplit('/').next().unwrap();
                    assert!(
                        doc["components"]["schemas"].get(name).is_some(),
                        "{name} is defined"
                    );
                }
            }
        }
    }
    assert_eq!(
        operations,
        groupcast_manager::ROUTES.len(),
        "no undocumented or extra operation"
    );

    // Every operation with a body documents 415, and a body without its content type gets it.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_some() {
                assert!(op["responses"].get("415").is_some(), "{method} {path}: 415");
            }
        }
    }

    // Metrics.
    api.channel("news", json!({}));
    let viewer = api.viewer("v", &["news"]);
    let s = api.open(&viewer, "news", "paris", 12_000);
    assert_eq!(api.heartbeat(&viewer, s.session).0, 200);
    assert_eq!(
        api.call("POST", "/api/v1/channels", ADMIN, Some(json!({"name": ""})))
            .0,
        422
    );
    let metrics = api.metrics();
    for want in [
        "groupcast_sessions_opened_total 1",
        "groupcast_heartbeat_seconds_count 1",
        "groupcast_live_sessions 1",
        "groupcast_metro_viewers{metro=\"paris\"} 1",
        "groupcast_metro_failing_device{metro=\"paris\"} 0",
        "# TYPE groupcast_http_client_errors_total counter",
    ] {
        assert!(metrics.contains(want), "/metrics has {want:?}:\n{metrics}");
    }
    let errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("groupcast_http_client_errors_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        errors == refused + 1,
        "the bad calls above were counted: {errors}"
    );
    // (After the count above: this bad call is counted too.)
    let url = format!("{}/api/v1/channels", api.base());
    let resp = ureq::post(&url)
        .header("Authorization", &format!("Bearer {ADMIN}"))
        .config()
        .http_status_as_error(false)
        .build()
        .send("{\"name\":\"x\",\"group\":\"239.1.1.1:5004\"}")
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415, "a JSON body sent as text");
    m.stop();
}

#[test]
fn sqlite() {
    scenario(&common::sqlite_url("api_docs"));
}

#[test]
fn postgres() {
    if let Some(url) = common::pg_url("api_docs") {
        scenario(&url);
    }
}
