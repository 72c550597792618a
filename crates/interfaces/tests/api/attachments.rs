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

on_both_databases! {
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
