//! Everything Yajin answers over HTTP: the JSON API and the web pages side by side, an answer
//! for an unknown path, and the layers every request passes (headers, metrics, tracing).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::http::{self, problem, AppState};
use crate::web;

pub fn router(state: AppState) -> Router {
    let https = state.site.https;
    Router::new()
        .merge(http::api(state.sandbox))
        .merge(web::routes())
        .route("/assets/{name}", axum::routing::get(http::assets::serve))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), answer_when_durable))
        .layer(axum::middleware::from_fn(refuse_nul))
        .layer(axum::middleware::from_fn(move |request, next| security_headers(https, request, next)))
        .layer(axum::middleware::from_fn(http::track_metrics))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Every answer leaves once what it may show is on disk: on SQLite a write group is seen from
/// its commit and flushed just after (`yajin_store::group_commit`), so a read may have shown
/// one not yet durable. At once when every commit is flushed (always on PostgreSQL). Should
/// the flush have failed, the answer is withheld: the database promises nothing more until a
/// restart (docs/operations.md).
async fn answer_when_durable(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // What a refusal is chosen by (a page or a problem, and its language), kept from the
    // request the handler takes (each value shared, not copied), read only if it is refused.
    let kept = [header::ACCEPT, header::ACCEPT_LANGUAGE, header::COOKIE].map(|name| {
        let value = request.headers().get(&name).cloned();
        (name, value)
    });
    let console = request.uri().path().starts_with("/console");
    let response = next.run(request).await;
    match state.app.seen_durable().await {
        Ok(()) => response,
        Err(e) => {
            let headers: HeaderMap = kept.into_iter().filter_map(|(name, value)| Some((name, value?))).collect();
            refusal(&headers, if console { "/console" } else { "/" }, problem::ApiError::from(e))
        }
    }
}

/// An unknown path: a page for a browser, a problem for anyone else.
async fn not_found(headers: HeaderMap) -> Response {
    if wants_html(&headers) {
        web::not_found_page(&headers)
    } else {
        problem::ApiError::not_found().render(problem::language(&headers))
    }
}

/// No id, key, cursor, filter or form field of Yajin holds a NUL character, and PostgreSQL
/// cannot hold one in text at all: a request with `%00` in its path is not found, one with it
/// in its query or in a form's field is refused naming the field, before a lookup turns it
/// into a database error. (The store refuses any other text holding one: `StoreError::Unstorable`.)
async fn refuse_nul(request: Request, next: Next) -> Response {
    let uri = request.uri();
    if uri.path().contains("%00") {
        return not_found(request.headers().clone()).await;
    }
    if let Some(field) = uri.query().and_then(field_with_nul) {
        let error =
            problem::ApiError::new(StatusCode::BAD_REQUEST, problem::ErrorCode::InvalidQuery).with("field", field);
        return refusal(request.headers(), uri.path(), error);
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/x-www-form-urlencoded"));
    // Only the pages take forms (the API refuses them unread); one announced larger than
    // pages take is left to their limit, which refuses it before reading it.
    let announced = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if !is_form || uri.path().starts_with("/api/") || announced.is_some_and(|n| n > web::FORM_LIMIT_BYTES) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, web::FORM_LIMIT_BYTES).await else {
        let error = problem::ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, problem::ErrorCode::PayloadTooLarge);
        return refusal(&parts.headers, parts.uri.path(), error);
    };
    if let Some(field) = std::str::from_utf8(&bytes).ok().and_then(field_with_nul) {
        // What `printable` says of any typed text holding NUL.
        if let Some(invalid) = yajin_core::validation::printable(&field, "\0", yajin_core::validation::Lines::Many) {
            let error =
                problem::ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, problem::ErrorCode::InvalidBody, invalid);
            return refusal(&parts.headers, parts.uri.path(), error);
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The name of the first `name=value` pair of a URL-encoded text that holds `%00`.
fn field_with_nul(encoded: &str) -> Option<String> {
    let pair = encoded.split('&').find(|pair| pair.contains("%00"))?;
    Some(pair.split('=').next().unwrap_or_default().replace("%00", "").to_owned())
}

/// A refusal as a page for a browser, a problem for anyone else.
fn refusal(headers: &HeaderMap, path: &str, error: problem::ApiError) -> Response {
    if wants_html(headers) {
        web::refusal_page(error, headers, path)
    } else {
        error.render(problem::language(headers))
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

/// The headers every response carries: no framing, no inline script or style, no sniffing,
/// no referrer to other sites, and HSTS when Yajin is reached over https.
async fn security_headers(https: bool, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in fixed {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}
