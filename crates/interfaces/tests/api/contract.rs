//! The OpenAPI document matches what the server does: every documented operation is called,
//! and every JSON response is checked against the schema documented for its status. A field
//! the server sends but the document does not name is a failure too.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::applications::body;
use crate::harness::{code_in, spawn_app, Reply, TestApp};

struct Contract {
    doc: Value,
    seen: BTreeSet<(String, String)>,
}

impl Contract {
    async fn load(app: &TestApp) -> Contract {
        let r = app.send("GET", "/api/v1/openapi.json", None, None, &[]).await;
        assert_eq!((r.status, r.body["openapi"].as_str()), (200, Some("3.1.0")));
        Contract { doc: r.body, seen: BTreeSet::new() }
    }

    /// Checks a reply against the operation `method template`.
    fn check(&mut self, method: &str, template: &str, reply: &Reply) {
        let op = &self.doc["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is not documented");
        self.seen.insert((method.to_owned(), template.to_owned()));
        let response = &op["responses"][reply.status.to_string()];
        assert!(
            response.is_object(),
            "{method} {template}: status {} is not documented ({:?})",
            reply.status,
            reply.body
        );
        let Some(content) = response["content"].as_object() else {
            assert!(
                reply.body.is_null() || reply.body == Value::String(String::new()),
                "{method} {template}: undocumented body"
            );
            return;
        };
        let ct = reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .to_owned();
        let media = content
            .get(&ct)
            .unwrap_or_else(|| panic!("{method} {template} {}: content type {ct} not documented", reply.status));
        if let Err(e) = self.conforms(&media["schema"], &reply.body, "$") {
            panic!("{method} {template} {}: {e}\n{}", reply.status, reply.body);
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
            Some(name) => &self.doc["components"]["schemas"][name],
            None => schema,
        }
    }

    /// A part of an `allOf`, itself flattened if it is an `allOf`.
    fn merged_part(&self, part: &Value) -> Value {
        let part = self.resolve(part);
        match part["allOf"].as_array() {
            Some(inner) => {
                let mut out = json!({"properties": {}, "required": []});
                for p in inner {
                    let p = self.merged_part(p);
                    for (k, v) in p["properties"].as_object().into_iter().flatten() {
                        out["properties"][k] = v.clone();
                    }
                    for r in p["required"].as_array().into_iter().flatten() {
                        out["required"].as_array_mut().unwrap().push(r.clone());
                    }
                }
                out
            }
            None => part.clone(),
        }
    }

    fn conforms(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if let Some(options) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
            return if options.iter().any(|s| self.conforms(s, value, at).is_ok()) {
                Ok(())
            } else {
                Err(format!("{at}: matches no alternative"))
            };
        }
        if let Some(parts) = schema["allOf"].as_array() {
            // One object made of all the parts: each part alone would call the others' fields
            // undocumented.
            let mut merged = json!({"type": "object", "properties": {}, "required": []});
            for part in parts {
                let part = self.merged_part(part);
                for (k, v) in part["properties"].as_object().into_iter().flatten() {
                    merged["properties"][k] = v.clone();
                }
                for r in part["required"].as_array().into_iter().flatten() {
                    merged["required"].as_array_mut().unwrap().push(r.clone());
                }
                if part.get("additionalProperties").is_some() {
                    merged["additionalProperties"] = json!(true);
                }
            }
            return self.conforms(&merged, value, at);
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Ok(()),
        };
        let ok = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !ok {
            return Err(format!("{at}: {value} is not {types:?}"));
        }
        if let (Some(object), Some(props)) = (value.as_object(), schema["properties"].as_object()) {
            for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !object.contains_key(required) {
                    return Err(format!("{at}.{required}: required but missing"));
                }
            }
            for (k, v) in object {
                match props.get(k) {
                    Some(s) => self.conforms(s, v, &format!("{at}.{k}"))?,
                    None if schema.get("additionalProperties").is_some() => {}
                    None => return Err(format!("{at}.{k}: sent but not documented")),
                }
            }
        }
        if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                self.conforms(schema, item, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }

    fn all_seen(&self) {
        let documented: BTreeSet<(String, String)> = self.doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
            .collect();
        let missing: Vec<_> = documented.difference(&self.seen).collect();
        assert!(missing.is_empty(), "documented but never checked: {missing:?}");
    }
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";

on_both_databases! {
    async fn responses_match_the_published_document(db) {
        let app = spawn_app(db).await;
        let mut c = Contract::load(&app).await;
        let a = demo::MERCHANT_A.phone;
        c.check("get", "/healthz", &app.send("GET", "/healthz", None, None, &[]).await);
        c.check("get", "/readyz", &app.send("GET", "/readyz", None, None, &[]).await);
        c.check("post", "/api/v1/auth/login", &app.login(a, "wrong").await);
        let login = app.login(a, demo::MERCHANT_PASSWORD).await;
        c.check("post", "/api/v1/auth/login", &login);
        let t = login.body["token"].as_str().unwrap().to_owned();
        let t = t.as_str();
        c.check("get", "/api/v1/me", &app.get("/api/v1/me", t).await);
        c.check("get", "/api/v1/me", &app.get("/api/v1/me", "nope").await);
        let sms = app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": a, "purpose": "reset_password"})), &[]).await;
        c.check("post", "/api/v1/auth/sms-codes", &sms);
        c.check("post", "/api/v1/auth/sms-codes", &app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": a, "purpose": "reset_password"})), &[]).await);
        let inbox = app.send("GET", &format!("/api/v1/sandbox/sms?phone={a}"), None, None, &[]).await;
        c.check("get", "/api/v1/sandbox/sms", &inbox);
        let code = code_in(inbox.body["items"][0]["text"].as_str().unwrap());
        let bad = app.send("POST", "/api/v1/auth/password-reset", None, Some(json!({"phone": a, "code": "12345x", "new_password": "Valid@2026"})), &[]).await;
        c.check("post", "/api/v1/auth/password-reset", &bad);
        let good = app.send("POST", "/api/v1/auth/password-reset", None, Some(json!({"phone": a, "code": code, "new_password": demo::MERCHANT_PASSWORD})), &[]).await;
        c.check("post", "/api/v1/auth/password-reset", &good);
        let t = app.merchant(a).await;
        let t = t.as_str();

        c.check("get", "/api/v1/terminals", &app.get("/api/v1/terminals?limit=3", t).await);
        c.check("get", "/api/v1/terminals", &app.get("/api/v1/terminals?limit=0", t).await);
        for sn in ["DEMO-AUTO-01", "DEMO-OWES-01", "DEMO-PROGRESS-01", "DEMO-EXPIRED-01", "DEMO-REFUNDED-01", "DEMO-REVIEW-01", "DEMO-B-01"] {
            c.check("get", "/api/v1/terminals/{sn}", &app.get(&format!("/api/v1/terminals/{sn}"), t).await);
        }
        c.check("get", "/api/v1/terminals/{sn}/transactions", &app.get("/api/v1/terminals/DEMO-AUTO-01/transactions?limit=2", t).await);
        c.check("get", "/api/v1/terminals/{sn}/transactions", &app.get("/api/v1/terminals/NOPE/transactions", t).await);
        let items = app.get("/api/v1/outstanding-items", t).await;
        c.check("get", "/api/v1/outstanding-items", &items);
        let settle = format!("/api/v1/outstanding-items/{}/settle", items.body["items"][0]["id"].as_str().unwrap());
        c.check("post", "/api/v1/outstanding-items/{id}/settle", &app.send("POST", &settle, Some(t), None, &[]).await);
        c.check("post", "/api/v1/outstanding-items/{id}/settle", &app.send("POST", &settle, Some(t), None, &[]).await);
        c.check("post", "/api/v1/outstanding-items/{id}/settle", &app.send("POST", "/api/v1/outstanding-items/oi_x/settle", Some(t), None, &[]).await);

        let up = crate::attachments::upload(&app, t, Some("purchase_voucher"), Some(PNG)).await;
        c.check("post", "/api/v1/attachments", &up);
        c.check("post", "/api/v1/attachments", &crate::attachments::upload(&app, t, Some("other"), Some(b"GIF89a")).await);
        c.check("post", "/api/v1/attachments", &crate::attachments::upload(&app, t, None, None).await);
        let file = app.client.get(format!("{}/api/v1/attachments/{}", app.base, up.body["id"].as_str().unwrap())).bearer_auth(t).send().await.unwrap();
        assert_eq!(file.status(), 200);
        c.seen.insert(("get".into(), "/api/v1/attachments/{id}".into()));
        c.check("get", "/api/v1/attachments/{id}", &app.get("/api/v1/attachments/at_nope", t).await);

        c.check("post", "/api/v1/refund-applications/preview", &app.post("/api/v1/refund-applications/preview", t, body("DEMO-PROGRESS-01")).await);
        c.check("post", "/api/v1/refund-applications/preview", &app.post("/api/v1/refund-applications/preview", t, json!({})).await);
        c.check("post", "/api/v1/identity-checks/unlock", &app.post("/api/v1/identity-checks/unlock", t, json!({"sms_code": "000000"})).await);
        for sn in ["DEMO-OWES-01", "DEMO-PROGRESS-01", "DEMO-EXPIRED-01", "DEMO-REFUNDED-01", "DEMO-B-01"] {
            let r = app.post("/api/v1/refund-applications", t, body(sn)).await;
            c.check("post", "/api/v1/refund-applications", &r);
        }
        let created = app.post("/api/v1/refund-applications", t, body("DEMO-REVIEW-01")).await;
        c.check("post", "/api/v1/refund-applications", &created);
        c.check("post", "/api/v1/refund-applications", &app.post("/api/v1/refund-applications", t, body("DEMO-REVIEW-01")).await);
        let id = created.body["id"].as_str().unwrap().to_owned();
        c.check("get", "/api/v1/refund-applications", &app.get("/api/v1/refund-applications", t).await);
        c.check("get", "/api/v1/refund-applications/{id}", &app.get(&format!("/api/v1/refund-applications/{id}"), t).await);
        c.check("get", "/api/v1/refund-applications/{id}/receipt", &app.get(&format!("/api/v1/refund-applications/{id}/receipt"), t).await);
        c.check("post", "/api/v1/refund-applications/{id}/supplement", &app.post(&format!("/api/v1/refund-applications/{id}/supplement"), t, json!({"note": "x"})).await);
        c.check("post", "/api/v1/refund-applications/{id}/cancel", &app.post(&format!("/api/v1/refund-applications/{id}/cancel"), t, json!({})).await);
        c.check("post", "/api/v1/refund-applications/{id}/cancel", &app.post(&format!("/api/v1/refund-applications/{id}/cancel"), t, json!({})).await);
        let list = app.get("/api/v1/refund-applications", t).await;
        let refunded = list.body["items"].as_array().unwrap().iter().find(|x| x["status"] == "refunded").unwrap()["id"].as_str().unwrap().to_owned();
        c.check("get", "/api/v1/refund-applications/{id}/receipt", &app.get(&format!("/api/v1/refund-applications/{refunded}/receipt"), t).await);

        c.check("get", "/api/v1/notifications", &app.get("/api/v1/notifications", t).await);
        let ticket = app.post("/api/v1/tickets", t, json!({"subject": "进度", "body": "何时到账", "application_id": id})).await;
        c.check("post", "/api/v1/tickets", &ticket);
        c.check("post", "/api/v1/tickets", &app.post("/api/v1/tickets", t, json!({"subject": ""})).await);
        let tk = ticket.body["id"].as_str().unwrap().to_owned();
        let tk = tk.as_str();
        c.check("get", "/api/v1/tickets", &app.get("/api/v1/tickets", t).await);
        c.check("get", "/api/v1/tickets/{id}", &app.get(&format!("/api/v1/tickets/{tk}"), t).await);
        c.check("post", "/api/v1/tickets/{id}/messages", &app.post(&format!("/api/v1/tickets/{tk}/messages"), t, json!({"body": "还有"})).await);
        c.check("get", "/api/v1/announcements", &app.send("GET", "/api/v1/announcements", None, None, &[]).await);
        c.check("post", "/api/v1/auth/logout", &app.send("POST", "/api/v1/auth/logout", Some(t), None, &[]).await);

        // The back office.
        let staff_login = |u: &str, p: &str| app.send("POST", "/api/v1/staff/auth/login", None, Some(json!({"username": u, "password": p})), &[]);
        c.check("post", "/api/v1/staff/auth/login", &staff_login("reviewer", "wrong").await);
        let rv = staff_login("reviewer", demo::STAFF_PASSWORD).await;
        c.check("post", "/api/v1/staff/auth/login", &rv);
        let rv = rv.body["token"].as_str().unwrap().to_owned();
        let ap = app.staff("approver").await;
        let m = app.merchant(a).await;
        let id = app.post("/api/v1/refund-applications", &m, body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let review = |step: &str| format!("/api/v1/review/applications/{id}/{step}");
        c.check("get", "/api/v1/review/applications", &app.get("/api/v1/review/applications?status=submitted", &rv).await);
        c.check("get", "/api/v1/review/applications", &app.get("/api/v1/review/applications", &m).await);
        c.check("get", "/api/v1/review/applications/{id}", &app.get(&format!("/api/v1/review/applications/{id}"), &rv).await);
        c.check("get", "/api/v1/review/reason-codes", &app.get("/api/v1/review/reason-codes", &rv).await);
        c.check("get", "/api/v1/review/attachments/{id}", &app.get("/api/v1/review/attachments/at_nope", &rv).await);
        c.check("post", "/api/v1/review/applications/{id}/approve", &app.post(&review("approve"), &rv, json!({})).await);
        c.check("post", "/api/v1/review/applications/{id}/claim", &app.post(&review("claim"), &rv, json!({})).await);
        c.check("post", "/api/v1/review/applications/{id}/request-info", &app.post(&review("request-info"), &rv, json!({"items": []})).await);
        c.check("post", "/api/v1/review/applications/{id}/reject", &app.post(&review("reject"), &rv, json!({"reason_code": "nope"})).await);
        c.check("post", "/api/v1/review/applications/{id}/request-info", &app.post(&review("request-info"), &rv, json!({"items": ["快递单号"]})).await);
        app.post(&format!("/api/v1/refund-applications/{id}/supplement"), &m, json!({"note": "SF1"})).await;
        c.check("post", "/api/v1/review/applications/{id}/claim", &app.post(&review("claim"), &rv, json!({})).await);
        c.check("post", "/api/v1/review/applications/{id}/approve", &app.post(&review("approve"), &rv, json!({})).await);
        c.check("post", "/api/v1/review/applications/{id}/approve", &app.post(&review("approve"), &ap, json!({})).await);
        c.check("post", "/api/v1/review/applications/{id}/reject", &app.post(&review("reject"), &ap, json!({"reason_code": "other"})).await);
        let received = |sn: &str| format!("/api/v1/review/terminals/{sn}/device-received");
        c.check("post", "/api/v1/review/terminals/{sn}/device-received", &app.post(&received("DEMO-AUTO-01"), &rv, json!({"waybill_no": "SF1", "condition": "ok"})).await);
        c.check("post", "/api/v1/review/terminals/{sn}/device-received", &app.post(&received("DEMO-AUTO-01"), &rv, json!({"waybill_no": "SF1", "condition": "ok"})).await);
        c.check("post", "/api/v1/review/terminals/{sn}/device-received", &app.post(&received("DEMO-AUTO-01"), &rv, json!({"condition": "new"})).await);
        c.check("post", "/api/v1/staff/auth/logout", &app.send("POST", "/api/v1/staff/auth/logout", Some(&rv), None, &[]).await);

        let admin = app.staff("admin").await;
        let support = app.staff("support").await;
        let finance = app.staff("finance").await;
        c.check("get", "/api/v1/policies", &app.get("/api/v1/policies", &admin).await);
        let plan = json!({"code": "TERM-299", "name": "新版", "deposit_fen": 29900, "rule": {"kind": "termination", "refund_window_days": 365,
            "device_return_required": false}, "fee": {"kind": "fixed", "amount_fen": 0}, "four_eyes_threshold_fen": 20000});
        c.check("post", "/api/v1/policies", &app.post("/api/v1/policies", &admin, plan).await);
        c.check("post", "/api/v1/policies", &app.post("/api/v1/policies", &support, json!({})).await);
        c.check("get", "/api/v1/audit", &app.get("/api/v1/audit?limit=5", &admin).await);
        c.check("get", "/api/v1/audit/verify", &app.get("/api/v1/audit/verify", &admin).await);
        c.check("get", "/api/v1/ledger/verify", &app.get("/api/v1/ledger/verify", &admin).await);
        c.check("get", "/api/v1/audit/head", &app.get("/api/v1/audit/head", &admin).await);
        c.check("get", "/api/v1/audit/public-key", &app.send("GET", "/api/v1/audit/public-key", None, None, &[]).await);
        c.check("get", "/api/v1/support/tickets", &app.get("/api/v1/support/tickets", &support).await);
        c.check("get", "/api/v1/support/tickets/{id}", &app.get(&format!("/api/v1/support/tickets/{tk}"), &support).await);
        c.check("post", "/api/v1/support/tickets/{id}/messages", &app.post(&format!("/api/v1/support/tickets/{tk}/messages"), &support, json!({"body": "在处理"})).await);
        c.check("post", "/api/v1/support/tickets/{id}/close", &app.post(&format!("/api/v1/support/tickets/{tk}/close"), &support, json!({})).await);
        c.check("post", "/api/v1/support/tickets/{id}/close", &app.post(&format!("/api/v1/support/tickets/{tk}/close"), &support, json!({})).await);
        let draft = app.post("/api/v1/admin/announcements", &admin, json!({"title": "t", "body": "b"})).await;
        c.check("post", "/api/v1/admin/announcements", &draft);
        let an = draft.body["id"].as_str().unwrap().to_owned();
        c.check("post", "/api/v1/admin/announcements/{id}/publish", &app.post(&format!("/api/v1/admin/announcements/{an}/publish"), &admin, json!({})).await);
        c.check("post", "/api/v1/admin/announcements/{id}/withdraw", &app.post(&format!("/api/v1/admin/announcements/{an}/withdraw"), &admin, json!({})).await);
        c.check("post", "/api/v1/admin/announcements/{id}/withdraw", &app.post(&format!("/api/v1/admin/announcements/{an}/withdraw"), &admin, json!({})).await);
        c.check("get", "/api/v1/reports/summary", &app.get("/api/v1/reports/summary", &finance).await);
        c.check("get", "/api/v1/payouts", &app.get("/api/v1/payouts?status=failed", &finance).await);
        c.check("get", "/api/v1/payouts", &app.get("/api/v1/payouts?status=lost", &finance).await);
        c.check("get", "/api/v1/payouts", &app.get("/api/v1/payouts", &support).await);
        c.check("get", "/api/v1/payouts/{id}", &app.get("/api/v1/payouts/po_nope", &finance).await);
        c.check("post", "/api/v1/payouts/{id}/retry", &app.post("/api/v1/payouts/po_nope/retry", &finance, json!({})).await);
        let unsigned = app.send("POST", "/api/v1/channels/sandbox/callbacks", None, Some(json!({"kind": "payout"})), &[]).await;
        c.check("post", "/api/v1/channels/{channel}/callbacks", &unsigned);
        let form = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n\r\npo_1,ra_1,1,B,2026-01-01T00:00:00Z\nbad\r\n--b--\r\n".to_vec();
        for token in [&finance, &support] {
            let r = app.raw("POST", "/api/v1/reconciliations", Some(token), "multipart/form-data; boundary=b", form.clone()).await;
            c.check("post", "/api/v1/reconciliations", &r);
        }
        let m = json!({"merchant_no": "822100058129999", "name": "新开小店", "phone": "13900000009", "password": "Shop@2026x",
            "id_card_no": "11010519491231002X", "bank_card_no": "6222021234567890128", "bank_name": "工商银行"});
        c.check("post", "/api/v1/admin/merchants", &app.post("/api/v1/admin/merchants", &admin, m.clone()).await);
        c.check("post", "/api/v1/admin/merchants", &app.post("/api/v1/admin/merchants", &admin, m).await);
        c.check("post", "/api/v1/admin/merchants", &app.post("/api/v1/admin/merchants", &admin, json!({})).await);
        let terminal_body = json!({"merchant_no": "822100058129999", "sn": "NEW-SN-0001", "model": "P2", "plan_code": "ACT-99",
            "status": "active", "bound_at": "2026-09-01T00:00:00Z"});
        c.check("post", "/api/v1/admin/terminals", &app.post("/api/v1/admin/terminals", &admin, terminal_body.clone()).await);
        c.check("post", "/api/v1/admin/terminals", &app.post("/api/v1/admin/terminals", &admin, terminal_body).await);
        let tx = json!({"items": [{"ref": "r1", "sn": "NEW-SN-0001", "amount_fen": 100, "kind": "nfc", "occurred_at": "2026-10-01T00:00:00Z"}]});
        c.check("post", "/api/v1/admin/transactions", &app.post("/api/v1/admin/transactions", &admin, tx).await);
        c.check("post", "/api/v1/admin/transactions", &app.post("/api/v1/admin/transactions", &support, json!({"items": []})).await);
        let owed = json!({"sn": "NEW-SN-0001", "kind": "sim_fee", "amount_fen": 1200, "due_at": "2026-11-01T00:00:00Z"});
        c.check("post", "/api/v1/admin/outstanding-items", &app.post("/api/v1/admin/outstanding-items", &admin, owed).await);
        c.check("post", "/api/v1/admin/outstanding-items", &app.post("/api/v1/admin/outstanding-items", &admin, json!({"sn": "X", "kind": "k", "amount_fen": 0, "due_at": "x"})).await);
        let card = json!({"bank_card_no": "6217001234567890122", "sms_code": "123456"});
        c.check("post", "/api/v1/refund-applications/{id}/payout-card", &app.post("/api/v1/refund-applications/ra_nope/payout-card", t, card).await);
        c.check("get", "/api/v1/receipts/{number}/verify", &app.send("GET", "/api/v1/receipts/RF0/verify", None, None, &[]).await);
        let agent = app.staff("agent").await;
        let list = app.get("/api/v1/agent/refund-applications", &agent).await;
        c.check("get", "/api/v1/agent/refund-applications", &list);
        c.check("get", "/api/v1/agent/refund-applications", &app.get("/api/v1/agent/refund-applications", &admin).await);
        c.check("get", "/api/v1/agent/merchants", &app.get("/api/v1/agent/merchants", &agent).await);
        c.check("get", "/api/v1/agent/terminals", &app.get("/api/v1/agent/terminals", &agent).await);
        if let Some(first) = list.body["items"][0]["id"].as_str() {
            c.check("get", "/api/v1/agent/refund-applications/{id}", &app.get(&format!("/api/v1/agent/refund-applications/{first}"), &agent).await);
        }
        c.check("get", "/api/v1/agent/refund-applications/{id}", &app.get("/api/v1/agent/refund-applications/ra_nope", &agent).await);
        let b = app.merchant(demo::MERCHANT_B.phone).await;
        let body = json!({"plan_code": "ACT-99", "model": "P2", "shipping_address": "上海市", "deposit_route": "card"});
        let placed = app.post("/api/v1/terminal-orders", &b, body).await;
        c.check("post", "/api/v1/terminal-orders", &placed);
        c.check("post", "/api/v1/terminal-orders", &app.post("/api/v1/terminal-orders", &b, json!({"plan_code": "x"})).await);
        let to = placed.body["id"].as_str().unwrap().to_owned();
        c.check("get", "/api/v1/terminal-orders", &app.get("/api/v1/terminal-orders", &b).await);
        c.check("get", "/api/v1/terminal-orders/{id}", &app.get(&format!("/api/v1/terminal-orders/{to}"), &b).await);
        c.check("get", "/api/v1/terminal-orders/{id}", &app.get("/api/v1/terminal-orders/to_nope", &b).await);
        c.check("get", "/api/v1/review/terminal-orders", &app.get("/api/v1/review/terminal-orders", &rv).await);
        c.check("get", "/api/v1/review/terminal-orders/{id}", &app.get(&format!("/api/v1/review/terminal-orders/{to}"), &rv).await);
        c.check("post", "/api/v1/terminal-orders/{id}/pay", &app.post(&format!("/api/v1/terminal-orders/{to}/pay"), &b, json!({})).await);
        c.check("post", "/api/v1/review/terminal-orders/{id}/ship", &app.post(&format!("/api/v1/review/terminal-orders/{to}/ship"), &rv, json!({"sn": "S-1", "carrier": "c", "waybill_no": "w"})).await);
        c.check("post", "/api/v1/terminal-orders/{id}/return", &app.post(&format!("/api/v1/terminal-orders/{to}/return"), &b, json!({})).await);
        c.check("post", "/api/v1/terminal-orders/{id}/confirm-delivery", &app.post(&format!("/api/v1/terminal-orders/{to}/confirm-delivery"), &b, json!({})).await);
        c.check("post", "/api/v1/review/terminal-orders/{id}/approve", &app.post(&format!("/api/v1/review/terminal-orders/{to}/approve"), &rv, json!({})).await);
        c.check("post", "/api/v1/terminal-orders/{id}/cancel", &app.post(&format!("/api/v1/terminal-orders/{to}/cancel"), &b, json!({})).await);
        let other = app.post("/api/v1/terminal-orders", &b, json!({"plan_code": "ACT-99", "model": "P2", "shipping_address": "上海市", "deposit_route": "card"})).await;
        let other = other.body["id"].as_str().unwrap().to_owned();
        c.check("post", "/api/v1/review/terminal-orders/{id}/reject", &app.post(&format!("/api/v1/review/terminal-orders/{other}/reject"), &rv, json!({"comment": "no"})).await);
        let volume = json!({"sn": "DEMO-PROGRESS-01", "amount_fen": 100, "kind": "nfc"});
        c.check("post", "/api/v1/sandbox/transactions", &app.send("POST", "/api/v1/sandbox/transactions", None, Some(volume), &[]).await);
        c.check("post", "/api/v1/sandbox/transactions", &app.send("POST", "/api/v1/sandbox/transactions", None, Some(json!({"sn": "X", "amount_fen": 1, "kind": "nfc"})), &[]).await);
        c.check("get", "/api/v1/plans", &app.send("GET", "/api/v1/plans", None, None, &[]).await);
        let quote = json!({"plan_code": "ACT-99", "amount_fen": 8_000_000, "kind": "debit_card"});
        c.check("post", "/api/v1/fee-quote", &app.send("POST", "/api/v1/fee-quote", None, Some(quote), &[]).await);
        let wrong = json!({"plan_code": "NOPE", "amount_fen": 0, "kind": "cash"});
        c.check("post", "/api/v1/fee-quote", &app.send("POST", "/api/v1/fee-quote", None, Some(wrong), &[]).await);
        c.all_seen();
    }
}

on_both_databases! {
    async fn a_nul_character_anywhere_is_refused_never_a_server_error(db) {
        // PostgreSQL can neither store nor compare text holding NUL: each of these reached it
        // as sent and failed its statement (500s found by hand, session 20).
        let app = spawn_app(db).await;
        let merchant = app.merchant(demo::MERCHANT_A.phone).await;
        let finance = app.staff("finance").await;

        // In a path: nothing has such an id.
        for path in ["/api/v1/refund-applications/ra_%00x", "/api/v1/terminals/DEMO%00", "/api/v1/tickets/tk_%00"] {
            let r = app.get(path, &merchant).await;
            assert_eq!((r.status, r.code()), (404, "not_found"), "{path}: {}", r.body);
        }
        let r = app.send("GET", "/api/v1/receipts/R%00X/verify", None, None, &[]).await;
        assert_eq!(r.status, 404, "{}", r.body);
        // In a query: the parameter is named.
        let r = app.get("/api/v1/payouts?status=%00", &finance).await;
        assert_eq!((r.status, r.code(), r.body["field"].as_str()), (400, "invalid_query", Some("status")), "{}", r.body);
        // A cursor is the hex of a sort key, and no key holds a control character.
        for cursor in ["00", "4100", "0a"] {
            for list in ["/api/v1/terminals", "/api/v1/outstanding-items", "/api/v1/refund-applications"] {
                let r = app.get(&format!("{list}?cursor={cursor}"), &merchant).await;
                assert_eq!((r.status, r.code()), (400, "invalid_cursor"), "{list} {cursor}: {}", r.body);
            }
        }
        // In a JSON field no check of its own reads: the store refuses it before it runs.
        let r = app.login("1380000\u{0}0001", "Demo@12345").await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{}", r.body);
        assert_eq!(r.body["errors"][0]["code"], "invalid_characters", "{}", r.body);
        assert_eq!(app.login(demo::MERCHANT_A.phone, "Demo@12345").await.status, 200, "no lockout counted against the real number");
        // In a form's field: refused naming it, as a page for a browser.
        let form = b"phone=138%000000001&password=x&sms_code=&next=%2F".to_vec();
        let r = app.raw("POST", "/login", None, "application/x-www-form-urlencoded", form.clone()).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.body["errors"][0]["field"], "phone", "{}", r.body);
        let page = app.raw_with("POST", "/login", None, "application/x-www-form-urlencoded", form, &[("accept", "text/html")]).await;
        assert_eq!(page.status, 422);
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"), "a page");
    }
}
