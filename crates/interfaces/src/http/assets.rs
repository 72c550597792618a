//! The stylesheet and the script, embedded in the binary and served under names that carry a
//! hash of their content: a browser may keep them for a year, and a new build gets new names.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

pub struct Asset {
    stem: &'static str,
    extension: &'static str,
    content_type: &'static str,
    body: &'static str,
    url: OnceLock<String>,
}

impl Asset {
    const fn new(stem: &'static str, extension: &'static str, content_type: &'static str, body: &'static str) -> Asset {
        Asset { stem, extension, content_type, body, url: OnceLock::new() }
    }

    /// `/assets/site.1a2b3c4d5e6f.css`.
    pub fn url(&self) -> &str {
        self.url.get_or_init(|| {
            let digest = hex::encode(Sha256::digest(self.body.as_bytes()));
            format!("/assets/{}.{}.{}", self.stem, &digest[..12], self.extension)
        })
    }
}

pub static STYLESHEET: Asset =
    Asset::new("site", "css", "text/css; charset=utf-8", include_str!("../../assets/site.css"));
pub static SCRIPT: Asset =
    Asset::new("site", "js", "text/javascript; charset=utf-8", include_str!("../../assets/site.js"));

/// `GET /assets/{name}`: only the current names; anything else is 404.
pub async fn serve(Path(name): Path<String>) -> Response {
    for asset in [&STYLESHEET, &SCRIPT] {
        if asset.url().strip_prefix("/assets/") == Some(name.as_str()) {
            let headers = [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ];
            return (headers, asset.body).into_response();
        }
    }
    StatusCode::NOT_FOUND.into_response()
}
