//! Every `/api/v1` route is both routed and documented, and every operation has its own
//! descriptive id (generated clients name their methods after it).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Routed on purpose but not part of the published contract.
const UNDOCUMENTED: &[&str] = &[
    // The document itself.
    "GET /api/v1/openapi.json",
];

fn document() -> Value {
    yajin::http::openapi::document()
}

/// `METHOD /path` of every route the router declares, read from the handlers' source: the
/// router offers no list of its routes, and the source is what a reviewer reads.
fn routed() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for piece in text.split(".route(\"").skip(1) {
            let (path, rest) = piece.split_once('"').unwrap();
            let handlers = rest.split(")\n").next().unwrap_or(rest);
            for method in ["get", "post", "put", "patch", "delete"] {
                let calls = handlers.matches(&format!("{method}(")).count();
                if calls > 0 && path.starts_with("/api/v1") {
                    out.insert(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let doc = document();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            if path.starts_with("/api/v1") {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let routed: BTreeSet<String> = routed().into_iter().filter(|r| !UNDOCUMENTED.contains(&r.as_str())).collect();
    assert!(routed.len() > 40, "the route scan found too little: {routed:?}");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routed but not documented: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented but not routed: {unrouted:?}");
}

#[test]
fn operation_ids_are_explicit_unique_and_descriptive() {
    let doc = document();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            let place = format!("{method} {path}");
            if let Some(other) = ids.insert(id.to_owned(), place.clone()) {
                panic!("operationId {id} names both {other} and {place}");
            }
            // verb_object: at least two words, so that `one`, `items` or `settle` cannot pass.
            assert!(
                id.contains('_') || ["login", "logout", "healthz", "readyz"].contains(&id),
                "{id} ({place}) is not verb_object"
            );
        }
    }
    assert_eq!(
        ids.get("preview_refund_application").map(String::as_str),
        Some("post /api/v1/refund-applications/preview")
    );
}

#[test]
fn every_error_response_is_a_documented_problem() {
    let doc = document();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if is_error && path != "/readyz" {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not documented as application/problem+json"
                    );
                }
            }
            let authenticated = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if authenticated {
                assert!(op["responses"]["401"].is_object(), "{method} {path} needs a login but does not document 401");
            }
        }
    }
}

/// POSTs that neither create anything nor move money: logging in and out, asking for a code,
/// resetting a password (each already safe to repeat), and the side-effect-free preview.
const NOT_KEYED: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/api/v1/auth/sms-codes",
    "/api/v1/auth/password-reset",
    // Spends a one-time code: a repeat finds it spent, and unlocking twice is unlocking once.
    "/api/v1/identity-checks/unlock",
    "/api/v1/staff/auth/login",
    "/api/v1/staff/auth/logout",
    "/api/v1/refund-applications/preview",
    // A calculation: it creates nothing.
    "/api/v1/fee-quote",
    // Sandbox only: each call is one more transaction by design (a test's or the demo's volume).
    "/api/v1/sandbox/transactions",
    // The bank's signed callbacks: applying one twice is a no-op by construction.
    "/api/v1/channels/{channel}/callbacks",
    // A statement reconciled twice settles nothing twice: it is repeatable by nature.
    "/api/v1/reconciliations",
    // Provisioning is idempotent on natural keys (merchant_no, sn, ref), not on a header.
    "/api/v1/admin/merchants",
    "/api/v1/admin/terminals",
    "/api/v1/admin/transactions",
];

#[test]
fn every_other_post_takes_an_idempotency_key_and_documents_its_refusals() {
    let doc = document();
    let mut keyed = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let Some(op) = ops.get("post") else { continue };
        let takes_key = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"));
        if NOT_KEYED.contains(&path.as_str()) {
            assert!(!takes_key, "{path} is listed as not keyed but takes a key");
            continue;
        }
        assert!(takes_key, "POST {path} does not take Idempotency-Key");
        let responses = &op["responses"];
        assert!(responses["400"]["description"].as_str().unwrap().contains("invalid_idempotency_key"), "{path}");
        assert!(responses["409"]["description"].as_str().unwrap().contains("idempotency_key_reused"), "{path}");
        keyed += 1;
    }
    assert!(keyed >= 17, "{keyed}");
}
