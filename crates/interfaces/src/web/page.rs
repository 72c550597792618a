//! What every page shares: the language, the CSRF token of its forms, the navigation, and the
//! formatting of money and time. Templates get it as `chrome` and call its methods.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use yajin_core::eligibility::Lang;
use yajin_core::validation::FieldError;

use crate::http::assets::{SCRIPT, STYLESHEET};
use crate::http::format;
use crate::http::problem::{ApiError, ErrorCode};
use crate::http::views::{PlanView, ReasonView};
use yajin_core::notice;

/// Which site a page belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    Portal,
    Console,
}

/// A link of the navigation bar.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The frame of a page.
pub struct Chrome {
    pub lang: Lang,
    /// The CSRF token its forms send back (`_csrf`); empty when nobody is logged in.
    pub csrf: String,
    /// Path and query of the page, where a language switch returns to.
    pub path: String,
    /// Who is logged in, as the header shows it.
    pub user: Option<String>,
    pub area: Area,
    pub nav: Vec<NavLink>,
    /// A one-line confirmation of what the previous form did (`?notice=…`).
    pub notice: Option<&'static str>,
}

impl Chrome {
    pub fn new(lang: Lang, path: String, area: Area) -> Chrome {
        Chrome { lang, csrf: String::new(), path, user: None, area, nav: Vec::new(), notice: None }
    }

    /// The text in the page's language.
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        match self.lang {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    pub fn html_lang(&self) -> &'static str {
        match self.lang {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn in_console(&self) -> bool {
        self.area == Area::Console
    }

    pub fn is_en(&self) -> bool {
        self.lang == Lang::En
    }

    pub fn css(&self) -> &'static str {
        STYLESHEET.url()
    }

    pub fn js(&self) -> &'static str {
        SCRIPT.url()
    }

    /// The path to switch this page to the other language.
    pub fn switch_href(&self) -> String {
        let to = if self.lang == Lang::En { "zh" } else { "en" };
        format!("/lang/{to}?back={}", url_encode(&self.path))
    }

    /// Money: `¥1,234.56`.
    pub fn yuan(&self, fen: &i64) -> String {
        format::yuan(*fen)
    }

    /// A moment as China time, to the minute: `2026-11-25 17:10`.
    pub fn when(&self, rfc3339: &str) -> String {
        format::china_minute(rfc3339, self.lang)
    }

    pub fn when_opt(&self, rfc3339: &Option<String>) -> String {
        rfc3339.as_deref().map_or_else(|| "—".to_owned(), |t| format::china_minute(t, self.lang))
    }

    /// A China calendar day: `2026-11-25`.
    pub fn day(&self, rfc3339: &str) -> String {
        format::china_day(rfc3339)
    }

    /// A duration in seconds, in days, hours or minutes.
    pub fn duration(&self, seconds: &i64) -> String {
        let s = (*seconds).max(0);
        let (value, zh, en) = if s >= 86_400 {
            (s / 86_400, "天", "d")
        } else if s >= 3_600 {
            (s / 3_600, "小时", "h")
        } else {
            ((s / 60).max(if s > 0 { 1 } else { 0 }), "分钟", "min")
        };
        format!("{value} {}", self.t(zh, en))
    }

    /// A refund application's status as a merchant or staff member reads it.
    pub fn status(&self, status: &str) -> &'static str {
        let (zh, en) = match status {
            "submitted" => ("已提交，待审核", "Submitted"),
            "in_review" => ("审核中", "In review"),
            "info_requested" => ("待补充材料", "Information requested"),
            "awaiting_second_approval" => ("待复核", "Awaiting second approval"),
            "approved" => ("已批准，待打款", "Approved"),
            "paying" => ("打款中", "Paying"),
            "payout_failed" => ("打款失败", "Payout failed"),
            "refunded" => ("已退款", "Refunded"),
            "rejected" => ("已驳回", "Rejected"),
            "cancelled" => ("已撤销", "Cancelled"),
            "processing" => ("处理中", "Processing"),
            "succeeded" => ("成功", "Succeeded"),
            "failed" => ("失败", "Failed"),
            "pending" => ("待处理", "Pending"),
            "open" => ("待处理", "Open"),
            "answered" => ("已答复", "Answered"),
            "closed" => ("已关闭", "Closed"),
            "settled" => ("已结清", "Settled"),
            "settling" => ("结清中", "Settling"),
            "deducted" => ("已抵扣", "Deducted"),
            "active" => ("使用中", "Active"),
            "terminated" => ("已解约", "Terminated"),
            "inactive" => ("未激活", "Not activated"),
            "held" => ("押金在押", "Deposit held"),
            "refund_in_progress" => ("退款处理中", "Refund in progress"),
            "none" => ("未收押金", "No deposit"),
            "draft" => ("草稿", "Draft"),
            "published" => ("已发布", "Published"),
            "withdrawn" => ("已撤回", "Withdrawn"),
            _ => ("", ""),
        };
        match (zh.is_empty(), self.lang) {
            (true, _) => "—",
            (false, Lang::Zh) => zh,
            (false, Lang::En) => en,
        }
    }

    /// A terminal order's state.
    pub fn order_status(&self, status: &str) -> &'static str {
        let (zh, en) = match status {
            "submitted" => ("已提交，待审核", "Submitted"),
            "approved" => ("已通过，待付押金", "Approved: pay the deposit"),
            "paying" => ("押金支付中", "Paying the deposit"),
            "deposit_paid" => ("押金已付，待发货", "Deposit paid: shipping soon"),
            "shipped" => ("已发货", "Shipped"),
            "delivered" => ("已签收，待激活", "Delivered: not yet active"),
            "activated" => ("已激活", "Active"),
            "returned" => ("已退回，待验收退押金", "Returned: deposit back once received"),
            "rejected" => ("未通过", "Not approved"),
            "cancelled" => ("已撤销", "Cancelled"),
            _ => return "—",
        };
        self.t(zh, en)
    }

    /// How a deposit is paid.
    pub fn route(&self, route: &str) -> &'static str {
        let (zh, en) = match route {
            "card" => ("银行卡", "bank card"),
            "wechat" => ("微信支付", "WeChat Pay"),
            "alipay" => ("支付宝", "Alipay"),
            _ => return "—",
        };
        self.t(zh, en)
    }

    /// A payout attempt's state.
    pub fn payout_status(&self, status: &str) -> &'static str {
        let (zh, en) = match status {
            "pending" => ("待发送", "Not yet sent"),
            "sent" => ("已发送，银行处理中", "At the bank"),
            "unknown" => ("结果未知，查询中", "Outcome unknown: asking the bank"),
            "succeeded" => ("已到账", "Paid"),
            "failed" => ("失败", "Failed"),
            _ => return "—",
        };
        self.t(zh, en)
    }

    /// A kind of card transaction.
    pub fn txn_kind(&self, kind: &str) -> &'static str {
        let (zh, en) = match kind {
            "credit_card" => ("信用卡", "Credit card"),
            "debit_card" => ("借记卡", "Debit card"),
            "qr_code" => ("扫码", "QR code"),
            "nfc" => ("闪付 NFC", "NFC"),
            _ => return "—",
        };
        self.t(zh, en)
    }

    /// Who took a step, by role.
    /// The first characters of a long identifier (a hash).
    pub fn short<'a>(&self, text: &'a str) -> &'a str {
        text.get(..12).unwrap_or(text)
    }

    /// Basis points as a percentage: 60 → `0.60%`.
    pub fn percent(&self, basis_points: &u32) -> String {
        format!("{}.{:02}%", basis_points / 100, basis_points % 100)
    }

    /// A kind of card transaction, as people call it.
    pub fn card_kind(&self, code: &str) -> String {
        notice::card_kind_name(code).get(self.lang).to_owned()
    }

    /// Why a merchant applies, what a file is, or what is owed.
    pub fn label(&self, code: &str) -> String {
        notice::code_name(code).get(self.lang).to_owned()
    }
}

impl Chrome {
    /// A plan's refund rule in one sentence.
    pub fn plan_terms(&self, plan: &PlanView) -> String {
        plan.rule.words(self.lang)
    }

    /// A plan's handling fee in a few words.
    pub fn fee_terms(&self, plan: &PlanView) -> String {
        plan.fee.words(self.lang)
    }

    /// Whether what is owed may be taken from the deposit instead (it is less than the refund).
    pub fn can_deduct(&self, reason: &ReasonView) -> bool {
        reason.code == "outstanding_balance"
            && reason.figures.get("exceeds_refund").and_then(|v| v.as_bool()) == Some(false)
    }

    /// What the merchant can do about a reason a refund cannot happen now: a link and its words.
    pub fn next_step(&self, reason: &ReasonView) -> Option<(String, &'static str)> {
        let (href, zh, en) = match reason.code.as_str() {
            "outstanding_balance" => ("/outstanding".to_owned(), "去结清", "Settle what is owed"),
            "application_already_open" => {
                let id = reason.figures.get("application_id").and_then(|v| v.as_str()).unwrap_or_default();
                (format!("/applications/{id}"), "查看申请进度", "Follow the application")
            }
            "refund_window_expired" | "risk_frozen" => ("/tickets".to_owned(), "联系客服", "Contact support"),
            _ => return None,
        };
        Some((href, self.t(zh, en)))
    }
}

/// Percent-encodes a query value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path on this site to go back to after a login or a language switch: only local paths,
/// so that a crafted link cannot send a user elsewhere.
pub fn local_path(candidate: Option<&str>, fallback: &str) -> String {
    match candidate {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.contains("://") => {
            p.to_owned()
        }
        _ => fallback.to_owned(),
    }
}

/// Field problems of a form, by field, in the page's language.
#[derive(Default)]
pub struct FormErrors {
    pub fields: Vec<(String, String)>,
    /// A problem with the form as a whole.
    pub summary: Option<String>,
}

impl FormErrors {
    pub fn from_api(error: &ApiError, lang: Lang) -> FormErrors {
        let fields: Vec<(String, String)> =
            error.errors.iter().map(|e| (e.field.clone(), e.message.get(lang).to_owned())).collect();
        let explained = Explained::of(error, lang);
        let summary = Some(match explained.detail {
            Some(detail) => format!("{}{}{detail}", explained.title, if lang == Lang::En { ": " } else { "：" }),
            None => explained.title.to_owned(),
        });
        FormErrors { fields, summary }
    }

    /// A use case's refusal as a form shows it, with the status the page answers.
    pub fn refusal(e: impl Into<ApiError>, lang: Lang) -> (StatusCode, FormErrors) {
        let error = e.into();
        (error.status, FormErrors::from_api(&error, lang))
    }

    pub fn field(errors: &[FieldError], lang: Lang) -> FormErrors {
        FormErrors {
            fields: errors.iter().map(|e| (e.field.clone(), e.message.get(lang).to_owned())).collect(),
            summary: None,
        }
    }

    /// The message for `field` (or a field of it: `attachment_ids[2]` under `attachment_ids`).
    pub fn of(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == field || f.strip_prefix(field).is_some_and(|rest| rest.starts_with('[')))
            .map(|(_, m)| m.as_str())
    }
}

/// An error's title and detail in a language.
pub struct Explained {
    pub title: &'static str,
    pub detail: Option<String>,
}

impl Explained {
    pub fn of(error: &ApiError, lang: Lang) -> Explained {
        let detail = error.detail.as_deref().map(|(zh, en)| if lang == Lang::En { en.clone() } else { zh.clone() });
        Explained { title: error.code.title(lang), detail }
    }
}

/// Why a page could not be shown, or where to go instead.
pub enum PageError {
    /// Not logged in (or the session ended): to the login page.
    Redirect(String),
    Failed {
        status: StatusCode,
        lang: Lang,
        title: String,
        detail: Option<String>,
        area: Area,
    },
}

impl PageError {
    pub fn api(error: ApiError, lang: Lang, area: Area) -> PageError {
        if error.status.is_server_error() {
            tracing::error!(code = error.code.as_str(), cause = error.cause.as_deref().unwrap_or(""), "page failed");
        }
        let explained = Explained::of(&error, lang);
        PageError::Failed {
            status: error.status,
            lang,
            title: explained.title.to_owned(),
            detail: explained.detail,
            area,
        }
    }

    pub fn not_found(lang: Lang, area: Area) -> PageError {
        PageError::api(ApiError::not_found(), lang, area)
    }

    pub fn forbidden(lang: Lang, area: Area) -> PageError {
        PageError::api(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden), lang, area)
    }

    /// A multipart form that could not be read: too large, or cut off.
    pub fn unreadable_form(e: &axum::extract::multipart::MultipartError, lang: Lang, area: Area) -> PageError {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let error = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge).detail(
                "表单连同文件至多 25 MiB，每个文件至多 10 MiB。",
                "A form with its files is at most 25 MiB, each file 10 MiB.",
            );
            PageError::api(error, lang, area)
        } else {
            PageError::api(ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest), lang, area)
        }
    }

    /// A form from a page that is no longer valid (its CSRF token does not match the session).
    pub fn stale_form(lang: Lang, area: Area) -> PageError {
        let detail = match lang {
            Lang::Zh => "页面已过期或不是从本站提交的。请返回、刷新页面后再试。",
            Lang::En => "The page has expired or the form did not come from this site. Go back, reload and try again.",
        };
        PageError::Failed {
            status: StatusCode::FORBIDDEN,
            lang,
            title: ErrorCode::CsrfFailed.title(lang).to_owned(),
            detail: Some(detail.to_owned()),
            area,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    title: &'a str,
    detail: Option<&'a str>,
    home: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Redirect(to) => Redirect::to(&to).into_response(),
            PageError::Failed { status, lang, title, detail, area } => {
                let home = if area == Area::Console { "/console" } else { "/" };
                let page = ErrorPage {
                    chrome: Chrome::new(lang, home.to_owned(), area),
                    status: status.as_u16(),
                    title: &title,
                    detail: detail.as_deref(),
                    home,
                };
                let mut response = render(&page);
                *response.status_mut() = status;
                response
            }
        }
    }
}

pub use crate::http::html::render;

/// The page of a list a link asks for (`?cursor=`); pages hold the default number of rows.
pub fn page_request(cursor: Option<&str>, lang: Lang, area: Area) -> Result<yajin_app::paging::PageRequest, PageError> {
    yajin_app::paging::PageRequest::parse(None, cursor).map_err(|e| PageError::api(e.into(), lang, area))
}

/// After a form: see the result (303, so a reload does not post again).
pub fn see(to: impl AsRef<str>) -> Response {
    Redirect::to(to.as_ref()).into_response()
}
