use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::harness::spawn_app;

// A 1×1 PNG and a tiny PDF, real files by their bytes.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc`\x00\x00\x00\x02\x00\x01T\xa2O]\x00\x00\x00\x00IEND\xaeB`\x82";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

pub async fn upload(
    app: &crate::harness::TestApp,
    token: &str,
    kind: Option<&str>,
    file: Option<&[u8]>,
) -> crate::harness::Reply {
    upload_with(app, token, kind, file, "yajinboundary", &[]).await
}

/// An upload with this form boundary and these headers.
pub async fn upload_with(
    app: &crate::harness::TestApp,
    token: &str,
    kind: Option<&str>,
    file: Option<&[u8]>,
    boundary: &str,
    headers: &[(&str, &str)],
) -> crate::harness::Reply {
    let mut body = Vec::new();
    if let Some(kind) = kind {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\n{kind}\r\n").bytes());
    }
    if let Some(file) = file {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n").bytes());
        body.extend_from_slice(file);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    app.raw_with("POST", "/api/v1/attachments", Some(token), &content_type, body, headers).await
}

/// One part of a generated multipart form.
#[derive(Clone, Debug)]
enum Content {
    Kind(&'static str),
    Text(String),
    Png,
    Pdf,
    Bytes(Vec<u8>),
}

/// How the generated form's framing is spoiled, if at all.
#[derive(Clone, Debug)]
enum Framing {
    Whole,
    CutAt(usize),
    OtherBoundary,
}

fn form_strategy() -> impl proptest::strategy::Strategy<Value = (Vec<(&'static str, Content)>, Framing)> {
    use proptest::prelude::*;
    let content = prop_oneof![
        proptest::sample::select(yajin_core::attachment::KINDS.to_vec()).prop_map(Content::Kind),
        "\\PC{0,12}".prop_map(Content::Text),
        Just(Content::Png),
        Just(Content::Pdf),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Content::Bytes),
    ];
    let part = (proptest::sample::select(vec!["kind", "file", "note"]), content);
    let file = prop_oneof![Just(Content::Png), Just(Content::Pdf)];
    let kind = proptest::sample::select(yajin_core::attachment::KINDS.to_vec()).prop_map(Content::Kind);
    // Half the forms start from a valid one, with a stray part before or after.
    let valid =
        (kind, file, proptest::collection::vec(part.clone(), 0..2), any::<bool>()).prop_map(|(k, f, extra, before)| {
            let mut parts = vec![("kind", k), ("file", f)];
            if before {
                parts.splice(0..0, extra);
            } else {
                parts.extend(extra);
            }
            parts
        });
    let parts = prop_oneof![proptest::collection::vec(part, 0..4), valid];
    let framing = prop_oneof![6 => Just(Framing::Whole), 1 => (0usize..400).prop_map(Framing::CutAt), 1 => Just(Framing::OtherBoundary)];
    (parts, framing)
}

/// Whether Yajin should store the form: whole, its last `kind` one of the kinds, its last
/// `file` a PNG or PDF.
fn acceptable(parts: &[(&str, Content)], framing: &Framing) -> bool {
    let last = |name: &str| parts.iter().rev().find(|(n, _)| *n == name).map(|(_, c)| c);
    let kind_ok = match last("kind") {
        Some(Content::Kind(_)) => true,
        Some(Content::Text(t)) => yajin_core::attachment::KINDS.contains(&t.as_str()),
        Some(Content::Bytes(b)) => std::str::from_utf8(b).is_ok_and(|t| yajin_core::attachment::KINDS.contains(&t)),
        _ => false,
    };
    let file_ok = match last("file") {
        Some(Content::Png | Content::Pdf) => true,
        Some(Content::Bytes(b)) => yajin_core::attachment::sniff(b).is_some(),
        _ => false,
    };
    matches!(framing, Framing::Whole) && kind_ok && file_ok
}

fn encode(parts: &[(&str, Content)], framing: &Framing) -> (String, Vec<u8>) {
    let boundary = "prop-boundary-7f3a";
    let mut body = Vec::new();
    for (name, content) in parts {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").bytes());
        if *name == "file" {
            body.extend(b"; filename=\"f.bin\"\r\nContent-Type: application/octet-stream");
        }
        body.extend(b"\r\n\r\n");
        match content {
            Content::Kind(k) => body.extend(k.bytes()),
            Content::Text(t) => body.extend(t.bytes()),
            Content::Png => body.extend_from_slice(PNG),
            Content::Pdf => body.extend_from_slice(PDF),
            Content::Bytes(b) => body.extend_from_slice(b),
        }
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    match framing {
        Framing::Whole => (boundary.to_owned(), body),
        Framing::CutAt(at) => {
            body.truncate((*at).min(body.len().saturating_sub(8)));
            (boundary.to_owned(), body)
        }
        Framing::OtherBoundary => ("another-boundary".to_owned(), body),
    }
}

on_both_databases! {
    async fn evidence_is_sealed_at_rest_and_staff_download_it_sandboxed(db) {
        let app = spawn_app(db).await;
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        let r = upload(&app, &a, Some("id_photo"), Some(PNG)).await;
        assert_eq!(r.status, 201);
        let id = r.body["id"].as_str().unwrap().to_owned();
        // Someone with a copy of the database reads the file's body.
        let (stored, key_id): (Vec<u8>, Option<String>) =
            sqlx::query_as("SELECT content, key_id FROM attachment_blobs WHERE sha256 = $1")
                .bind(r.body["sha256"].as_str().unwrap())
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        assert!(key_id.is_some(), "sealed under a key");
        assert!(!stored.windows(4).any(|w| w == b"IHDR") && !stored.starts_with(b"\x89PNG"), "no image in clear");
        let mine = app.client.get(format!("{}/api/v1/attachments/{id}", app.base)).bearer_auth(&a).send().await.unwrap();
        assert_eq!(mine.bytes().await.unwrap().as_ref(), PNG, "the owner gets it back whole");

        let reviewer = app.staff("reviewer").await;
        let staff = app.client.get(format!("{}/api/v1/review/attachments/{id}", app.base)).bearer_auth(&reviewer).send().await.unwrap();
        assert_eq!(staff.status(), 200);
        let disposition = staff.headers()["content-disposition"].to_str().unwrap().to_owned();
        assert!(disposition.starts_with("attachment;") && disposition.contains(".png"), "{disposition}");
        let csp = staff.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.starts_with("sandbox") && csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(staff.bytes().await.unwrap().as_ref(), PNG);

        // A body written in clear before sealing existed is sealed by the start-up pass, and
        // still reads the same.
        let (other,): (String,) = sqlx::query_as("SELECT id FROM merchants WHERE phone = $1")
            .bind(demo::MERCHANT_A.phone)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        let pdf = b"%PDF-1.4\nold evidence\n%%EOF\n".to_vec();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&pdf));
        sqlx::query("INSERT INTO attachment_blobs (sha256, content) VALUES ($1, $2)").bind(&sha).bind(&pdf).execute(app.db.pool()).await.unwrap();
        sqlx::query("INSERT INTO attachments (id, merchant_id, kind, content_type, size, sha256, created_at) VALUES ('at_old', $1, 'other', 'application/pdf', $2, $3, 0)")
            .bind(&other).bind(pdf.len() as i64).bind(&sha).execute(app.db.pool()).await.unwrap();
        assert_eq!(yajin_app::attachments::seal_remaining(&app.app).await.unwrap(), 1);
        let (after, key): (Vec<u8>, Option<String>) = sqlx::query_as("SELECT content, key_id FROM attachment_blobs WHERE sha256 = $1")
            .bind(&sha).fetch_one(app.db.pool()).await.unwrap();
        assert!(key.is_some() && after != pdf);
        let old = app.client.get(format!("{}/api/v1/attachments/at_old", app.base)).bearer_auth(&a).send().await.unwrap();
        assert_eq!(old.bytes().await.unwrap().as_ref(), pdf.as_slice());
        assert_eq!(yajin_app::attachments::seal_remaining(&app.app).await.unwrap(), 0, "nothing left");
    }

    async fn a_merchant_cannot_fill_the_database_with_uploads(db) {
        let app = spawn_app(db).await;
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        for n in 0..yajin_app::attachments::FILES_PER_DAY {
            assert_eq!(upload(&app, &a, Some("other"), Some(PNG)).await.status, 201, "upload {n}");
        }
        let refused = upload(&app, &a, Some("other"), Some(PNG)).await;
        assert_eq!((refused.status, refused.code()), (429, "too_many_requests"), "{:?}", refused.body);
        let b = app.merchant(demo::MERCHANT_B.phone).await;
        assert_eq!(upload(&app, &b, Some("other"), Some(PNG)).await.status, 201, "another merchant is not held back");
        app.clock.advance_ms(86_400_001);
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        assert_eq!(upload(&app, &a, Some("other"), Some(PNG)).await.status, 201, "the next day");
    }

    async fn any_multipart_form_is_stored_exactly_when_valid_and_never_a_5xx(db) {
        // Property: generated forms (parts named kind, file or other, holding kinds, text,
        // real files or random bytes; whole, cut short or under the wrong boundary) are stored
        // exactly when whole with a known kind and a PNG/PDF file, and refused with a 4xx
        // otherwise. Fewer cases than the daily upload quota (100).
        use proptest::strategy::{Strategy, ValueTree};
        let app = spawn_app(db).await;
        let token = app.merchant(demo::MERCHANT_A.phone).await;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = form_strategy();
        let mut stored = 0;
        for case in 0..90 {
            let (parts, framing) = strategy.new_tree(&mut runner).unwrap().current();
            let (boundary, body) = encode(&parts, &framing);
            let content_type = format!("multipart/form-data; boundary={boundary}");
            let r = app.raw("POST", "/api/v1/attachments", Some(&token), &content_type, body).await;
            assert!(r.status < 500, "case {case}: {parts:?} {framing:?} → {} {:?}", r.status, r.body);
            assert_eq!(r.status == 201, acceptable(&parts, &framing), "case {case}: {parts:?} {framing:?} → {} {:?}", r.status, r.body);
            stored += usize::from(r.status == 201);
        }
        assert!(stored > 5 && stored < 85, "both sides were tried: {stored} stored");
    }

    async fn uploads_are_typed_by_content_and_private(db) {
        let app = spawn_app(db).await;
        let a = app.merchant(demo::MERCHANT_A.phone).await;
        let b = app.merchant(demo::MERCHANT_B.phone).await;
        let r = upload(&app, &a, Some("purchase_voucher"), Some(PNG)).await;
        assert_eq!((r.status, r.body["content_type"].as_str(), r.body["size"].as_u64()), (201, Some("image/png"), Some(PNG.len() as u64)));
        assert_eq!(r.body["sha256"].as_str().unwrap().len(), 64);
        let id = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(upload(&app, &a, Some("usage_record"), Some(PDF)).await.body["content_type"], "application/pdf");

        let mine = app.client.get(format!("{}/api/v1/attachments/{id}", app.base)).bearer_auth(&a).send().await.unwrap();
        assert_eq!(mine.headers()["content-type"], "image/png");
        assert_eq!(mine.bytes().await.unwrap().as_ref(), PNG);
        assert_eq!(app.get(&format!("/api/v1/attachments/{id}"), &b).await.status, 404, "another merchant's file");

        let elf = upload(&app, &a, Some("other"), Some(b"\x7fELF\x02\x01\x01\x00\x00\x00")).await;
        assert_eq!((elf.status, elf.code()), (415, "unsupported_file_type"));
        let r = upload(&app, &a, Some("selfie"), None).await;
        let fields: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!((r.code(), fields), ("validation_failed", vec!["kind", "file"]));
        let mut big = PNG.to_vec();
        big.resize(10 * 1024 * 1024 + 1, 0);
        let r = upload(&app, &a, Some("other"), Some(&big)).await;
        assert_eq!((r.status, r.code()), (413, "payload_too_large"));
        let mut just_fits = PNG.to_vec();
        just_fits.resize(10 * 1024 * 1024, 0);
        assert_eq!(upload(&app, &a, Some("other"), Some(&just_fits)).await.status, 201);
        let no_token = app.raw("POST", "/api/v1/attachments", None, "multipart/form-data; boundary=x", b"--x--\r\n".to_vec()).await;
        assert_eq!(no_token.status, 401);
    }
}
