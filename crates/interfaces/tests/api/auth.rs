use serde_json::json;
use yajin_app::clock::Clock;
use yajin_app::demo;
use yajin_testdb::on_both_databases;

use crate::harness::{code_in, spawn_app};

const A: &str = demo::MERCHANT_A.phone;

/// `admin` logs in with `password`, the request saying it was forwarded for `xff`.
async fn admin_login_from(app: &crate::harness::TestApp, password: &str, xff: &str) -> crate::harness::Reply {
    let body = json!({"username": "admin", "password": password});
    app.send("POST", "/api/v1/staff/auth/login", None, Some(body), &[("x-forwarded-for", xff)]).await
}

/// Merchant A logs in with `password` (and `sms_code`), forwarded for `xff`.
async fn merchant_login_from(
    app: &crate::harness::TestApp,
    password: &str,
    sms_code: Option<&str>,
    xff: &str,
) -> crate::harness::Reply {
    let mut body = json!({"phone": A, "password": password});
    if let Some(code) = sms_code {
        body["sms_code"] = json!(code);
    }
    app.send("POST", "/api/v1/auth/login", None, Some(body), &[("x-forwarded-for", xff)]).await
}

on_both_databases! {
    async fn an_account_under_attack_from_many_addresses_needs_more_than_its_password(db) {
        let app = crate::harness::spawn_app_behind_proxy(db).await;
        let sms_count = || async { app.send("GET", &format!("/api/v1/sandbox/sms?phone={A}"), None, None, &[]).await.body["items"].as_array().unwrap().len() };
        // The owner's usual network, known from a login before the attack.
        assert_eq!(merchant_login_from(&app, demo::MERCHANT_PASSWORD, None, "203.0.113.9").await.status, 200);
        // Failures from two addresses are not yet an attack; from three they are.
        for xff in ["198.51.100.1", "198.51.100.2"] {
            assert_eq!(merchant_login_from(&app, "Guess@1234", None, xff).await.status, 401);
        }
        assert_eq!(merchant_login_from(&app, demo::MERCHANT_PASSWORD, None, "192.0.2.50").await.status, 200);
        assert_eq!(merchant_login_from(&app, "Guess@1234", None, "198.51.100.3").await.status, 401);
        let sent_before = sms_count().await;
        for xff in ["198.51.100.4", "198.51.100.5"] {
            let r = merchant_login_from(&app, "Guess@1234", None, xff).await;
            assert_eq!((r.status, r.code()), (401, "invalid_credentials"), "a wrong password is only wrong");
        }
        assert_eq!(sms_count().await, sent_before, "attackers without the password never make it send a code");

        assert_eq!(merchant_login_from(&app, demo::MERCHANT_PASSWORD, None, "203.0.113.9").await.status, 200, "the owner's known network passes");
        let first = merchant_login_from(&app, demo::MERCHANT_PASSWORD, None, "192.0.2.77").await;
        assert_eq!((first.status, first.code(), first.body["sms_code_sent"].as_bool()), (401, "step_up_required", Some(true)));
        let code = code_in(&app.last_code_sms(A).await.unwrap());
        let wrong = if code == "000000" { "111111" } else { "000000" };
        assert_eq!(merchant_login_from(&app, demo::MERCHANT_PASSWORD, Some(wrong), "192.0.2.77").await.code(), "invalid_code");
        assert_eq!(merchant_login_from(&app, "Guess@1234", Some(&code), "192.0.2.78").await.code(), "invalid_credentials", "the code is no password");
        let second = merchant_login_from(&app, demo::MERCHANT_PASSWORD, Some(&code), "192.0.2.77").await;
        assert_eq!(second.status, 200, "{:?}", second.body);
        assert_eq!(merchant_login_from(&app, demo::MERCHANT_PASSWORD, None, "192.0.2.77").await.status, 200, "now a known address");
        assert_eq!(merchant_login_from(&app, demo::MERCHANT_PASSWORD, Some(&code), "192.0.2.79").await.code(), "invalid_code", "a code is spent once");

        // Staff have no phone: from a new address they wait out the attack; a known one passes.
        assert_eq!(admin_login_from(&app, demo::STAFF_PASSWORD, "203.0.113.10").await.status, 200);
        for xff in ["198.51.100.11", "198.51.100.12", "198.51.100.13"] {
            admin_login_from(&app, "guess", xff).await;
        }
        let refused = admin_login_from(&app, demo::STAFF_PASSWORD, "192.0.2.90").await;
        assert_eq!((refused.status, refused.code(), refused.body["sms_code_sent"].as_bool()), (401, "step_up_required", Some(false)));
        assert_eq!(admin_login_from(&app, demo::STAFF_PASSWORD, "203.0.113.10").await.status, 200);
        app.clock.advance_ms(yajin_app::auth::LOCK_MS + 1);
        assert_eq!(admin_login_from(&app, demo::STAFF_PASSWORD, "192.0.2.90").await.status, 200, "the attack over, the password is enough again");
    }

    async fn a_disabled_or_moved_staff_member_loses_their_rights_at_once(db) {
        let app = spawn_app(db).await;
        let reviewer = app.staff("reviewer").await;
        let approver = app.staff("approver").await;
        assert_eq!(app.get("/api/v1/review/applications", &reviewer).await.status, 200);
        // The reviewer leaves: the session they still hold stops working with the next request.
        sqlx::query("UPDATE staff SET active = 0 WHERE username = 'reviewer'").execute(app.db.pool()).await.unwrap();
        let after = app.get("/api/v1/review/applications", &reviewer).await;
        assert_eq!((after.status, after.code()), (401, "unauthenticated"));
        // The approver moves to support: the session has support's rights, not an approver's.
        sqlx::query("UPDATE staff SET role = 'support' WHERE username = 'approver'").execute(app.db.pool()).await.unwrap();
        assert_eq!(app.get("/api/v1/review/applications", &approver).await.status, 403);
        assert_eq!(app.get("/api/v1/support/tickets", &approver).await.status, 200);
    }

    async fn login_me_and_logout(db) {
        let app = spawn_app(db).await;
        let reply = app.login(A, demo::MERCHANT_PASSWORD).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["role"], "merchant");
        assert!(reply.body["expires_at"].as_str().unwrap().ends_with('Z'));
        let cookie = reply.headers["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        let token = reply.body["token"].as_str().unwrap();

        let me = app.get("/api/v1/me", token).await;
        assert_eq!(me.status, 200);
        assert_eq!(me.body["merchant_no"], "822100058120001");
        assert_eq!(me.body["phone"], "138****0001");
        assert_eq!(me.body["bank_card"], "6222 **** **** 0128");
        assert!(!me.body.to_string().contains("310115198506151236"), "no full ID number");

        assert_eq!(app.send("POST", "/api/v1/auth/logout", Some(token), None, &[]).await.status, 204);
        let after = app.get("/api/v1/me", token).await;
        assert_eq!((after.status, after.code()), (401, "unauthenticated"));
    }

    async fn wrong_and_unknown_logins_look_the_same(db) {
        let app = spawn_app(db).await;
        let wrong = app.login(A, "Wrong@12345").await;
        let unknown = app.login("13999999999", "Wrong@12345").await;
        for reply in [&wrong, &unknown] {
            assert_eq!((reply.status, reply.code()), (401, "invalid_credentials"));
            assert!(reply.is_problem());
            assert_eq!(reply.body["title"], "手机号或密码错误");
        }
        let en = app.send("POST", "/api/v1/auth/login", None, Some(json!({"phone": A, "password": "x"})), &[("accept-language", "en-US,en;q=0.9")]).await;
        assert_eq!(en.body["title"], "Wrong phone number or password");
        let missing = app.get("/api/v1/me", "not-a-token").await;
        assert_eq!((missing.status, missing.code()), (401, "unauthenticated"));
    }

    async fn failures_lock_an_address_out_not_the_owner_and_unknown_accounts_look_the_same(db) {
        use yajin_app::auth::{self, AuthError, Kind};
        let app = spawn_app(db).await;
        let try_login = |who: &'static str, password: &'static str, ip: &'static str| {
            let a = app.app.clone();
            async move { auth::login(&a, Kind::Staff, who, password.to_owned(), None, ip).await }
        };
        // An attacker at one address hammers `admin` and a name that does not exist: the
        // answers are the same, failure for failure, so they learn nothing of who exists.
        for n in 0..4 {
            for who in ["admin", "no-such-admin"] {
                assert!(matches!(try_login(who, "guess", "198.51.100.7").await, Err(AuthError::InvalidCredentials)), "{who} {n}");
            }
        }
        for who in ["admin", "no-such-admin"] {
            assert!(matches!(try_login(who, "guess", "198.51.100.7").await, Err(AuthError::Locked { .. })), "{who}");
        }
        // The attacker's address is locked out; the real admin, elsewhere, is not.
        assert!(matches!(try_login("admin", demo::STAFF_PASSWORD, "198.51.100.7").await, Err(AuthError::Locked { .. })));
        assert!(try_login("admin", demo::STAFF_PASSWORD, "203.0.113.20").await.is_ok(), "the owner from another address");
        // When the lock runs out, one more wrong password does not lock again at once.
        app.clock.advance_ms(yajin_app::auth::LOCK_MS + 1);
        assert!(matches!(try_login("admin", "guess", "198.51.100.7").await, Err(AuthError::InvalidCredentials)));
        assert!(try_login("admin", demo::STAFF_PASSWORD, "198.51.100.7").await.is_ok());
        // Phone numbers count as one however they are typed.
        let merchant = |phone: &'static str| {
            let a = app.app.clone();
            async move { auth::login(&a, Kind::Merchant, phone, "guess".to_owned(), None, "198.51.100.8").await }
        };
        for phone in ["138 0000 0001", "+86 13800000001", "138-0000-0001", "13800000001"] {
            assert!(matches!(merchant(phone).await, Err(AuthError::InvalidCredentials)), "{phone}");
        }
        assert!(matches!(merchant("13800000001").await, Err(AuthError::Locked { .. })), "five of the same number");
    }

    async fn a_forged_forwarded_for_changes_nothing_and_a_trusted_proxy_names_the_client(db) {
        // Directly exposed: a client that makes up a new X-Forwarded-For each time is still
        // one address, and its fifth failure locks it out.
        let direct = spawn_app(db.clone()).await;
        for xff in ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"] {
            assert_eq!(admin_login_from(&direct, "guess", xff).await.status, 401);
        }
        assert_eq!(admin_login_from(&direct, "guess", "198.51.100.5").await.status, 423);
        // Behind a trusted proxy: the proxy's X-Forwarded-For names each client.
        let proxied = crate::harness::spawn_app_behind_proxy(db).await;
        for _ in 0..5 {
            admin_login_from(&proxied, "guess", "198.51.100.66").await;
        }
        assert_eq!(admin_login_from(&proxied, demo::STAFF_PASSWORD, "198.51.100.66").await.status, 423, "that client is out");
        assert_eq!(admin_login_from(&proxied, demo::STAFF_PASSWORD, "203.0.113.5").await.status, 200, "the admin elsewhere is not");
    }

    async fn five_failures_lock_the_account(db) {
        let app = spawn_app(db).await;
        for _ in 0..4 {
            assert_eq!(app.login(A, "Wrong@12345").await.status, 401);
        }
        let locked = app.login(A, "Wrong@12345").await;
        assert_eq!((locked.status, locked.code()), (423, "account_locked"));
        assert!(locked.body["locked_until"].as_str().is_some());
        assert!(locked.headers.contains_key("retry-after"));
        let right_but_locked = app.login(A, demo::MERCHANT_PASSWORD).await;
        assert_eq!(right_but_locked.status, 423, "the right password does not open a locked account");
        app.clock.advance_ms(16 * 60_000);
        assert_eq!(app.login(A, demo::MERCHANT_PASSWORD).await.status, 200, "the lock ends");
    }

    async fn cookie_sessions_need_the_csrf_token(db) {
        let app = spawn_app(db).await;
        let reply = app.login(A, demo::MERCHANT_PASSWORD).await;
        let token = reply.body["token"].as_str().unwrap();
        let csrf = reply.body["csrf_token"].as_str().unwrap();
        let cookie = format!("yajin_session={token}");
        let me = app.send("GET", "/api/v1/me", None, None, &[("cookie", &cookie)]).await;
        assert_eq!(me.status, 200, "reads need no CSRF token");
        let forged = app.send("POST", "/api/v1/auth/logout", None, None, &[("cookie", &cookie)]).await;
        assert_eq!((forged.status, forged.code()), (403, "csrf_failed"));
        let wrong = app.send("POST", "/api/v1/auth/logout", None, None, &[("cookie", &cookie), ("x-csrf-token", "nope")]).await;
        assert_eq!(wrong.status, 403);
        let ok = app.send("POST", "/api/v1/auth/logout", None, None, &[("cookie", &cookie), ("x-csrf-token", csrf)]).await;
        assert_eq!(ok.status, 204);
    }

    async fn reset_a_forgotten_password_with_an_sms_code(db) {
        let app = spawn_app(db).await;
        let old_session = app.merchant(A).await;
        let sent = app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": A, "purpose": "reset_password"})), &[]).await;
        assert_eq!((sent.status, sent.body["resend_after_s"].as_i64()), (202, Some(60)));
        let again = app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": A, "purpose": "reset_password"})), &[]).await;
        assert_eq!((again.status, again.code()), (429, "too_many_requests"));
        assert!(again.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() <= 60);
        let sms = app.last_code_sms(A).await.expect("an SMS was sent");
        assert!(sms.contains("不会向您索要验证码"), "the anti-scam warning: {sms}");
        let code = code_in(&sms);
        let wrong_code = if code == "000000" { "111111" } else { "000000" };

        let reset = |code: String, password: &'static str| {
            let app = &app;
            async move {
                app.send("POST", "/api/v1/auth/password-reset", None, Some(json!({"phone": A, "code": code, "new_password": password})), &[]).await
            }
        };
        let weak = reset(code.clone(), "short").await;
        assert_eq!((weak.status, weak.code()), (422, "weak_password"));
        assert_eq!(weak.body["errors"][0]["field"], "new_password");
        let bad = reset(wrong_code.into(), "NewPass@2026").await;
        assert_eq!((bad.status, bad.code()), (422, "invalid_code"));
        assert_eq!(reset(code.clone(), "NewPass@2026").await.status, 204);
        assert_eq!(reset(code.clone(), "Other@2026x").await.code(), "invalid_code", "a code works once");

        assert_eq!(app.login(A, demo::MERCHANT_PASSWORD).await.status, 401);
        assert_eq!(app.login(A, "NewPass@2026").await.status, 200);
        assert_eq!(app.get("/api/v1/me", &old_session).await.status, 401, "old sessions end");
    }

    async fn codes_expire_and_wear_out(db) {
        let app = spawn_app(db).await;
        let ask = || app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": A, "purpose": "reset_password"})), &[]);
        assert_eq!(ask().await.status, 202);
        let code = code_in(&app.last_code_sms(A).await.unwrap());
        app.clock.advance_ms(5 * 60_000 + 1);
        let late = app.send("POST", "/api/v1/auth/password-reset", None, Some(json!({"phone": A, "code": code, "new_password": "NewPass@2026"})), &[]).await;
        assert_eq!((late.status, late.code()), (422, "invalid_code"), "expired looks like never sent");

        app.clock.advance_ms(60_000);
        assert_eq!(ask().await.status, 202);
        let code = code_in(&app.last_code_sms(A).await.unwrap());
        let wrong = if code == "999999" { "999998" } else { "999999" };
        for _ in 0..5 {
            let r = app.send("POST", "/api/v1/auth/password-reset", None, Some(json!({"phone": A, "code": wrong, "new_password": "NewPass@2026"})), &[]).await;
            assert_eq!(r.code(), "invalid_code");
        }
        let spent = app.send("POST", "/api/v1/auth/password-reset", None, Some(json!({"phone": A, "code": code, "new_password": "NewPass@2026"})), &[]).await;
        assert_eq!(spent.code(), "code_exhausted", "five wrong tries spend the code, and the merchant is told to ask again");
        assert_eq!(spent.body["title"], "验证码已失效，请重新获取");
    }

    async fn guesses_sent_all_at_once_get_five_tries_between_them(db) {
        let app = spawn_app(db).await;
        let ask = app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": A, "purpose": "reset_password"})), &[]).await;
        assert_eq!(ask.status, 202);
        let code = code_in(&app.last_code_sms(A).await.unwrap());
        // 40 different wrong codes at once, from 40 addresses (the per-address limit is not
        // what stops them): a check that read the count and compared later would let more
        // than five be compared.
        let guesses: Vec<String> = (0..40).map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000)).collect();
        let mut tries = tokio::task::JoinSet::new();
        for (i, guess) in guesses.into_iter().enumerate() {
            let a = app.app.clone();
            tries.spawn(async move {
                yajin_app::auth::reset_password(&a, A, &guess, "NewPass@2026".into(), &format!("198.51.100.{i}")).await
            });
        }
        let answers = tries.join_all().await;
        use yajin_app::auth::AuthError::{CodeExhausted, InvalidCode};
        let compared = answers.iter().filter(|a| matches!(a, Err(InvalidCode))).count();
        let refused = answers.iter().filter(|a| matches!(a, Err(CodeExhausted))).count();
        assert_eq!((compared, refused), (5, 35), "five compared and wrong, the rest told the code is worn out: {answers:?}");
        let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM sms_codes WHERE purpose = 'reset_password'")
            .fetch_one(app.db.pool()).await.unwrap();
        assert_eq!(attempts, 5, "every try beyond the fifth is refused before it is compared");
        let right = app.send("POST", "/api/v1/auth/password-reset", None, Some(json!({"phone": A, "code": code, "new_password": "NewPass@2026"})), &[]).await;
        assert_eq!(right.code(), "code_exhausted", "the code is worn out, and the merchant is told to ask again");
        assert_eq!(app.login(A, demo::MERCHANT_PASSWORD).await.status, 200, "the password never changed");
    }

    async fn a_stored_code_is_keyed_and_no_number_is_bombed(db) {
        let app = spawn_app(db).await;
        let ask = || app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": A, "purpose": "reset_password"})), &[]);
        assert_eq!(ask().await.status, 202);
        let code = code_in(&app.last_code_sms(A).await.unwrap());
        // Whoever reads sms_codes tries all 10^6 codes against the stored hash: a plain digest
        // gives the code away; the stored one is keyed.
        let (stored,): (String,) = sqlx::query_as("SELECT code_hash FROM sms_codes WHERE phone = $1")
            .bind(A)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        let plain = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("{A}:{code}").as_bytes()));
        assert_ne!(stored, plain, "the right code must not be recognisable from the table");
        // The code still works.
        let reset = app.send("POST", "/api/v1/auth/password-reset", None, Some(json!({"phone": A, "code": code, "new_password": "NewPass@2026x"})), &[]).await;
        assert_eq!(reset.status, 204, "{:?}", reset.body);

        // Someone asks again and again, waiting out each cooldown: at most ten codes a day.
        for n in 2..=10 {
            app.clock.advance_ms(61_000);
            assert_eq!(ask().await.status, 202, "code {n}");
        }
        app.clock.advance_ms(61_000);
        let capped = ask().await;
        assert_eq!((capped.status, capped.code()), (429, "too_many_requests"), "the eleventh code of the day");
        app.clock.advance_ms(86_400_000);
        assert_eq!(ask().await.status, 202, "the next day");
    }

    async fn ten_codes_a_phone_in_any_24_hours_not_per_calendar_day(db) {
        let app = spawn_app(db).await;
        // Ten minutes before midnight UTC: a calendar day would let ten codes through before
        // midnight and ten more after it.
        let into_day = app.clock.now().millis().rem_euclid(86_400_000);
        app.clock.advance_ms(86_400_000 - into_day - 600_000);
        let ask = || app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": A, "purpose": "reset_password"})), &[]);
        for n in 1..=10 {
            assert_eq!(ask().await.status, 202, "code {n}");
            if n <= 3 {
                // Asking again inside the cooldown is refused and does not use up a code of the
                // day. (Not every time: an address may ask 20 times an hour.)
                assert_eq!(ask().await.status, 429, "code {n} again at once");
            }
            app.clock.advance_ms(61_000);
        }
        assert_eq!(app.clock.now().millis().rem_euclid(86_400_000), 10_000, "ten seconds after midnight");
        let capped = ask().await;
        assert_eq!((capped.status, capped.code()), (429, "too_many_requests"), "the eleventh code in 24 hours");
        // The first code leaves the 24 hours at 23:50 tomorrow: 23 h 49 min 50 s from now.
        assert_eq!(capped.headers["retry-after"].to_str().unwrap(), "85790");
        app.clock.advance_ms(85_789_000);
        assert_eq!(ask().await.status, 429, "a second before the first code is 24 hours old");
        app.clock.advance_ms(1_000);
        assert_eq!(ask().await.status, 202, "24 hours after the first code");
    }

    async fn password_resets_from_one_address_are_limited(db) {
        let app = spawn_app(db).await;
        let try_one = || app.send("POST", "/api/v1/auth/password-reset", None, Some(json!({"phone": A, "code": "123456", "new_password": "NewPass@2026x"})), &[]);
        for _ in 0..yajin_app::auth::RESETS_PER_IP_PER_HOUR {
            assert_eq!(try_one().await.status, 422);
        }
        let limited = try_one().await;
        assert_eq!((limited.status, limited.code()), (429, "too_many_requests"));
        assert!(limited.headers.get("retry-after").is_some());
    }

    async fn unknown_phones_get_the_same_answer_and_no_sms(db) {
        let app = spawn_app(db).await;
        let r = app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": "13912345678", "purpose": "reset_password"})), &[]).await;
        assert_eq!((r.status, r.body["resend_after_s"].as_i64()), (202, Some(60)));
        assert_eq!(app.last_code_sms("13912345678").await, None);
        let bad = app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": "12345", "purpose": "reset_password"})), &[]).await;
        assert_eq!((bad.status, bad.code(), bad.body["errors"][0]["field"].as_str()), (422, "validation_failed", Some("phone")));
        let purpose = app.send("POST", "/api/v1/auth/sms-codes", None, Some(json!({"phone": A, "purpose": "login"})), &[]).await;
        assert_eq!(purpose.body["errors"][0]["field"], "purpose");
    }

    async fn garbage_gets_a_clear_problem_never_a_500(db) {
        let app = spawn_app(db).await;
        let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
            ("application/json", b"{".to_vec(), 400, "malformed_json"),
            ("application/json", b"".to_vec(), 400, "malformed_json"),
            ("application/json", b"[1,2]".to_vec(), 422, "invalid_body"),
            ("application/json", b"{\"phone\":\"\xff\xfe\",\"password\":\"x\"}".to_vec(), 400, "malformed_json"),
            ("application/json", br#"{"phone":13800000001,"password":"x"}"#.to_vec(), 422, "invalid_body"),
            ("application/json", br#"{"phone":"13800000001","password":"x","admin":true}"#.to_vec(), 422, "invalid_body"),
            ("application/json", br#"{"phone":"13800000001"}"#.to_vec(), 422, "invalid_body"),
            ("text/plain", br#"{"phone":"13800000001","password":"x"}"#.to_vec(), 415, "unsupported_media_type"),
        ];
        for (content_type, body, status, code) in cases {
            let r = app.raw("POST", "/api/v1/auth/login", None, content_type, body).await;
            assert_eq!((r.status, r.code()), (status, code), "{:?}", r.body);
            assert!(r.is_problem());
        }
        // Too large: refused from the Content-Length alone, before any body is read.
        let raw = app.raw_http("POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n").await;
        assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
        assert!(raw.contains("application/problem+json") && raw.contains("payload_too_large"), "{raw}");
        let unknown = app.raw("POST", "/api/v1/auth/login", None, "application/json", br#"{"phone":"1","password":"x","admin":true}"#.to_vec()).await;
        assert_eq!(unknown.body["errors"][0]["field"], "admin");
        let route = app.get("/api/v1/nowhere", "x").await;
        assert_eq!((route.status, route.code()), (404, "not_found"));
        assert!(route.is_problem());
        let method = app.send("DELETE", "/api/v1/auth/login", None, None, &[]).await;
        assert_eq!((method.status, method.code()), (405, "method_not_allowed"));
    }
}
