//! The refund receipt as a printable document: one rendering, shown by the portal inside its
//! page and sent alone for the API's `?format=html`.

use askama::Template;
use axum::response::Response;
use yajin_core::eligibility::Lang;

use super::assets::STYLESHEET;
use super::format;
use super::views::ReceiptView;

/// The receipt itself (an `<article>`), in `lang`.
#[derive(Template)]
#[template(path = "receipt.html")]
pub struct Receipt {
    pub r: ReceiptView,
    pub lang: Lang,
}

impl Receipt {
    fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.lang == Lang::En {
            en
        } else {
            zh
        }
    }

    /// The amount in Chinese capitals (大写) belongs to the Chinese receipt only.
    fn chinese(&self) -> bool {
        self.lang == Lang::Zh
    }

    fn yuan(&self, fen: &i64) -> String {
        format::yuan(*fen)
    }

    fn when(&self, rfc3339: &str) -> String {
        format::china_minute(rfc3339, self.lang)
    }

    fn when_opt(&self, rfc3339: &Option<String>) -> String {
        rfc3339.as_deref().map_or_else(|| "—".to_owned(), |t| format::china_minute(t, self.lang))
    }

    /// The article's HTML, escaped as it should be.
    pub fn html(&self) -> String {
        self.render().unwrap_or_else(|e| {
            tracing::error!(error = %e, "receipt failed to render");
            String::new()
        })
    }
}

/// The receipt alone, as a whole printable document.
#[derive(Template)]
#[template(path = "receipt-document.html")]
struct Document<'a> {
    html_lang: &'static str,
    title: &'a str,
    stylesheet: &'static str,
    body: String,
}

pub fn document(r: ReceiptView, lang: Lang) -> Response {
    let title = format!("{} {}", if lang == Lang::En { "Refund receipt" } else { "退款凭证" }, r.refund_no);
    let body = Receipt { r, lang }.html();
    let html_lang = if lang == Lang::En { "en" } else { "zh-CN" };
    super::html::render(&Document { html_lang, title: &title, stylesheet: STYLESHEET.url(), body })
}
