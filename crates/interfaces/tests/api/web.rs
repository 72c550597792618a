//! The web pages over HTTP, as a browser without JavaScript uses them: cookies, forms with
//! their CSRF token and one-time key, redirects after a post, the headers every page carries.
//! (The browser tests in `tests/browser` drive the same pages in Chromium.)

use serde_json::json;
use yajin::http::Site;
use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::harness::{spawn_app, spawn_app_at, spawn_paying_app, TestApp};
use yajin_sandbox_bank::Faults;

const A: &str = demo::MERCHANT_A.phone;
const B: &str = demo::MERCHANT_B.phone;

/// A browser's side of the conversation: its cookies, and the page it last read.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
}

struct Page {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    headers: reqwest::header::HeaderMap,
    html: String,
}

impl Page {
    /// The value of the first hidden input named `name`.
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.html.find(&marker).unwrap_or_else(|| panic!("no {name} in {}", self.html)) + marker.len();
        self.html[start..].split('"').next().unwrap().to_owned()
    }
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Browser<'a> {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { app, client, cookies: vec![("yajin_lang".into(), "zh".into())] }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn request(&mut self, builder: reqwest::RequestBuilder) -> Page {
        let response = builder.header("cookie", self.cookie_header()).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let set_cookies: Vec<String> =
            headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        let location = headers.get("location").map(|v| v.to_str().unwrap().to_owned());
        Page { status, location, set_cookies, headers, html: response.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Page {
        let builder = self.client.get(format!("{}{path}", self.app.base)).header("accept", "text/html");
        self.request(builder).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let builder = self.client.post(format!("{}{path}", self.app.base)).form(fields);
        self.request(builder).await
    }

    async fn multipart(&mut self, path: &str, fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> Page {
        let boundary = "yajin-test-boundary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        for (file_name, content) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\ncontent-disposition: form-data; name=\"files\"; filename=\"{file_name}\"\r\n\
                     content-type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let builder = self
            .client
            .post(format!("{}{path}", self.app.base))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        self.request(builder).await
    }

    /// Logs a demo merchant in through the start page's form.
    async fn merchant(app: &'a TestApp, phone: &str) -> Browser<'a> {
        let mut browser = Browser::new(app);
        let page =
            browser.post("/login", &[("phone", phone), ("password", demo::MERCHANT_PASSWORD), ("next", "")]).await;
        assert_eq!((page.status, page.location.as_deref()), (303, Some("/devices")), "{}", page.html);
        browser
    }

    async fn staff(app: &'a TestApp, username: &str) -> Browser<'a> {
        let mut browser = Browser::new(app);
        let page = browser
            .post("/console/login", &[("username", username), ("password", demo::STAFF_PASSWORD), ("next", "")])
            .await;
        assert_eq!(page.status, 303, "{username}: {}", page.html);
        browser
    }
}

/// How many payout attempts the application has had.
async fn attempts_of(app: &TestApp, finance: &str, application_id: &str) -> usize {
    let list = app.get("/api/v1/payouts?limit=200", finance).await;
    list.body["items"].as_array().unwrap().iter().filter(|p| p["application_id"] == application_id).count()
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

on_both_databases! {
    async fn pages_carry_the_security_headers_and_assets_are_cached_by_content(db) {
        let app = spawn_app(db).await;
        let mut browser = Browser::new(&app);
        let page = browser.get("/").await;
        assert_eq!(page.status, 200);
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert_eq!(page.headers["referrer-policy"], "same-origin");
        assert!(page.headers.get("strict-transport-security").is_none(), "no HSTS over plain http");
        assert!(!page.html.contains(" style=") && !page.html.contains("<style") && !page.html.contains("<script>"));
        // The demo's start page says where to log in, with the demo logins.
        assert!(page.html.contains("商户登录") && page.html.contains("13800000001") && page.html.contains("/console"));

        let css = page.html.split("rel=\"stylesheet\" href=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        assert!(css.starts_with("/assets/site.") && css.ends_with(".css"), "{css}");
        let asset = browser.get(&css).await;
        assert_eq!(asset.status, 200);
        assert!(asset.headers["cache-control"].to_str().unwrap().contains("immutable"));
        assert!(asset.headers["content-type"].to_str().unwrap().starts_with("text/css"));
        assert_eq!(browser.get("/assets/site.000000000000.css").await.status, 404, "an old name is gone");
    }

    async fn a_merchant_logs_in_with_the_form_and_sees_every_reason(db) {
        let app = spawn_app(db).await;
        let mut wrong = Browser::new(&app);
        let refused = wrong.post("/login", &[("phone", A), ("password", "not-it"), ("next", "/devices")]).await;
        assert_eq!(refused.status, 401);
        assert!(refused.html.contains("手机号或密码错误") && refused.html.contains("role=\"alert\""));
        assert!(refused.set_cookies.is_empty(), "no session for a wrong password");

        let mut browser = Browser::new(&app);
        let page = browser.post("/login", &[("phone", A), ("password", demo::MERCHANT_PASSWORD), ("next", "/outstanding")]).await;
        assert_eq!((page.status, page.location.as_deref()), (303, Some("/outstanding")));
        for cookie in &page.set_cookies {
            assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
            assert!(!cookie.contains("Secure"), "plain http: {cookie}");
        }
        assert_eq!(page.set_cookies.len(), 2, "the session and its CSRF token");

        let devices = browser.get("/devices").await;
        assert_eq!(devices.status, 200);
        let progress = devices.html.split("id=\"t-DEMO-PROGRESS-01\"").nth(1).unwrap().split("</article>").next().unwrap();
        assert!(progress.contains("暂不能退押金"), "{progress}");
        assert!(progress.contains("¥3,500.00") && progress.contains("¥10,000.00") && progress.contains("40"), "{progress}");
        assert!(progress.contains("<progress") && progress.contains("value=\"35\""), "{progress}");
        let owes = devices.html.split("id=\"t-DEMO-OWES-01\"").nth(1).unwrap().split("</article>").next().unwrap();
        assert!(owes.contains("href=\"/outstanding\"") && owes.contains("/apply/DEMO-OWES-01?deduct=true"), "{owes}");
        let auto = devices.html.split("id=\"t-DEMO-AUTO-01\"").nth(1).unwrap().split("</article>").next().unwrap();
        assert!(auto.contains("href=\"/apply/DEMO-AUTO-01\""), "{auto}");
        // The anti-scam notice is on every portal page.
        assert!(devices.html.contains("防骗提示"));

        let out = browser.post("/logout", &[("_csrf", &devices.hidden("_csrf"))]).await;
        assert_eq!((out.status, out.location.as_deref()), (303, Some("/")));
        let after = browser.get("/devices").await;
        assert_eq!((after.status, after.location.as_deref()), (303, Some("/?next=/devices")));
    }

    async fn under_attack_the_login_form_asks_for_the_code_it_sent(db) {
        let app = spawn_app(db).await;
        for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
            let refused = yajin_app::auth::login(&app.app, yajin_app::auth::Kind::Merchant, A, "Guess@1234".into(), None, ip).await;
            assert!(matches!(refused, Err(yajin_app::auth::AuthError::InvalidCredentials)));
        }
        let mut browser = Browser::new(&app);
        let asked = browser.post("/login", &[("phone", A), ("password", demo::MERCHANT_PASSWORD), ("next", "/devices")]).await;
        assert_eq!(asked.status, 401);
        assert!(asked.html.contains("name=\"sms_code\"") && asked.html.contains("验证码已发至绑定手机"), "{}", asked.html);
        assert!(asked.set_cookies.is_empty());
        let code = crate::harness::code_in(&app.last_code_sms(A).await.unwrap());
        let page = browser.post("/login", &[("phone", A), ("password", demo::MERCHANT_PASSWORD), ("sms_code", &code), ("next", "/devices")]).await;
        assert_eq!((page.status, page.location.as_deref()), (303, Some("/devices")), "{}", page.html);
    }

    async fn a_form_without_its_sessions_token_changes_nothing(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let items = app.get("/api/v1/outstanding-items", &token).await;
        let item = items.body["items"][0]["id"].as_str().unwrap().to_owned();
        let mut other = Browser::merchant(&app, B).await;
        let others_token = other.get("/devices").await.hidden("_csrf");
        let mut browser = Browser::merchant(&app, A).await;
        let path = format!("/outstanding/{item}/settle");
        for csrf in ["", "forged", others_token.as_str()] {
            let page = browser.post(&path, &[("_csrf", csrf), ("_key", "k1")]).await;
            assert_eq!(page.status, 403, "{csrf:?}");
            assert!(page.html.contains("页面已过期"), "{}", page.html);
        }
        let after = app.get("/api/v1/outstanding-items", &token).await;
        assert_eq!(after.body["items"][0]["status"], "open", "nothing was settled");
        // A form of the console is no different.
        let mut staff = Browser::staff(&app, "support").await;
        let tickets = staff.post("/console/support/tk_x/close", &[("_csrf", "forged")]).await;
        assert_eq!(tickets.status, 403);
    }

    async fn a_form_sent_twice_is_carried_out_once(db) {
        let app = spawn_app(db).await;
        let mut browser = Browser::merchant(&app, A).await;
        let form = browser.get("/tickets").await;
        let (csrf, key) = (form.hidden("_csrf"), form.hidden("_key"));
        let fields = [("_csrf", csrf.as_str()), ("_key", key.as_str()), ("subject", "押金何时到账"), ("body", "请问进度"), ("application_id", "")];
        let first = browser.post("/tickets", &fields).await;
        let second = browser.post("/tickets", &fields).await;
        assert_eq!(first.status, 303);
        assert_eq!(first.location, second.location, "the resent form leads where the first did");
        let token = app.merchant(A).await;
        let tickets = app.get("/api/v1/tickets", &token).await;
        assert_eq!(tickets.body["items"].as_array().unwrap().len(), 1, "one ticket");

        // An empty subject: the form comes back with the field's error tied to it.
        let form = browser.get("/tickets").await;
        let refused = browser
            .post("/tickets", &[("_csrf", &form.hidden("_csrf")), ("_key", &form.hidden("_key")), ("subject", ""), ("body", "x")])
            .await;
        assert_eq!(refused.status, 422);
        assert!(refused.html.contains("aria-describedby=\"subject-error\"") && refused.html.contains("id=\"subject-error\""), "{}", refused.html);
    }

    async fn the_application_form_checks_shows_the_figures_then_submits(db) {
        let app = spawn_app(db).await;
        let mut browser = Browser::merchant(&app, A).await;
        let form = browser.get("/apply/DEMO-REVIEW-01").await;
        assert_eq!(form.status, 200);
        assert!(form.html.contains("value=\"13800000001\""), "the phone is filled in");
        let (csrf, key) = (form.hidden("_csrf"), form.hidden("_key"));
        let mut fields = vec![
            ("_csrf", csrf.as_str()),
            ("_key", key.as_str()),
            ("phone", A),
            ("id_card_no", "123"),
            ("bank_card_no", demo::MERCHANT_A.bank_card_no),
            ("reason", "stop_using"),
            ("note", ""),
            ("file_kind", "purchase_voucher"),
            ("step", "check"),
        ];
        let refused = browser.multipart("/apply/DEMO-REVIEW-01", &fields, &[("voucher.png", PNG)]).await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        assert!(refused.html.contains("id=\"id_card_no-error\""), "{}", refused.html);
        assert!(refused.html.contains("aria-describedby=\"id_card_no-error\""));
        // The file was kept: the corrected form need not send it again.
        let kept = refused.hidden("attachment_ids");
        assert!(kept.starts_with("at_"), "{kept}");

        fields[3] = ("id_card_no", demo::MERCHANT_A.id_card_no);
        fields.push(("attachment_ids", kept.as_str()));
        let confirm = browser.multipart("/apply/DEMO-REVIEW-01", &fields, &[]).await;
        assert_eq!(confirm.status, 200, "{}", confirm.html);
        assert!(confirm.html.contains("请确认") && confirm.html.contains("value=\"confirm\""));
        assert!(confirm.html.contains("¥299.00"));
        let token = app.merchant(A).await;
        let open = |body: &serde_json::Value| {
            body["items"].as_array().unwrap().iter().filter(|a| a["terminal_sn"] == "DEMO-REVIEW-01").count()
        };
        assert_eq!(open(&app.get("/api/v1/refund-applications", &token).await.body), 0, "nothing submitted yet");

        let key = confirm.hidden("_key");
        let mut submit: Vec<(&str, &str)> = fields.iter().filter(|(k, _)| *k != "step" && *k != "_key").cloned().collect();
        submit.push(("_key", key.as_str()));
        submit.push(("step", "confirm"));
        let done = browser.multipart("/apply/DEMO-REVIEW-01", &submit, &[]).await;
        assert_eq!(done.status, 303, "{}", done.html);
        let location = done.location.unwrap();
        assert!(location.starts_with("/applications/ra_") && location.ends_with("?notice=submitted"), "{location}");
        let again = browser.multipart("/apply/DEMO-REVIEW-01", &submit, &[]).await;
        assert_eq!(again.location.as_deref(), Some(location.as_str()), "a double click submits once");

        let page = browser.get(&location).await;
        assert!(page.html.contains("申请已提交") && page.html.contains("已提交，待审核") && page.html.contains("押金凭证"));
        assert_eq!(open(&app.get("/api/v1/refund-applications", &token).await.body), 1, "one application");
        let id = location.trim_start_matches("/applications/").split('?').next().unwrap();
        let detail = app.get(&format!("/api/v1/refund-applications/{id}"), &token).await;
        assert_eq!(detail.body["attachments"].as_array().unwrap().len(), 1, "{:?}", detail.body);

        // Another merchant's application is not there for merchant B.
        let mut b = Browser::merchant(&app, B).await;
        let hidden = b.get(location.split('?').next().unwrap()).await;
        assert_eq!(hidden.status, 404);
    }

    async fn staff_see_only_the_decisions_their_role_allows(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let body = crate::applications::body("DEMO-REVIEW-01");
        let created = app.post("/api/v1/refund-applications", &m, body).await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let page = format!("/console/applications/{id}");

        let mut reviewer = Browser::staff(&app, "reviewer").await;
        let fresh = reviewer.get(&page).await;
        assert!(fresh.html.contains("id=\"claim\"") && !fresh.html.contains("id=\"approve\""), "claim first");
        let csrf = fresh.hidden("_csrf");
        let claimed = reviewer.post(&format!("{page}/claim"), &[("_csrf", &csrf), ("_key", &fresh.hidden("_key"))]).await;
        assert_eq!(claimed.location.as_deref(), Some(format!("{page}?notice=claimed").as_str()));
        let in_review = reviewer.get(&page).await;
        assert!(in_review.html.contains("id=\"approve\"") && in_review.html.contains("/reject"));
        let mut reviewer2 = Browser::staff(&app, "reviewer2").await;
        assert!(!reviewer2.get(&page).await.html.contains("id=\"approve\""), "not claimed by reviewer2");
        let first = reviewer.post(&format!("{page}/approve"), &[("_csrf", &csrf), ("_key", &in_review.hidden("_key")), ("comment", "")]).await;
        assert_eq!(first.location.as_deref(), Some(format!("{page}?notice=first_approval").as_str()));

        // Awaiting the second approval: only an approver is offered it.
        for who in [&mut reviewer, &mut reviewer2] {
            let seen = who.get(&page).await;
            assert!(seen.html.contains("待复核"));
            assert!(!seen.html.contains("id=\"approve\"") && seen.html.contains("id=\"no-actions\""), "{}", seen.html);
        }
        let mut approver = Browser::staff(&app, "approver").await;
        let offered = approver.get(&page).await;
        assert!(offered.html.contains("id=\"approve\""));
        let second = approver.post(&format!("{page}/approve"), &[("_csrf", &offered.hidden("_csrf")), ("_key", &offered.hidden("_key"))]).await;
        assert_eq!(second.location.as_deref(), Some(format!("{page}?notice=approved").as_str()));
        let state = app.get(&format!("/api/v1/refund-applications/{id}"), &m).await;
        assert_eq!(state.body["status"], "approved");

        // Finance reads no evidence; the console sends it to its own sections.
        let mut finance = Browser::staff(&app, "finance").await;
        assert_eq!(finance.get(&page).await.status, 403);
        let nav = finance.get("/console/payouts").await;
        assert!(nav.html.contains("href=\"/console/payouts\"") && !nav.html.contains("href=\"/console/queue\""));
    }

    async fn the_dashboard_draws_its_charts_on_the_server(db) {
        let app = spawn_app(db).await;
        let mut admin = Browser::staff(&app, "admin").await;
        let page = admin.get("/console/dashboard").await;
        assert_eq!(page.status, 200);
        assert_eq!(page.html.matches("<svg").count(), 3, "refunds per day, time to refund, queue age");
        // DEMO-REFUNDED-01 was refunded in the demo's past: one day has a bar.
        assert!(page.html.contains("<rect class=\"bar-fill\""));
        let verify = admin.get("/console/audit/verify").await;
        assert!(verify.html.contains("哈希链完整"), "{}", verify.html);
    }

    async fn unknown_pages_are_pages_for_browsers_and_problems_for_clients(db) {
        let app = spawn_app(db).await;
        let mut browser = Browser::new(&app);
        let page = browser.get("/no/such/page").await;
        assert_eq!(page.status, 404);
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
        let problem = app.send("GET", "/no/such/page", None, None, &[]).await;
        assert_eq!((problem.status, problem.is_problem()), (404, true));
        // A page's form sent as something else is refused with a page too, not bare text.
        let refused = browser.request(browser.client.post(format!("{}/login", app.base)).header("content-type", "application/json").body("{}")).await;
        assert_eq!(refused.status, 415);
        assert!(refused.headers["content-type"].to_str().unwrap().starts_with("text/html"), "{:?}", refused.headers);
        assert!(refused.html.contains("<html"));
        // A form announced larger than the limit is refused before it is read, with a page.
        let too_large = app
            .raw_http(&format!(
                "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                yajin::web::FORM_LIMIT_BYTES + 1
            ))
            .await;
        assert!(too_large.starts_with("HTTP/1.1 413"), "{too_large}");
        assert!(too_large.to_ascii_lowercase().contains("content-type: text/html"), "{too_large}");
    }

    async fn the_language_switch_is_remembered_and_stays_on_the_site(db) {
        let app = spawn_app(db).await;
        let mut browser = Browser::merchant(&app, A).await;
        let switch = browser.get("/lang/en?back=/devices").await;
        assert_eq!((switch.status, switch.location.as_deref()), (303, Some("/devices")));
        assert!(switch.set_cookies[0].starts_with("yajin_lang=en"));
        let page = browser.get("/devices").await;
        assert!(page.html.contains("My devices") && page.html.contains("lang=\"en\""));
        assert!(!page.html.contains("我的设备"), "no Chinese chrome in English");
        for evil in ["https://evil.example/", "//evil.example/", "/\\evil.example"] {
            let away = browser.get(&format!("/lang/zh?back={}", evil.replace('/', "%2F").replace('\\', "%5C"))).await;
            assert_eq!(away.location.as_deref(), Some("/"), "{evil}");
        }
        let login = Browser::new(&app).post("/login", &[("phone", A), ("password", demo::MERCHANT_PASSWORD), ("next", "https://evil.example/")]).await;
        assert_eq!(login.location.as_deref(), Some("/devices"));
    }

    async fn in_english_the_portal_has_no_chinese_but_names_and_peoples_words(db) {
        let app = spawn_app(db).await;
        // Something to read on every page: a rejected application, a ticket, a debt.
        let m = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        let id = app.post("/api/v1/refund-applications", &m, crate::applications::body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/review/applications/{id}/claim"), &reviewer, json!({})).await;
        app.post(&format!("/api/v1/review/applications/{id}/reject"), &reviewer, json!({"reason_code": "materials_invalid", "comment": "照片模糊"})).await;
        let ticket = app.post("/api/v1/tickets", &m, json!({"subject": "发票", "body": "能开吗"})).await.body["id"].as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/support/tickets/{ticket}/messages"), &app.staff("support").await, json!({"body": "可以"})).await;

        let mut browser = Browser::merchant(&app, A).await;
        browser.get("/lang/en?back=/devices").await;
        // Names, and what people wrote, are shown as written.
        let mut quoted: Vec<String> = ["中文", "拉卡拉", demo::MERCHANT_A.name, demo::MERCHANT_A.bank_name, "请尽快处理", "照片模糊", "发票", "能开吗", "可以", "李娜", "王芳"]
            .map(str::to_owned).into();
        quoted.extend(demo::STAFF.iter().map(|(_, name, _)| (*name).to_owned()));
        // Announcements are the company's words, published as written.
        for a in app.get("/api/v1/announcements", &m).await.body["items"].as_array().unwrap() {
            quoted.extend([a["title"].as_str().unwrap().to_owned(), a["body"].as_str().unwrap().to_owned()]);
        }
        for path in ["/devices", "/apply/DEMO-REVIEW-01", "/applications", &format!("/applications/{id}"), "/notifications",
                     "/outstanding", "/tickets", &format!("/tickets/{ticket}"), "/announcements",
                     "/plans?plan=ACT-99&amount=800&kind=debit_card", "/plans?plan=ACT-99&amount=abc&kind=nfc", "/orders"] {
            let page = browser.get(path).await;
            assert_eq!(page.status, 200, "{path}");
            let mut text = page.html.clone();
            for name in &quoted {
                text = text.replace(name.as_str(), "");
            }
            let chinese: String = text.chars().filter(|c| yajin_core::text::is_cjk(*c)).collect();
            assert!(chinese.is_empty(), "{path}: {chinese:?} in English");
        }
    }

    async fn in_english_the_console_has_no_chinese_but_names_and_peoples_words(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let id = app.post("/api/v1/refund-applications", &m, crate::applications::body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let ticket = app.post("/api/v1/tickets", &m, json!({"subject": "发票", "body": "能开吗"})).await.body["id"].as_str().unwrap().to_owned();
        let mut quoted: Vec<String> = ["中文", "拉卡拉", demo::MERCHANT_A.name, demo::MERCHANT_A.bank_name, "请尽快处理", "发票", "能开吗"]
            .map(str::to_owned).into();
        quoted.extend(demo::STAFF.iter().map(|(_, name, _)| (*name).to_owned()));
        for username in ["admin", "reviewer", "approver", "finance", "support", "agent"] {
            let mut browser = Browser::staff(&app, username).await;
            browser.get("/lang/en?back=/console").await;
            let mut read = 0;
            for path in ["/console/dashboard", "/console/queue", &format!("/console/applications/{id}"), "/console/payouts",
                         "/console/plans", "/console/audit", "/console/support", &format!("/console/support/{ticket}"),
                         "/console/reconciliations", "/console/agent", &format!("/console/agent/applications/{id}"),
                         "/console/orders"] {
                let page = browser.get(path).await;
                if page.status != 200 {
                    continue; // not this role's page
                }
                let mut text = page.html.clone();
                for name in &quoted {
                    text = text.replace(name.as_str(), "");
                }
                let chinese: String = text.chars().filter(|c| yajin_core::text::is_cjk(*c)).collect();
                assert!(chinese.is_empty(), "{username} {path}: {chinese:?} in English");
                read += 1;
            }
            assert!(read >= 2, "{username} read {read} pages");
        }
    }

    async fn an_agent_follows_its_merchants_in_the_console_and_nothing_else(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let id = app.post("/api/v1/refund-applications", &m, crate::applications::body("DEMO-REVIEW-01")).await.body["id"].as_str().unwrap().to_owned();
        let mut agent = Browser::staff(&app, demo::AGENT).await;
        let start = agent.get("/console").await;
        assert_eq!(start.location.as_deref(), Some("/console/agent"), "an agent starts at its merchants");
        let page = agent.get("/console/agent").await;
        assert!(page.html.contains(demo::MERCHANT_A.name) && page.html.contains("138****0001") && page.html.contains(&id), "{}", page.html);
        assert!(!page.html.contains("DEMO-B-01") && !page.html.contains(demo::MERCHANT_A.id_card_no) && !page.html.contains(demo::MERCHANT_A.bank_card_no));
        let detail = agent.get(&format!("/console/agent/applications/{id}")).await;
        assert!(detail.status == 200 && detail.html.contains("DEMO-REVIEW-01"), "{}", detail.status);
        assert!(!detail.html.contains("action=\"/console/applications"), "read-only: no decisions");
        assert_eq!(agent.get("/console/queue").await.status, 403, "an agent reviews nothing");
        let mut reviewer = Browser::staff(&app, "reviewer").await;
        assert_eq!(reviewer.get("/console/agent").await.status, 403);
    }

    async fn a_merchant_orders_a_terminal_and_activates_it_all_in_the_browser(db) {
        let app = spawn_paying_app(db, Faults::default()).await;
        let b_token = app.merchant(demo::MERCHANT_B.phone).await;
        let mut b = Browser::merchant(&app, demo::MERCHANT_B.phone).await;
        let form = b.get("/orders?plan=ACT-99").await;
        assert!(form.html.contains("value=\"ACT-99\" selected"), "{}", form.html);
        let csrf = form.hidden("_csrf");
        let fields = |key: &str| vec![("_csrf", csrf.clone()), ("_key", key.to_owned()), ("plan_code", "ACT-99".to_owned()),
            ("model", "拉卡拉 P2".to_owned()), ("shipping_address", "广州市天河区体育西路 1 号".to_owned()), ("deposit_route", "wechat".to_owned())];
        let refused = b.post("/orders", &[("_csrf", csrf.as_str()), ("_key", "k0"), ("plan_code", "ACT-99"), ("model", ""), ("shipping_address", ""), ("deposit_route", "card")]).await;
        assert_eq!(refused.status, 422);
        assert!(refused.html.contains("aria-invalid=\"true\""), "errors at their fields");
        let key = form.hidden("_key");
        let placed_fields = fields(&key);
        let placed_fields: Vec<(&str, &str)> = placed_fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let placed = b.post("/orders", &placed_fields).await;
        let location = placed.location.clone().expect("to the order's page");
        assert!(location.ends_with("?notice=placed"), "{location}");
        let again = b.post("/orders", &placed_fields).await;
        assert_eq!(again.location, placed.location, "a form sent twice places one order");
        let path = location.split('?').next().unwrap().to_owned();
        let id = path.trim_start_matches("/orders/").to_owned();

        let mut reviewer = Browser::staff(&app, "reviewer").await;
        let queue = reviewer.get("/console/orders").await;
        assert!(queue.html.contains(&id));
        let review = reviewer.get(&format!("/console/orders/{id}")).await;
        let approved = reviewer.post(&format!("/console/orders/{id}/approve"), &[("_csrf", &review.hidden("_csrf")), ("_key", &review.hidden("_key"))]).await;
        assert_eq!(approved.status, 303);

        let page = b.get(&path).await;
        assert!(page.html.contains("/pay") && page.html.contains("微信支付"), "{}", page.html);
        let paid = b.post(&format!("{path}/pay"), &[("_csrf", &csrf), ("_key", &page.hidden("_key"))]).await;
        assert_eq!(paid.location.as_deref(), Some(format!("{path}?notice=pay").as_str()));
        app.eventually(&format!("/api/v1/terminal-orders/{id}"), &b_token, |o| o["status"] == "deposit_paid").await;

        let review = reviewer.get(&format!("/console/orders/{id}")).await;
        let ship = [("_csrf", review.hidden("_csrf")), ("_key", review.hidden("_key")), ("sn", "NEW-B-0002".into()), ("carrier", "顺丰".into()), ("waybill_no", "SF99".into())];
        let ship: Vec<(&str, &str)> = ship.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(reviewer.post(&format!("/console/orders/{id}/ship"), &ship).await.status, 303);
        let page = b.get(&path).await;
        let delivered = b.post(&format!("{path}/confirm-delivery"), &[("_csrf", &csrf), ("_key", &page.hidden("_key"))]).await;
        assert_eq!(delivered.location.as_deref(), Some(format!("{path}?notice=confirm-delivery").as_str()));

        // The demo's button: card volume on the new terminal activates it and reaches the target.
        let devices = b.get("/devices").await;
        assert!(devices.html.contains("/devices/NEW-B-0002/demo-volume"));
        for _ in 0..2 {
            let added = b.post("/devices/NEW-B-0002/demo-volume", &[("_csrf", &csrf)]).await;
            assert_eq!(added.location.as_deref(), Some("/devices?notice=volume"));
        }
        assert!(b.get(&path).await.html.contains("已激活"));
        assert!(b.get("/devices").await.html.contains("href=\"/apply/NEW-B-0002\""), "now it can be refunded");
        let other = b.post("/devices/DEMO-AUTO-01/demo-volume", &[("_csrf", &csrf)]).await;
        assert_eq!(other.status, 404, "only one's own terminals");
    }

    async fn anyone_sees_the_plans_and_works_out_a_fee_before_committing(db) {
        let app = spawn_app(db).await;
        let mut visitor = Browser::new(&app);
        let page = visitor.get("/plans").await;
        assert_eq!(page.status, 200, "no login needed");
        assert!(page.html.contains("id=\"plan-ACT-99\"") && page.html.contains("0.60%") && page.html.contains("¥20.00"), "rates and caps are shown");
        let quoted = visitor.get("/plans?plan=ACT-99&amount=80000&kind=credit_card").await;
        let result = &quoted.html[quoted.html.find("id=\"quote\"").expect("a quote")..];
        assert!(result.contains("¥480.00") && result.contains("¥79,520.00"), "{result}");
        let capped = visitor.get("/plans?plan=ACT-99&amount=80000&kind=debit_card").await;
        assert!(capped.html.contains("已封顶"), "the cap is said");
        let wrong = visitor.get("/plans?plan=ACT-99&amount=-3&kind=nfc").await;
        assert!(wrong.html.contains("aria-invalid=\"true\"") && !wrong.html.contains("id=\"quote\""), "the amount is refused at its field");
    }

    async fn over_https_cookies_are_secure_and_hsts_is_sent(db) {
        let app = spawn_app_at(db, Site { https: true, demo: false }).await;
        let mut browser = Browser::new(&app);
        let start = browser.get("/").await;
        assert_eq!(start.headers["strict-transport-security"], "max-age=31536000");
        assert!(!start.html.contains("13800000001"), "no demo logins outside the demo");
        let login = browser.post("/login", &[("phone", A), ("password", demo::MERCHANT_PASSWORD), ("next", "")]).await;
        assert_eq!(login.set_cookies.len(), 2);
        assert!(login.set_cookies.iter().all(|c| c.contains("; Secure")), "{:?}", login.set_cookies);
        // The API's cookie too.
        let api = app.login(A, demo::MERCHANT_PASSWORD).await;
        let cookie = api.headers["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("; Secure"), "{cookie}");
    }

    async fn a_failed_payout_is_sent_to_a_new_card_from_the_application_page(db) {
        let app = spawn_paying_app(db, Faults { failing_card_last4: Some("0128".into()), ..Faults::default() }).await;
        let token = app.merchant(A).await;
        let id = app.post("/api/v1/refund-applications", &token, crate::applications::body("DEMO-AUTO-01")).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.eventually(&format!("/api/v1/refund-applications/{id}"), &token, |b| b["status"] == "payout_failed").await;

        // Finance sees the failure, with the retry offered.
        let mut finance = Browser::staff(&app, "finance").await;
        let failed = finance.get("/console/payouts?status=failed").await;
        assert!(failed.html.contains(&id) && failed.html.contains("/retry"), "{}", failed.html);

        let mut browser = Browser::merchant(&app, A).await;
        let page_path = format!("/applications/{id}");
        let page = browser.get(&page_path).await;
        assert!(page.html.contains("id=\"change-card\"") && page.html.contains("打款失败"));
        let csrf = page.hidden("_csrf");
        let sent = browser.post(&format!("{page_path}/card-code"), &[("_csrf", &csrf), ("phone", A)]).await;
        assert_eq!(sent.status, 200, "{}", sent.html);
        assert!(sent.html.contains("name=\"sms_code\""));
        let code = crate::harness::code_in(&app.last_code_sms(A).await.unwrap());
        let new_card = demo::MERCHANT_B.bank_card_no;
        let wrong = browser
            .post(&format!("{page_path}/payout-card"), &[("_csrf", &csrf), ("_key", &sent.hidden("_key")), ("phone", A), ("bank_card_no", new_card), ("sms_code", "000000")])
            .await;
        assert_eq!(wrong.status, 422);
        assert!(wrong.html.contains("role=\"alert\""), "{}", wrong.html);
        let changed = browser
            .post(&format!("{page_path}/payout-card"), &[("_csrf", &csrf), ("_key", &wrong.hidden("_key")), ("phone", A), ("bank_card_no", new_card), ("sms_code", &code)])
            .await;
        assert_eq!(changed.location.as_deref(), Some(format!("{page_path}?notice=card_changed").as_str()), "{}", changed.html);
        let done = app.eventually(&format!("/api/v1/refund-applications/{id}"), &token, |b| b["status"] == "refunded").await;
        assert_eq!(done.body["payout"]["card_last4"], "0122");
        assert_eq!(app.bank_payments().await.len(), 1, "paid once, to the new card");
    }

    async fn a_new_plan_version_from_the_console_form(db) {
        let app = spawn_app(db).await;
        let mut admin = Browser::staff(&app, "admin").await;
        let page = admin.get(&format!("/console/plans?from={}", demo::ACTIVATION_PLAN)).await;
        assert_eq!(page.status, 200);
        assert!(page.html.contains("value=\"99.00\"") && page.html.contains("value=\"10000.00\""), "filled from version 1");
        let (csrf, key) = (page.hidden("_csrf"), page.hidden("_key"));
        let mut fields = vec![
            ("_csrf", csrf.as_str()),
            ("_key", key.as_str()),
            ("code", demo::ACTIVATION_PLAN),
            ("name", "激活返押金 99 元（120 天）"),
            ("deposit", "99.x"),
            ("rule_kind", "activation"),
            ("volume_target", "10,000"),
            ("window_days", "ninety"),
            ("credit_card", "true"),
            ("fee_kind", "fixed"),
            ("fee_amount", "0"),
            ("four_eyes_threshold", "500"),
        ];
        let refused = admin.post("/console/plans", &fields).await;
        assert_eq!(refused.status, 422);
        for field in ["deposit", "window_days"] {
            assert!(refused.html.contains(&format!("id=\"{field}-error\"")), "{field}: {}", refused.html);
        }
        fields[4] = ("deposit", "99");
        fields[7] = ("window_days", "120");
        fields.push(("auto_apply", "true"));
        let (key2, csrf2) = (refused.hidden("_key"), refused.hidden("_csrf"));
        fields[0] = ("_csrf", csrf2.as_str());
        fields[1] = ("_key", key2.as_str());
        let created = admin.post("/console/plans", &fields).await;
        assert_eq!(created.status, 303, "{}", created.html);
        let listed = admin.get(created.location.as_deref().unwrap()).await;
        assert!(listed.html.contains("激活返押金 99 元（120 天）") && listed.html.contains("新版本已生效"));
        let token = app.staff("admin").await;
        let versions: Vec<i64> = app.get("/api/v1/policies", &token).await.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["code"] == demo::ACTIVATION_PLAN)
            .map(|p| p["version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions.len(), 2, "{versions:?}");
        assert!(versions.contains(&2));

        // A termination plan cannot approve itself: the use case's rule, at its field.
        let page = admin.get("/console/plans").await;
        let bad = admin
            .post("/console/plans", &[("_csrf", &page.hidden("_csrf")), ("_key", &page.hidden("_key")), ("code", "T2"), ("name", "退机 2"),
                ("deposit", "100"), ("rule_kind", "termination"), ("refund_window_days", "30"), ("fee_kind", "fixed"), ("fee_amount", "0"),
                ("four_eyes_threshold", "0"), ("auto_approve", "true")])
            .await;
        assert_eq!(bad.status, 422);
        assert!(bad.html.contains("id=\"auto_approve-error\""), "{}", bad.html);
        // Only a role with the right may open it.
        let mut reviewer = Browser::staff(&app, "reviewer").await;
        assert_eq!(reviewer.get("/console/plans").await.status, 403);
    }

    async fn asked_for_more_the_merchant_supplements_from_the_application_page(db) {
        let app = spawn_app(db).await;
        let m = app.merchant(A).await;
        let reviewer = app.staff("reviewer").await;
        let id = app.post("/api/v1/refund-applications", &m, crate::applications::body("DEMO-REVIEW-01")).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let step = |s: &str| format!("/api/v1/review/applications/{id}/{s}");
        app.post(&step("claim"), &reviewer, serde_json::json!({})).await;
        let asked = app.post(&step("request-info"), &reviewer, serde_json::json!({"items": ["押金收据"], "comment": ""})).await;
        assert_eq!(asked.status, 200, "{:?}", asked.body);

        let mut browser = Browser::merchant(&app, A).await;
        let path = format!("/applications/{id}");
        let page = browser.get(&path).await;
        assert!(page.html.contains("待补充材料") && page.html.contains("/supplement"));
        let (csrf, key) = (page.hidden("_csrf"), page.hidden("_key"));
        let empty = browser
            .multipart(&format!("{path}/supplement"), &[("_csrf", &csrf), ("_key", &key), ("note", ""), ("file_kind", "purchase_voucher")], &[])
            .await;
        assert_eq!(empty.status, 422);
        assert!(empty.html.contains("id=\"note-error\"") && empty.html.contains("role=\"alert\""), "{}", empty.html);
        let sent = browser
            .multipart(
                &format!("{path}/supplement"),
                &[("_csrf", &csrf), ("_key", &empty.hidden("_key")), ("note", "收据见附件"), ("file_kind", "purchase_voucher")],
                &[("receipt.png", PNG)],
            )
            .await;
        assert_eq!(sent.location.as_deref(), Some(format!("{path}?notice=supplemented").as_str()), "{}", sent.html);
        let after = app.get(&format!("/api/v1/refund-applications/{id}"), &m).await;
        assert_eq!(after.body["status"], "submitted");
        assert_eq!(after.body["attachments"].as_array().unwrap().len(), 1);
    }

    async fn a_locked_merchant_unlocks_identity_checks_from_the_form(db) {
        let app = spawn_app(db).await;
        let token = app.merchant(A).await;
        let mut guess = crate::applications::body("DEMO-REVIEW-01");
        guess["id_card_no"] = serde_json::json!(demo::MERCHANT_B.id_card_no);
        for _ in 0..yajin_app::applications::IDENTITY_MISSES_MAX {
            app.post("/api/v1/refund-applications/preview", &token, guess.clone()).await;
        }
        let mut browser = Browser::merchant(&app, A).await;
        let locked = browser.get("/apply/DEMO-REVIEW-01").await;
        assert!(locked.html.contains("id=\"unlock\"") && !locked.html.contains("value=\"check\""), "{}", locked.html);
        let csrf = locked.hidden("_csrf");
        let sent = browser.post("/apply/DEMO-REVIEW-01/unlock-code", &[("_csrf", &csrf), ("phone", A)]).await;
        assert_eq!(sent.location.as_deref(), Some("/apply/DEMO-REVIEW-01?unlock=sent"));
        let code = crate::harness::code_in(&app.last_code_sms(A).await.unwrap());
        let wrong = browser.post("/apply/DEMO-REVIEW-01/unlock", &[("_csrf", &csrf), ("sms_code", "000000")]).await;
        assert_eq!(wrong.location.as_deref(), Some("/apply/DEMO-REVIEW-01?unlock=wrong"));
        assert!(browser.get("/apply/DEMO-REVIEW-01?unlock=wrong").await.html.contains("id=\"sms_code-error\""));
        let done = browser.post("/apply/DEMO-REVIEW-01/unlock", &[("_csrf", &csrf), ("sms_code", &code)]).await;
        assert_eq!(done.location.as_deref(), Some("/apply/DEMO-REVIEW-01?notice=unlocked"));
        let form = browser.get("/apply/DEMO-REVIEW-01?notice=unlocked").await;
        assert!(!form.html.contains("id=\"unlock\"") && form.html.contains("value=\"check\"") && form.html.contains("身份核验已解锁"), "{}", form.html);
    }

    async fn a_retry_sent_twice_from_the_console_pays_one_new_attempt(db) {
        let app = spawn_paying_app(db, Faults { failing_card_last4: Some("0128".into()), ..Faults::default() }).await;
        let token = app.merchant(A).await;
        let id = app.post("/api/v1/refund-applications", &token, crate::applications::body("DEMO-AUTO-01")).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.eventually(&format!("/api/v1/refund-applications/{id}"), &token, |b| b["status"] == "payout_failed").await;
        let mut finance = Browser::staff(&app, "finance").await;
        let page = finance.get("/console/payouts?status=failed").await;
        let payout = page.html.split("<td class=\"sn\">po_").nth(1).unwrap().split('<').next().unwrap().to_owned();
        let path = format!("/console/payouts/po_{payout}/retry");
        let form = [("_csrf", page.hidden("_csrf")), ("_key", page.hidden("_key"))];
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // A double click: the same form twice, and a third time at once from another tab.
        let first = finance.post(&path, &fields).await;
        let second = finance.post(&path, &fields).await;
        assert_eq!((first.status, first.location.as_deref()), (303, Some("/console/payouts?notice=retried")));
        assert_eq!(second.location, first.location);
        let finance_token = app.staff("finance").await;
        assert_eq!(attempts_of(&app, &finance_token, &id).await, 2, "one new attempt, not two");
        // Once that attempt has failed too, the same form (same key) still does nothing new.
        app.eventually(&format!("/api/v1/refund-applications/{id}"), &token, |b| b["status"] == "payout_failed").await;
        let again = finance.post(&path, &fields).await;
        assert_eq!(again.location, first.location);
        assert_eq!(attempts_of(&app, &finance_token, &id).await, 2);
        assert!(app.bank_payments().await.is_empty(), "the failing card was never paid");
    }
}
