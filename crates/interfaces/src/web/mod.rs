//! The web UI: the merchant portal at `/` (phone-first) and the staff console at `/console`
//! (desktop), server-rendered from askama templates in Chinese or English.
//!
//! A page handler is as thin as an API handler: it parses, makes one use-case call (the same
//! ones the API makes), and renders a typed view — mostly the API's own views, so a page and
//! the API cannot tell a merchant different things. Forms post back with the session's CSRF
//! token and a fresh idempotency key, so a double click or a resent form does its work once.

mod agent_console;
mod charts;
mod console;
mod once;
mod orders;
mod page;
mod portal;
mod visitor;

use axum::extract::{DefaultBodyLimit, Path, Query};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

use crate::http::AppState;
pub use page::PageError;

/// A page's form (with its files: the application's materials) is at most this large.
pub const FORM_LIMIT_BYTES: usize = 25 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(portal::routes())
        .merge(console::routes())
        .merge(agent_console::routes())
        .merge(orders::routes())
        .route("/lang/{code}", get(switch_language))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(FORM_LIMIT_BYTES))
        // Outermost: the size limit's refusal becomes a page too.
        .layer(axum::middleware::from_fn(page_errors))
}

#[derive(serde::Deserialize)]
struct Back {
    back: Option<String>,
}

/// `GET /lang/{zh|en}?back=/path`: remembers the reader's language for a year.
async fn switch_language(Path(code): Path<String>, Query(q): Query<Back>) -> Response {
    let code = if code == "en" { "en" } else { "zh" };
    let mut response = page::see(page::local_path(q.back.as_deref(), "/"));
    let cookie = format!("{}={code}; Path=/; SameSite=Lax; Max-Age=31536000", visitor::LANG_COOKIE);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The framework's own refusals on page routes (not a form, too large, wrong method) as pages
/// in the reader's language, never bare text.
async fn page_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let lang = visitor::page_language(request.headers());
    let area = area_of(request.uri().path());
    let response = next.run(request).await;
    match crate::http::problem::bare_refusal(&response) {
        Some(refusal) => PageError::api(refusal, lang, area).into_response(),
        None => response,
    }
}

/// A refusal made before any page's handler ran (see `router::refuse_nul`), as a page.
pub fn refusal_page(
    error: crate::http::problem::ApiError,
    request_headers: &axum::http::HeaderMap,
    path: &str,
) -> Response {
    PageError::api(error, visitor::page_language(request_headers), area_of(path)).into_response()
}

/// Which part of the site a path belongs to, for the frame of an error page.
fn area_of(path: &str) -> page::Area {
    if path.starts_with("/console") {
        page::Area::Console
    } else {
        page::Area::Portal
    }
}

/// An unknown path, as a page.
pub fn not_found_page(request_headers: &axum::http::HeaderMap) -> Response {
    let lang = visitor::page_language(request_headers);
    PageError::not_found(lang, page::Area::Portal).into_response()
}
