//! The merchant portal (商户端), phone-first: log in, 我的设备, 退押金, follow the application,
//! print the receipt, settle what is owed, talk to customer service.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use yajin_app::applications::{self, ApplicationDetail, ApplyInput, Upload};
use yajin_app::auth::{self, AuthError};
use yajin_app::{collections, devices, inbox, tickets};
use yajin_core::eligibility::Lang;

use super::once::{new_key, Once};
use super::page::{local_path, page_request, render, see, Area, Chrome, FormErrors, PageError};
use super::visitor::{log_out, signed_in, FormOwner, Merchant, Posted, Visitor};
use crate::http::applications::apply_error;
use crate::http::plans::{FeeQuoteView, PublishedPlanView};
use crate::http::problem::ApiError;
use crate::http::views::{
    AnnouncementView, ApplicationView, NotificationView, OutstandingItemView, PreviewView, ReceiptView, TerminalView,
    TicketView,
};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(start))
        .route("/login", post(login))
        .route("/logout", post(log_out::<Merchant>))
        .route("/forgot", get(forgot).post(send_reset_code))
        .route("/reset", post(reset_password))
        .route("/devices", get(my_devices))
        .route("/apply/{sn}", get(apply_form).post(apply))
        .route("/apply/{sn}/unlock-code", post(send_unlock_code))
        .route("/apply/{sn}/unlock", post(unlock))
        .route("/applications", get(my_applications))
        .route("/applications/{id}", get(application))
        .route("/applications/{id}/cancel", post(cancel))
        .route("/applications/{id}/supplement", post(supplement))
        .route("/applications/{id}/receipt", get(receipt))
        .route("/applications/{id}/card-code", post(send_card_code))
        .route("/applications/{id}/payout-card", post(change_card))
        .route("/outstanding", get(outstanding))
        .route("/outstanding/{id}/settle", post(settle))
        .route("/tickets", get(my_tickets).post(open_ticket))
        .route("/tickets/{id}", get(ticket))
        .route("/tickets/{id}/reply", post(reply_ticket))
        .route("/notifications", get(notifications))
        .route("/announcements", get(announcements))
        .route("/plans", get(plans))
}

fn failed(e: impl Into<ApiError>, lang: Lang) -> PageError {
    PageError::api(e.into(), lang, Area::Portal)
}

/// `?notice=code` after a form: the confirmation, in the reader's language.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Notice {
    notice: Option<String>,
    cursor: Option<String>,
}

fn notice(chrome: &mut Chrome, code: Option<&str>) {
    let (zh, en) = match code {
        Some("submitted") => {
            ("申请已提交。您可以在下方随时查看进度。", "Application submitted. Follow its progress below.")
        }
        Some("cancelled") => ("申请已撤销。", "Application cancelled."),
        Some("unlocked") => {
            ("身份核验已解锁，请核对后重新填写。", "Identity checks unlocked: check the numbers and try again.")
        }
        Some("card_changed") => {
            ("已换卡，退款将重新打到新卡。", "Card changed: the refund is paid again, to the new card.")
        }
        Some("supplemented") => {
            ("补充材料已提交，申请回到审核队列。", "Materials sent; the application is back in review.")
        }
        Some("settling") => {
            ("已发起扣款，银行确认后款项即结清。", "Collection started: the item is settled once the bank confirms.")
        }
        Some("ticket_opened") => {
            ("工单已创建，客服会在承诺时间内答复。", "Ticket opened: we answer by the time shown.")
        }
        Some("replied") => ("已发送。", "Sent."),
        Some("password_reset") => ("密码已重置，请用新密码登录。", "Password reset: log in with the new one."),
        Some("volume") => {
            ("演示：已为该终端增加 5,000 元刷卡交易。", "Demo: ¥5,000.00 of card transactions added to the terminal.")
        }
        _ => return,
    };
    chrome.notice = Some(chrome.t(zh, en));
}

// ---- start, login, logout, password reset ----

#[derive(Template)]
#[template(path = "portal/start.html")]
struct StartPage {
    chrome: Chrome,
    demo: bool,
    next: String,
    phone: String,
    /// The account is under attack: the form asks for the SMS code just sent as well.
    step_up: bool,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StartQuery {
    next: Option<String>,
    notice: Option<String>,
}

async fn start(State(state): State<AppState>, visitor: Visitor, Query(q): Query<StartQuery>) -> Response {
    if visitor.session.as_ref().is_some_and(|s| s.principal_kind == "merchant") {
        return see(local_path(q.next.as_deref(), "/devices"));
    }
    let mut chrome = visitor.chrome;
    notice(&mut chrome, q.notice.as_deref());
    let next = local_path(q.next.as_deref(), "/devices");
    render(&StartPage {
        chrome,
        demo: state.site.demo,
        next,
        phone: String::new(),
        step_up: false,
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    phone: String,
    password: String,
    sms_code: String,
    next: String,
}

async fn login(
    State(state): State<AppState>,
    visitor: Visitor,
    ip: crate::http::session::ClientIp,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let next = local_path(Some(&form.next), "/devices");
    let code = Some(form.sms_code.trim()).filter(|c| !c.is_empty());
    match auth::login(&state.app, auth::Kind::Merchant, &form.phone, form.password, code, &ip.0).await {
        Ok(session) => signed_in(&next, &session, state.site.https),
        Err(e) => {
            let step_up = matches!(e, AuthError::StepUpRequired { .. }) || code.is_some();
            let (status, errors) = FormErrors::refusal(e, visitor.chrome.lang);
            let page =
                StartPage { chrome: visitor.chrome, demo: state.site.demo, next, phone: form.phone, step_up, errors };
            (status, render(&page)).into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "portal/forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    demo: bool,
    phone: String,
    /// The code was sent: the second step (code and new password) is shown.
    sent: bool,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PhoneForm {
    phone: String,
}

async fn forgot(State(state): State<AppState>, visitor: Visitor) -> Response {
    let page = ForgotPage {
        chrome: visitor.chrome,
        demo: state.site.demo,
        phone: String::new(),
        sent: false,
        errors: FormErrors::default(),
    };
    render(&page)
}

async fn send_reset_code(
    State(state): State<AppState>,
    visitor: Visitor,
    ip: crate::http::session::ClientIp,
    axum::Form(form): axum::Form<PhoneForm>,
) -> Response {
    let lang = visitor.chrome.lang;
    let (status, sent, errors) = match auth::request_reset_code(&state.app, &form.phone, &ip.0).await {
        Ok(_) => (StatusCode::OK, true, FormErrors::default()),
        Err(e) => {
            let (status, errors) = FormErrors::refusal(e, lang);
            (status, false, errors)
        }
    };
    let page = ForgotPage { chrome: visitor.chrome, demo: state.site.demo, phone: form.phone, sent, errors };
    (status, render(&page)).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetForm {
    phone: String,
    code: String,
    new_password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    visitor: Visitor,
    ip: crate::http::session::ClientIp,
    axum::Form(form): axum::Form<ResetForm>,
) -> Response {
    match auth::reset_password(&state.app, &form.phone, &form.code, form.new_password, &ip.0).await {
        Ok(()) => see("/?notice=password_reset"),
        Err(e) => {
            let (status, mut errors) = FormErrors::refusal(e, visitor.chrome.lang);
            // A wrong or expired code is a problem with the code field.
            if errors.fields.is_empty() {
                if let Some(summary) = errors.summary.take() {
                    errors.fields.push(("code".to_owned(), summary));
                }
            }
            let page =
                ForgotPage { chrome: visitor.chrome, demo: state.site.demo, phone: form.phone, sent: true, errors };
            (status, render(&page)).into_response()
        }
    }
}

// ---- 我的设备 ----

#[derive(Template)]
#[template(path = "portal/devices.html")]
struct DevicesPage {
    chrome: Chrome,
    terminals: Vec<TerminalView>,
    next_cursor: Option<String>,
    /// A demo install: each terminal offers a button that adds card volume.
    demo: bool,
}

async fn my_devices(
    State(state): State<AppState>,
    who: Merchant,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    notice(&mut chrome, q.notice.as_deref());
    let page = page_request(q.cursor.as_deref(), lang, Area::Portal)?;
    let (list, now) =
        devices::list_terminals(&state.app, &who.session.merchant_id, &page).await.map_err(|e| failed(e, lang))?;
    let terminals = list.items.iter().map(|t| TerminalView::new(t, lang, now)).collect();
    Ok(render(&DevicesPage { chrome, terminals, next_cursor: list.next_cursor, demo: state.site.demo }))
}

// ---- 退押金 ----

/// The application form's fields, as typed (kept when the form comes back with errors).
#[derive(Deserialize, Serialize, Default, Clone)]
#[serde(default)]
struct ApplyFields {
    phone: String,
    id_card_no: String,
    bank_card_no: String,
    reason: String,
    note: String,
    deduct_outstanding: bool,
    /// Files stored at an earlier step.
    attachment_ids: Vec<String>,
}

impl ApplyFields {
    fn input(&self, sn: &str) -> ApplyInput {
        ApplyInput {
            terminal_sn: sn.to_owned(),
            phone: self.phone.clone(),
            id_card_no: self.id_card_no.clone(),
            bank_card_no: self.bank_card_no.clone(),
            reason: self.reason.clone(),
            note: self.note.clone(),
            attachment_ids: self.attachment_ids.clone(),
            deduct_outstanding: self.deduct_outstanding,
        }
    }
}

#[derive(Template)]
#[template(path = "portal/apply.html")]
struct ApplyPage {
    chrome: Chrome,
    terminal: TerminalView,
    bank_card_hint: String,
    bank_name: String,
    id_card_hint: String,
    fields: ApplyFields,
    reasons: [&'static str; 5],
    errors: FormErrors,
    /// Checked and ready: the confirmation step, with the figures of the preview.
    preview: Option<PreviewView>,
    key: String,
    /// Identity checks are locked: the unlock form instead of the application form.
    locked: bool,
    /// The unlock code was sent: the form to enter it.
    unlock_sent: bool,
    own_phone: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ApplyQuery {
    deduct: Option<bool>,
    unlock: Option<String>,
    notice: Option<String>,
}

async fn apply_form(
    State(state): State<AppState>,
    who: Merchant,
    Path(sn): Path<String>,
    Query(q): Query<ApplyQuery>,
) -> Result<Response, PageError> {
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    notice(&mut chrome, q.notice.as_deref());
    let deduct = q.deduct.unwrap_or(false);
    let form =
        devices::apply_form(&state.app, &who.session.merchant_id, &sn, deduct).await.map_err(|e| failed(e, lang))?;
    let terminal = TerminalView::new(&form.assessed, lang, form.now);
    if let Some(open) = &terminal.open_application_id {
        return Ok(see(format!("/applications/{open}")));
    }
    let reason = if form.assessed.assessment.volume.is_some() { "target_reached" } else { "stop_using" };
    let fields = ApplyFields {
        phone: form.merchant.phone.clone(),
        reason: reason.to_owned(),
        deduct_outstanding: deduct,
        ..ApplyFields::default()
    };
    let mut errors = FormErrors::default();
    match q.unlock.as_deref() {
        Some("wrong") => errors
            .fields
            .push(("sms_code".to_owned(), chrome.t("验证码错误或已失效", "Wrong or spent code").to_owned())),
        Some("exhausted") => errors.fields.push((
            "sms_code".to_owned(),
            chrome.t("验证码已失效，请重新获取", "This code was tried too often; ask for a new one").to_owned(),
        )),
        _ => {}
    }
    Ok(render(&ApplyPage {
        chrome,
        terminal,
        bank_card_hint: form.merchant.bank_card_masked,
        bank_name: form.merchant.bank_name,
        id_card_hint: form.merchant.id_card_masked,
        own_phone: form.merchant.phone,
        fields,
        reasons: applications::REASONS,
        errors,
        preview: None,
        key: new_key(),
        locked: form.identity_locked,
        unlock_sent: q.unlock.is_some(),
    }))
}

/// The form as posted: its fields, the files, the step, the CSRF token and the key.
#[derive(Default)]
struct ApplyPost {
    fields: ApplyFields,
    uploads: Vec<Upload>,
    csrf: String,
    key: String,
    step: Step,
}

/// Which button sent the application form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Step {
    /// Check it and show the figures to confirm.
    #[default]
    Check,
    Confirm,
    /// Back from the confirmation to change something.
    Edit,
}

async fn read_apply_form(mut form: Multipart) -> Result<ApplyPost, axum::extract::multipart::MultipartError> {
    let mut post = ApplyPost::default();
    let mut kinds = Vec::new();
    while let Some(field) = form.next_field().await? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "files" {
            let file_name = field.file_name().unwrap_or("").to_owned();
            let content = field.bytes().await?;
            if !file_name.is_empty() || !content.is_empty() {
                post.uploads.push(Upload { kind: String::new(), content: content.to_vec() });
            }
            continue;
        }
        let text = field.text().await?;
        let f = &mut post.fields;
        match name.as_str() {
            "_csrf" => post.csrf = text,
            "_key" => post.key = text,
            "step" => {
                post.step = match text.as_str() {
                    "confirm" => Step::Confirm,
                    "edit" => Step::Edit,
                    _ => Step::Check,
                }
            }
            "phone" => f.phone = text,
            "id_card_no" => f.id_card_no = text,
            "bank_card_no" => f.bank_card_no = text,
            "reason" => f.reason = text,
            "note" => f.note = text,
            "deduct_outstanding" => f.deduct_outstanding = text == "true",
            "attachment_ids" if !text.is_empty() => f.attachment_ids.push(text),
            "file_kind" => kinds.push(text),
            _ => {}
        }
    }
    let kind = kinds.pop().unwrap_or_else(|| "purchase_voucher".to_owned());
    for upload in &mut post.uploads {
        upload.kind.clone_from(&kind);
    }
    Ok(post)
}

/// Step one (`step=check`): the files are stored and the application checked, and the page
/// comes back with the fee, the deductions and the net to confirm. Step two
/// (`step=confirm`): submitted, once, and on to the application.
async fn apply(
    State(state): State<AppState>,
    who: Merchant,
    Path(sn): Path<String>,
    form: Multipart,
) -> Result<Response, PageError> {
    let lang = who.chrome.lang;
    let post = read_apply_form(form).await.map_err(|e| PageError::unreadable_form(&e, lang, Area::Portal))?;
    who.check_csrf(&post.csrf)?;
    let merchant_id = who.session.merchant_id.clone();
    if post.step == Step::Edit {
        return apply_again(&state, who, &sn, post.fields, (StatusCode::OK, FormErrors::default()), None).await;
    }
    if post.step == Step::Confirm {
        let once =
            Once::new(&who.session, &format!("POST /apply/{sn}"), &post.key, &post.fields, |d: &ApplicationDetail| {
                format!("/applications/{}?notice=submitted", d.application.id)
            });
        match applications::submit(&state.app, &merchant_id, &post.fields.input(&sn), once.replay()).await {
            Ok(outcome) => return Ok(see(once.location(outcome))),
            Err(e) => return apply_again(&state, who, &sn, post.fields, refused(e, lang), None).await,
        }
    }
    let mut input = post.fields.input(&sn);
    let prepared = applications::prepare(&state.app, &merchant_id, &post.uploads, &mut input).await;
    let mut fields = post.fields;
    fields.attachment_ids = input.attachment_ids;
    match prepared {
        Ok(preview) if preview.assessment.assessment.eligible() => {
            // At the confirmation, warnings do not block (a card number failing Luhn).
            let warnings = (StatusCode::OK, FormErrors::field(&preview.warnings, lang));
            apply_again(&state, who, &sn, fields, warnings, Some(PreviewView::new(&preview, lang))).await
        }
        Ok(preview) => {
            let not_eligible = applications::ApplyError::NotEligible(Box::new(preview.assessment));
            apply_again(&state, who, &sn, fields, refused(not_eligible, lang), None).await
        }
        Err(e) => apply_again(&state, who, &sn, fields, refused(e, lang), None).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UnlockForm {
    phone: String,
    sms_code: String,
}

/// A code to the merchant's bound phone, to unlock identity checks.
async fn send_unlock_code(
    State(state): State<AppState>,
    ip: crate::http::session::ClientIp,
    Path(sn): Path<String>,
    posted: Posted<Merchant, UnlockForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    auth::request_identity_unlock_code(&state.app, &who.session.merchant_id, &form.phone, &ip.0)
        .await
        .map_err(|e| failed(e, lang))?;
    Ok(see(format!("/apply/{sn}?unlock=sent")))
}

async fn unlock(
    State(state): State<AppState>,
    Path(sn): Path<String>,
    posted: Posted<Merchant, UnlockForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    match applications::unlock_identity_checks(&state.app, &who.session.merchant_id, &form.sms_code).await {
        Ok(()) => Ok(see(format!("/apply/{sn}?notice=unlocked"))),
        Err(AuthError::InvalidCode | AuthError::WrongCode) => Ok(see(format!("/apply/{sn}?unlock=wrong"))),
        Err(AuthError::CodeExhausted) => Ok(see(format!("/apply/{sn}?unlock=exhausted"))),
        Err(e) => Err(failed(e, lang)),
    }
}

/// A refused application as the form shows it: every field's problem, and the rest on top.
fn refused(e: applications::ApplyError, lang: Lang) -> (StatusCode, FormErrors) {
    FormErrors::refusal(apply_error(e, lang), lang)
}

/// The form again: with its errors, or (with a preview) at the confirmation step.
async fn apply_again(
    state: &AppState,
    who: Merchant,
    sn: &str,
    fields: ApplyFields,
    (status, errors): (StatusCode, FormErrors),
    preview: Option<PreviewView>,
) -> Result<Response, PageError> {
    let lang = who.chrome.lang;
    let form = devices::apply_form(&state.app, &who.session.merchant_id, sn, fields.deduct_outstanding)
        .await
        .map_err(|e| failed(e, lang))?;
    let page = ApplyPage {
        chrome: who.chrome,
        terminal: TerminalView::new(&form.assessed, lang, form.now),
        bank_card_hint: form.merchant.bank_card_masked,
        bank_name: form.merchant.bank_name,
        id_card_hint: form.merchant.id_card_masked,
        own_phone: form.merchant.phone,
        fields,
        reasons: applications::REASONS,
        errors,
        preview,
        key: new_key(),
        locked: form.identity_locked,
        unlock_sent: false,
    };
    Ok((status, render(&page)).into_response())
}

// ---- applications ----

#[derive(Template)]
#[template(path = "portal/applications.html")]
struct ApplicationsPage {
    chrome: Chrome,
    applications: Vec<ApplicationView>,
    next_cursor: Option<String>,
}

async fn my_applications(
    State(state): State<AppState>,
    who: Merchant,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    let lang = who.chrome.lang;
    let page = page_request(q.cursor.as_deref(), lang, Area::Portal)?;
    let list = applications::list(&state.app, &who.session.merchant_id, &page).await.map_err(|e| failed(e, lang))?;
    let applications = list.items.into_iter().map(|d| ApplicationView::new(d, lang)).collect();
    Ok(render(&ApplicationsPage { chrome: who.chrome, applications, next_cursor: list.next_cursor }))
}

#[derive(Template)]
#[template(path = "portal/application.html")]
struct ApplicationPage {
    chrome: Chrome,
    a: ApplicationView,
    /// Who holds the case now, and by when the merchant hears back.
    owner: (&'static str, &'static str),
    key: String,
    /// The form to have a failed payout paid to another card: its problems, and whether the
    /// SMS code was sent.
    card: CardForm,
    /// The problems of the supplement form, when it came back refused.
    supplement: FormErrors,
}

#[derive(Default)]
struct CardForm {
    errors: FormErrors,
    code_sent: bool,
    phone: String,
    bank_card_no: String,
}

impl ApplyPage {
    /// Whether the merchant owes something that could be deducted from this deposit.
    fn owes(&self) -> bool {
        self.terminal.eligibility.deducted_fen > 0
            || self.terminal.eligibility.reasons.iter().any(|r| r.code == "outstanding_balance")
    }
}

impl ApplicationPage {
    fn can_cancel(&self) -> bool {
        matches!(self.a.status.as_str(), "submitted" | "in_review" | "info_requested")
    }

    fn info_requested(&self) -> bool {
        self.a.status == "info_requested"
    }
}

/// Who holds an application in each state, and what the merchant can expect (zh, en).
fn owner(status: &str) -> (&'static str, &'static str) {
    match status {
        "submitted" => (
            "排队等待审核员受理；审核在 1 个工作日内开始。",
            "Waiting for a reviewer; review starts within 1 working day.",
        ),
        "in_review" => (
            "审核员正在审核；通常 1 个工作日内给出结果。",
            "A reviewer is on it; a decision usually within 1 working day.",
        ),
        "info_requested" => {
            ("在您这里：请按要求补充材料，审核随后继续。", "With you: send what was asked for and review continues.")
        }
        "awaiting_second_approval" => (
            "金额较大，需第二位审批人复核；通常 1 个工作日内完成。",
            "A second approver must confirm this amount; usually within 1 working day.",
        ),
        "approved" | "paying" => (
            "已批准，银行正在打款；一般 1–3 个工作日到账。",
            "Approved: the bank is paying; money arrives within 1–3 working days.",
        ),
        "payout_failed" => (
            "打款未成功，财务会重新打款或联系您更换银行卡。",
            "The payment failed: finance retries it or asks you for another card.",
        ),
        "refunded" => ("已退款到您的银行卡，可打印退款凭证。", "Refunded to your card: print the receipt."),
        "rejected" => (
            "已驳回；原因见下方时间线。如有疑问请联系客服。",
            "Rejected: the reason is in the timeline. Questions? Contact support.",
        ),
        _ => ("已撤销。", "Cancelled."),
    }
}

async fn application(
    State(state): State<AppState>,
    who: Merchant,
    Path(id): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    notice(&mut chrome, q.notice.as_deref());
    let detail = applications::detail(&state.app, &who.session.merchant_id, &id)
        .await
        .map_err(|e| failed(apply_error(e, lang), lang))?;
    let a = ApplicationView::new(detail, lang);
    let owner = owner(&a.status);
    let page = ApplicationPage {
        chrome,
        a,
        owner,
        key: new_key(),
        card: CardForm::default(),
        supplement: FormErrors::default(),
    };
    Ok(render(&page))
}

/// The application page again, with the card form's state.
async fn application_with(
    state: &AppState,
    who: Merchant,
    id: &str,
    status: StatusCode,
    card: CardForm,
    supplement: FormErrors,
) -> Result<Response, PageError> {
    let lang = who.chrome.lang;
    let detail = applications::detail(&state.app, &who.session.merchant_id, id)
        .await
        .map_err(|e| failed(apply_error(e, lang), lang))?;
    let a = ApplicationView::new(detail, lang);
    let owner = owner(&a.status);
    let page = ApplicationPage { chrome: who.chrome, a, owner, key: new_key(), card, supplement };
    Ok((status, render(&page)).into_response())
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct CardFields {
    #[serde(rename = "_key", skip_serializing)]
    key: String,
    phone: String,
    bank_card_no: String,
    sms_code: String,
}

/// A code to the merchant's own phone, to confirm the card a failed payout goes to next.
async fn send_card_code(
    State(state): State<AppState>,
    ip: crate::http::session::ClientIp,
    Path(id): Path<String>,
    posted: Posted<Merchant, CardFields>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    let sent = auth::request_payout_card_code(&state.app, &who.session.merchant_id, &form.phone, &ip.0).await;
    let (status, card) = match sent {
        Ok(_) => (StatusCode::OK, CardForm { code_sent: true, phone: form.phone, ..CardForm::default() }),
        Err(e) => {
            let (status, errors) = FormErrors::refusal(e, lang);
            (status, CardForm { errors, phone: form.phone, ..CardForm::default() })
        }
    };
    application_with(&state, who, &id, status, card, FormErrors::default()).await
}

async fn change_card(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Merchant, CardFields>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    let once = Once::new(
        &who.session,
        &format!("POST /applications/{id}/payout-card"),
        &form.key,
        &form,
        |d: &ApplicationDetail| format!("/applications/{}?notice=card_changed", d.application.id),
    );
    let changed = yajin_app::payouts::change_card(
        &state.app,
        &who.session.merchant_id,
        &id,
        &form.bank_card_no,
        &form.sms_code,
        once.replay(),
    )
    .await;
    match changed {
        Ok(outcome) => Ok(see(once.location(outcome))),
        Err(e) => {
            let problem = ApiError::from(e);
            let card = CardForm {
                errors: FormErrors::from_api(&problem, lang),
                code_sent: true,
                phone: form.phone,
                bank_card_no: form.bank_card_no,
            };
            application_with(&state, who, &id, problem.status, card, FormErrors::default()).await
        }
    }
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
pub(super) struct KeyedForm {
    #[serde(rename = "_key", skip_serializing)]
    pub(super) key: String,
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Merchant, KeyedForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    let once =
        Once::new(&who.session, &format!("POST /applications/{id}/cancel"), &form.key, &(), |d: &ApplicationDetail| {
            format!("/applications/{}?notice=cancelled", d.application.id)
        });
    let outcome = applications::cancel(&state.app, &who.session.merchant_id, &id, once.replay())
        .await
        .map_err(|e| failed(apply_error(e, lang), lang))?;
    Ok(see(once.location(outcome)))
}

async fn supplement(
    State(state): State<AppState>,
    who: Merchant,
    Path(id): Path<String>,
    form: Multipart,
) -> Result<Response, PageError> {
    let lang = who.chrome.lang;
    let post = read_apply_form(form).await.map_err(|e| PageError::unreadable_form(&e, lang, Area::Portal))?;
    who.check_csrf(&post.csrf)?;
    let once = Once::new(
        &who.session,
        &format!("POST /applications/{id}/supplement"),
        &post.key,
        &post.fields,
        |d: &ApplicationDetail| format!("/applications/{}?notice=supplemented", d.application.id),
    );
    let sent = applications::supplement_with_uploads(
        &state.app,
        &who.session.merchant_id,
        &id,
        &post.fields.note,
        &post.uploads,
        once.replay(),
    )
    .await;
    match sent {
        Ok(outcome) => Ok(see(once.location(outcome))),
        Err(e) => {
            let (status, errors) = refused(e, lang);
            application_with(&state, who, &id, status, CardForm::default(), errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "portal/receipt.html")]
struct ReceiptPage {
    chrome: Chrome,
    refund_no: String,
    /// The receipt document, rendered (the same one the API prints).
    receipt: String,
}

async fn receipt(State(state): State<AppState>, who: Merchant, Path(id): Path<String>) -> Result<Response, PageError> {
    let lang = who.chrome.lang;
    let receipt = applications::receipt(&state.app, &who.session.merchant_id, &id)
        .await
        .map_err(|e| failed(apply_error(e, lang), lang))?;
    let r = ReceiptView::from(receipt);
    let refund_no = r.refund_no.clone();
    let receipt = crate::http::receipt::Receipt { r, lang }.html();
    Ok(render(&ReceiptPage { chrome: who.chrome, refund_no, receipt }))
}

// ---- what is owed ----

#[derive(Template)]
#[template(path = "portal/outstanding.html")]
struct OutstandingPage {
    chrome: Chrome,
    items: Vec<OutstandingItemView>,
    next_cursor: Option<String>,
    key: String,
}

async fn outstanding(
    State(state): State<AppState>,
    who: Merchant,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    notice(&mut chrome, q.notice.as_deref());
    let page = page_request(q.cursor.as_deref(), lang, Area::Portal)?;
    let list =
        devices::outstanding_items(&state.app, &who.session.merchant_id, &page).await.map_err(|e| failed(e, lang))?;
    let items = list.items.into_iter().map(OutstandingItemView::from).collect();
    Ok(render(&OutstandingPage { chrome, items, next_cursor: list.next_cursor, key: new_key() }))
}

async fn settle(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Merchant, KeyedForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    let once = Once::new(&who.session, &format!("POST /outstanding/{id}/settle"), &form.key, &(), |_: &_| {
        "/outstanding?notice=settling".to_owned()
    });
    let outcome = collections::settle(&state.app, &who.session.merchant_id, &id, once.replay())
        .await
        .map_err(|e| failed(e, lang))?;
    Ok(see(once.location(outcome)))
}

// ---- customer service, messages, announcements ----

#[derive(Template)]
#[template(path = "portal/tickets.html")]
struct TicketsPage {
    chrome: Chrome,
    tickets: Vec<TicketView>,
    next_cursor: Option<String>,
    subject: String,
    body: String,
    application_id: String,
    errors: FormErrors,
    key: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TicketsQuery {
    cursor: Option<String>,
    notice: Option<String>,
    application_id: Option<String>,
}

async fn my_tickets(
    State(state): State<AppState>,
    who: Merchant,
    Query(q): Query<TicketsQuery>,
) -> Result<Response, PageError> {
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    notice(&mut chrome, q.notice.as_deref());
    let page = page_request(q.cursor.as_deref(), lang, Area::Portal)?;
    let list = tickets::list(&state.app, &who.session.merchant_id, &page).await.map_err(|e| failed(e, lang))?;
    Ok(render(&TicketsPage {
        chrome,
        tickets: list.items.into_iter().map(|t| TicketView::new(t, None, lang)).collect(),
        next_cursor: list.next_cursor,
        subject: String::new(),
        body: String::new(),
        application_id: q.application_id.unwrap_or_default(),
        errors: FormErrors::default(),
        key: new_key(),
    }))
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct TicketForm {
    #[serde(rename = "_key", skip_serializing)]
    key: String,
    subject: String,
    body: String,
    application_id: String,
}

async fn open_ticket(
    State(state): State<AppState>,
    posted: Posted<Merchant, TicketForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    let once = Once::new(&who.session, "POST /tickets", &form.key, &form, |t: &tickets::TicketDetail| {
        format!("/tickets/{}?notice=ticket_opened", t.ticket.id)
    });
    let application = Some(form.application_id.trim()).filter(|a| !a.is_empty());
    match tickets::open(&state.app, &who.session.merchant_id, &form.subject, &form.body, application, once.replay())
        .await
    {
        Ok(outcome) => Ok(see(once.location(outcome))),
        Err(e) => {
            let problem = ApiError::from(e);
            let page = page_request(None, lang, Area::Portal)?;
            let list = tickets::list(&state.app, &who.session.merchant_id, &page).await.map_err(|e| failed(e, lang))?;
            let page = TicketsPage {
                chrome: who.chrome,
                tickets: list.items.into_iter().map(|t| TicketView::new(t, None, lang)).collect(),
                next_cursor: list.next_cursor,
                subject: form.subject,
                body: form.body,
                application_id: form.application_id,
                errors: FormErrors::from_api(&problem, lang),
                key: new_key(),
            };
            Ok((problem.status, render(&page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "portal/ticket.html")]
struct TicketPage {
    chrome: Chrome,
    t: TicketView,
    key: String,
}

async fn ticket(
    State(state): State<AppState>,
    who: Merchant,
    Path(id): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    notice(&mut chrome, q.notice.as_deref());
    let t = tickets::get(&state.app, &who.session.merchant_id, &id).await.map_err(|e| failed(e, lang))?;
    Ok(render(&TicketPage { chrome, t: TicketView::new(t.ticket, Some(t.messages), lang), key: new_key() }))
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct MessageForm {
    #[serde(rename = "_key", skip_serializing)]
    key: String,
    body: String,
}

async fn reply_ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Merchant, MessageForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    let once =
        Once::new(&who.session, &format!("POST /tickets/{id}/reply"), &form.key, &form, |t: &tickets::TicketDetail| {
            format!("/tickets/{}?notice=replied", t.ticket.id)
        });
    let outcome = tickets::reply(&state.app, &who.session.merchant_id, &id, &form.body, once.replay())
        .await
        .map_err(|e| failed(e, lang))?;
    Ok(see(once.location(outcome)))
}

#[derive(Template)]
#[template(path = "portal/notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    notifications: Vec<NotificationView>,
    next_cursor: Option<String>,
}

async fn notifications(
    State(state): State<AppState>,
    who: Merchant,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    let lang = who.chrome.lang;
    let page = page_request(q.cursor.as_deref(), lang, Area::Portal)?;
    let list = inbox::notifications(&state.app, &who.session.merchant_id, &page).await.map_err(|e| failed(e, lang))?;
    let notifications = list.items.into_iter().map(|n| NotificationView::new(n, lang)).collect();
    Ok(render(&NotificationsPage { chrome: who.chrome, notifications, next_cursor: list.next_cursor }))
}

#[derive(Template)]
#[template(path = "portal/plans.html")]
struct PlansPage {
    chrome: Chrome,
    plans: Vec<PublishedPlanView>,
    form: QuoteForm,
    errors: FormErrors,
    quote: Option<FeeQuoteView>,
}

/// The fee calculator's form, as typed (amount in yuan).
#[derive(Deserialize, Default)]
struct QuoteForm {
    #[serde(default)]
    plan: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    kind: String,
}

/// The plans anyone may choose from, and the fee calculator (a GET form: nothing is stored).
async fn plans(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(form): Query<QuoteForm>,
) -> Result<Response, PageError> {
    let lang = visitor.chrome.lang;
    let published = yajin_app::plans::published(&state.app).await.map_err(|e| failed(e, lang))?;
    let plans = published.iter().map(|p| PublishedPlanView::new(p, lang)).collect();
    let (mut errors, mut quote) = (FormErrors::default(), None);
    if !form.plan.is_empty() {
        match yajin_core::Fen::parse_yuan(form.amount.trim()) {
            Err(_) => errors.fields.push((
                "amount_fen".to_owned(),
                visitor.chrome.t("请填写金额，如 800 或 800.50", "an amount, like 800 or 800.50").to_owned(),
            )),
            Ok(amount) => {
                let request = yajin_app::plans::QuoteRequest {
                    plan_code: form.plan.clone(),
                    amount_fen: amount.get(),
                    kind: form.kind.clone(),
                };
                match yajin_app::plans::quote(&state.app, &request).await {
                    Ok(q) => quote = Some(FeeQuoteView::from(q)),
                    Err(e) => errors = FormErrors::from_api(&ApiError::from(e), lang),
                }
            }
        }
    }
    Ok(render(&PlansPage { chrome: visitor.chrome, plans, form, errors, quote }))
}

#[derive(Template)]
#[template(path = "portal/announcements.html")]
struct AnnouncementsPage {
    chrome: Chrome,
    announcements: Vec<AnnouncementView>,
}

async fn announcements(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    let lang = visitor.chrome.lang;
    let list = inbox::announcements(&state.app).await.map_err(|e| failed(e, lang))?;
    let announcements = list.items.into_iter().map(AnnouncementView::from).collect();
    Ok(render(&AnnouncementsPage { chrome: visitor.chrome, announcements }))
}
