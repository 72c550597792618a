//! Who is looking at a page: the session cookie (the same sessions as the API), the CSRF
//! token of the session's forms, and the reader's language.
//!
//! A login from a page sets two HttpOnly cookies: the session token, and the session's CSRF
//! token, which pages put into their forms (`_csrf`). A form is accepted only if its token
//! hashes to the session's CSRF hash, so a form posted from another site (which can neither
//! read the cookie nor the page) is refused, whatever the browser's SameSite support.

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use serde::de::DeserializeOwned;
use yajin_app::auth;
use yajin_core::application::Role;
use yajin_core::eligibility::Lang;
use yajin_core::permission::{allows, Permission};

use super::page::{see, url_encode, Area, Chrome, NavLink, PageError};
use crate::http::problem::language;
use crate::http::session::{MerchantSession, StaffSession, SESSION_COOKIE};
use crate::http::AppState;

pub const CSRF_COOKIE: &str = "yajin_csrf";
pub const LANG_COOKIE: &str = "yajin_lang";

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The reader's language: their choice on the site, else their browser's.
pub fn page_language(headers: &HeaderMap) -> Lang {
    match cookie(headers, LANG_COOKIE) {
        Some("en") => Lang::En,
        Some("zh") => Lang::Zh,
        _ => language(headers),
    }
}

fn path_of(parts: &Parts) -> String {
    parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned())
}

/// The session behind the cookies, when its CSRF cookie belongs to it.
async fn session(parts: &Parts, state: &AppState) -> Option<(yajin_app::model::Session, String)> {
    let token = cookie(&parts.headers, SESSION_COOKIE)?;
    let csrf = cookie(&parts.headers, CSRF_COOKIE)?;
    let session = auth::session(&state.app, token).await.ok()??;
    constant_time_eq(auth::token_hash(csrf).as_bytes(), session.csrf_hash.as_bytes())
        .then(|| (session, csrf.to_owned()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Anyone: the language and the path, and the session if there is one.
pub struct Visitor {
    pub chrome: Chrome,
    pub session: Option<yajin_app::model::Session>,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let area = if parts.uri.path().starts_with("/console") { Area::Console } else { Area::Portal };
        let mut chrome = Chrome::new(page_language(&parts.headers), path_of(parts), area);
        let session = session(parts, state).await.map(|(session, csrf)| {
            chrome.csrf = csrf;
            session
        });
        Ok(Visitor { chrome, session })
    }
}

/// A logged-in merchant looking at the portal; anyone else is sent to the login page.
pub struct Merchant {
    pub session: MerchantSession,
    pub chrome: Chrome,
    csrf_hash: String,
}

impl FromRequestParts<AppState> for Merchant {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Visitor { mut chrome, session } = Visitor::from_request_parts(parts, state).await?;
        let Some(session) = session.filter(|s| s.principal_kind == "merchant") else {
            return Err(PageError::Redirect(format!("/?next={}", url_encode(&chrome.path))));
        };
        chrome.nav = portal_nav(parts.uri.path(), chrome.lang);
        chrome.user = Some(session.principal_id.clone());
        Ok(Merchant {
            csrf_hash: session.csrf_hash.clone(),
            session: MerchantSession { merchant_id: session.principal_id, token_hash: session.token_hash },
            chrome,
        })
    }
}

fn portal_nav(path: &str, lang: Lang) -> Vec<NavLink> {
    let links: [(&'static str, &'static str, &'static str); 7] = [
        ("/devices", "我的设备", "My devices"),
        ("/applications", "退押金申请", "Refunds"),
        ("/outstanding", "待结清", "Owed"),
        ("/tickets", "客服", "Support"),
        ("/notifications", "消息", "Messages"),
        ("/orders", "申请机具", "Order a terminal"),
        ("/plans", "方案与费率", "Plans"),
    ];
    nav(path, lang, &links)
}

fn nav(path: &str, lang: Lang, links: &[(&'static str, &'static str, &'static str)]) -> Vec<NavLink> {
    links
        .iter()
        .map(|(href, zh, en)| NavLink {
            href,
            label: if lang == Lang::En { en } else { zh },
            current: path.starts_with(href),
        })
        .collect()
}

/// A logged-in staff member in the console; anyone else is sent to its login page.
pub struct Staff {
    pub session: StaffSession,
    pub chrome: Chrome,
    csrf_hash: String,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Visitor { mut chrome, session } = Visitor::from_request_parts(parts, state).await?;
        let staff = session.and_then(|s| {
            let role = Role::parse(&s.role).filter(|r| r.is_staff() && s.principal_kind == "staff")?;
            Some((s, role))
        });
        let Some((session, role)) = staff else {
            return Err(PageError::Redirect(format!("/console?next={}", url_encode(&chrome.path))));
        };
        chrome.user = Some(format!("{} · {}", session.principal_id, role.as_str()));
        chrome.nav = console_nav(parts.uri.path(), chrome.lang, role);
        Ok(Staff {
            csrf_hash: session.csrf_hash.clone(),
            session: StaffSession { staff_id: session.principal_id, role, token_hash: session.token_hash },
            chrome,
        })
    }
}

impl Staff {
    pub fn may(&self, permission: Permission) -> bool {
        allows(self.session.role, permission)
    }

    /// A 403 page unless the role holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), PageError> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(PageError::forbidden(self.chrome.lang, Area::Console))
        }
    }
}

/// The console's sections, each shown only to the roles that may open it.
fn console_nav(path: &str, lang: Lang, role: Role) -> Vec<NavLink> {
    let sections: [(&'static str, &'static str, &'static str, Permission); 9] = [
        ("/console/dashboard", "概览", "Dashboard", Permission::ReadReports),
        ("/console/queue", "审核队列", "Review queue", Permission::ReviewRead),
        ("/console/orders", "机具申请", "Terminal orders", Permission::ReviewRead),
        ("/console/payouts", "打款", "Payouts", Permission::Payouts),
        ("/console/reconciliations", "对账", "Reconciliation", Permission::Payouts),
        ("/console/plans", "押金方案", "Deposit plans", Permission::ManagePlans),
        ("/console/support", "客服工单", "Support inbox", Permission::SupportInbox),
        ("/console/audit", "审计日志", "Audit log", Permission::ReadAudit),
        ("/console/agent", "我的商户", "My merchants", Permission::AgentRead),
    ];
    let allowed: Vec<(&'static str, &'static str, &'static str)> =
        sections.iter().filter(|s| allows(role, s.3)).map(|s| (s.0, s.1, s.2)).collect();
    nav(path, lang, &allowed)
}

/// Both kinds of logged-in page visitor answer for their forms' CSRF tokens.
pub trait FormOwner: FromRequestParts<AppState, Rejection = PageError> {
    /// The page's frame, the session's CSRF hash and its token hash.
    fn page(&self) -> (&Chrome, &str, &str);

    fn token_hash(&self) -> &str {
        self.page().2
    }

    fn lang(&self) -> Lang {
        self.page().0.lang
    }

    fn area(&self) -> Area {
        self.page().0.area
    }

    /// The form's token must be the session's.
    fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        let csrf_hash = self.page().1;
        if !sent.is_empty() && constant_time_eq(auth::token_hash(sent).as_bytes(), csrf_hash.as_bytes()) {
            Ok(())
        } else {
            Err(PageError::stale_form(self.lang(), self.area()))
        }
    }
}

impl FormOwner for Merchant {
    fn page(&self) -> (&Chrome, &str, &str) {
        (&self.chrome, &self.csrf_hash, &self.session.token_hash)
    }
}

impl FormOwner for Staff {
    fn page(&self) -> (&Chrome, &str, &str) {
        (&self.chrome, &self.csrf_hash, &self.session.token_hash)
    }
}

/// A form posted by a logged-in visitor `W`, its CSRF token checked, its fields as `T`
/// (missing fields take their defaults; a page's own form cannot be malformed, and a forged
/// one gets the field errors of the use case).
pub struct Posted<W, T> {
    pub who: W,
    pub form: T,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

impl<W: FormOwner + Send, T: DeserializeOwned + Default + Send> FromRequest<AppState> for Posted<W, T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let who = W::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, crate::http::BODY_LIMIT_BYTES)
            .await
            .map_err(|_| PageError::stale_form(who.lang(), who.area()))?;
        let token: CsrfField = serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField { csrf: String::new() });
        who.check_csrf(&token.csrf)?;
        let form = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        Ok(Posted { who, form })
    }
}

/// After a login from a page: on to `to`, with the session's two HttpOnly cookies (the session
/// and its CSRF token), `Secure` when the site is https.
pub fn signed_in(to: &str, session: &auth::NewSession, https: bool) -> Response {
    let mut response = see(to);
    let max_age = if session.role.is_staff() { auth::STAFF_SESSION_TTL_MS } else { auth::SESSION_TTL_MS } / 1000;
    for (name, value) in [(SESSION_COOKIE, session.token.as_str()), (CSRF_COOKIE, session.csrf_token.as_str())] {
        set_cookie(&mut response, name, value, max_age, https);
    }
    response
}

/// `POST /logout` and `/console/logout`: the session ends and its cookies are cleared.
pub async fn log_out<W: FormOwner + Send>(
    State(state): State<AppState>,
    posted: Posted<W, ()>,
) -> Result<Response, PageError> {
    let who = posted.who;
    auth::logout(&state.app, who.token_hash()).await.map_err(|e| PageError::api(e.into(), who.lang(), who.area()))?;
    let mut response = see(if who.area() == Area::Console { "/console" } else { "/" });
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        set_cookie(&mut response, name, "", 0, state.site.https);
    }
    Ok(response)
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age_s: i64, https: bool) {
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
