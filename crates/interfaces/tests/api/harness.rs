use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use yajin::http::{self, AppState, Shared};
use yajin_app::clock::ManualClock;
use yajin_app::{demo, App, Clock, SystemClock};
use yajin_channels::gateway::PlainHttp;
use yajin_channels::payout::HttpChannel;
use yajin_channels::sms::SandboxSms;
use yajin_sandbox_bank::Faults;
use yajin_store::pii::{MasterKey, Vault};
use yajin_store::Db;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub clock: Arc<ManualClock>,
    pub app: App,
    /// The sandbox bank's URL, when the app pays through one.
    pub bank: Option<String>,
}

/// The shared secret of the test channel.
pub const CHANNEL_SECRET: &[u8] = b"test-channel-secret-of-32-bytes!";

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn is_problem(&self) -> bool {
        self.headers.get("content-type").is_some_and(|v| v == "application/problem+json")
    }
}

/// Starts Yajin over `db` with the demo data, on a clock that stands still until moved.
pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, true).await
}

/// As [`spawn_app`], with or without the sandbox (the SMS inbox over HTTP).
pub async fn spawn_app_with(db: Db, sandbox: bool) -> TestApp {
    start(db, sandbox, None, DEMO_SITE).await
}

/// As [`spawn_app`], reached as `site` says (over https, say).
pub async fn spawn_app_at(db: Db, site: yajin::http::Site) -> TestApp {
    start_with(db, true, None, site, Vec::new()).await
}

/// As [`spawn_app`], behind a proxy at 127.0.0.1 whose `X-Forwarded-For` is believed.
pub async fn spawn_app_behind_proxy(db: Db) -> TestApp {
    start_with(db, true, None, DEMO_SITE, vec!["127.0.0.1".parse().unwrap()]).await
}

const DEMO_SITE: yajin::http::Site = yajin::http::Site { https: false, demo: true };

/// As [`spawn_app`], paying through a sandbox bank with these faults, with a payout worker
/// running (on the real clock: backoffs must pass).
pub async fn spawn_paying_app(db: Db, faults: Faults) -> TestApp {
    start(db, true, Some(Bank { faults, worker: true, callbacks: true }), DEMO_SITE).await
}

/// How a test's sandbox bank is wired.
pub struct Bank {
    pub faults: Faults,
    /// A payout worker runs in the background (else the test drives one).
    pub worker: bool,
    /// The bank sends callbacks (else outcomes are learnt by asking it).
    pub callbacks: bool,
}

/// As [`spawn_paying_app`], wired as `bank` says.
pub async fn spawn_app_with_bank(db: Db, bank: Bank) -> TestApp {
    start(db, true, Some(bank), DEMO_SITE).await
}

/// A channel to the test's bank, for a test that drives the worker itself.
pub fn channel_to(bank: &str, timeout: Duration) -> HttpChannel {
    HttpChannel::new("sandbox", bank, CHANNEL_SECRET, timeout, PlainHttp::LoopbackOnly).unwrap()
}

async fn start(db: Db, sandbox: bool, bank: Option<Bank>, site: yajin::http::Site) -> TestApp {
    start_with(db, sandbox, bank, site, Vec::new()).await
}

/// The PII key every test app uses unless it says otherwise.
pub const TEST_KEY: &str = "3333333333333333333333333333333333333333333333333333333333333333";

/// An app whose vault has the `current` PII key and the `previous` ones (a rotation), its
/// lasting secrets unlocked from the database as `serve` does.
pub async fn spawn_app_with_keys(db: Db, current: &str, previous: &[&str]) -> TestApp {
    start_keyed(db, true, None, DEMO_SITE, Vec::new(), (current, previous)).await
}

async fn start_with(
    db: Db,
    sandbox: bool,
    bank: Option<Bank>,
    site: yajin::http::Site,
    trusted_proxies: Vec<std::net::IpAddr>,
) -> TestApp {
    start_keyed(db, sandbox, bank, site, trusted_proxies, (TEST_KEY, &[])).await
}

async fn start_keyed(
    db: Db,
    sandbox: bool,
    bank: Option<Bank>,
    site: yajin::http::Site,
    trusted_proxies: Vec<std::net::IpAddr>,
    (current, previous): (&str, &[&str]),
) -> TestApp {
    let clock = Arc::new(ManualClock::at(SystemClock.now()));
    let previous: Vec<MasterKey> = previous.iter().map(|k| MasterKey::from_hex(k).unwrap()).collect();
    let vault = Vault::new(&MasterKey::from_hex(current).unwrap(), &previous);
    let vault = yajin_app::keys::unlock(&db, vault, clock.now().millis()).await.expect("keys unlock");
    let time: Arc<dyn Clock> = if bank.is_some() { Arc::new(SystemClock) } else { clock.clone() };
    let app = App::new(db.clone(), vault, time, Arc::new(SandboxSms));
    demo::seed(&app).await.expect("demo data");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut channel = None;
    let mut bank_url = None;
    if let Some(Bank { faults, worker, callbacks }) = bank {
        let bank_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", bank_listener.local_addr().unwrap());
        let dir = std::env::temp_dir().join(format!("yajin-bank-{}", uuid::Uuid::new_v4().simple()));
        let config = yajin_sandbox_bank::Config {
            data_dir: dir,
            callback_url: callbacks.then(|| format!("http://{address}/api/v1/channels/sandbox/callbacks")),
            secret: CHANNEL_SECRET.to_vec(),
            seed: 7,
            faults,
        };
        let router = yajin_sandbox_bank::router(config).await.unwrap();
        tokio::spawn(async move { axum::serve(bank_listener, router).await });
        let pay =
            HttpChannel::new("sandbox", &url, CHANNEL_SECRET, Duration::from_millis(1_500), PlainHttp::LoopbackOnly)
                .unwrap();
        if worker {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            // Never stopped: the worker ends with the test's runtime.
            std::mem::forget(stop);
            tokio::spawn(yajin_app::worker::work(
                app.clone(),
                Arc::new(pay),
                "test-worker".into(),
                5_000,
                yajin_app::worker::JOBS_AT_ONCE,
                stopped,
            ));
        }
        channel = Some(http::ChannelSecret { name: "sandbox".into(), secret: CHANNEL_SECRET.to_vec() });
        bank_url = Some(url);
    }
    let state = AppState::from(Shared {
        app: app.clone(),
        metrics: http::recorder(),
        started: Arc::new(Instant::now()),
        sandbox,
        channel,
        site,
        trusted_proxies: Arc::new(trusted_proxies),
    });
    let service = yajin::router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    TestApp { base: format!("http://{address}"), client: reqwest::Client::new(), db, clock, app, bank: bank_url }
}

impl TestApp {
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (k, v) in headers {
            request = request.header(*k, HeaderValue::from_str(v).unwrap());
        }
        Self::reply(request.send().await.expect("request")).await
    }

    pub async fn raw(&self, method: &str, path: &str, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Reply {
        self.raw_with(method, path, token, content_type, body, &[]).await
    }

    /// As [`TestApp::raw`], with more headers.
    pub async fn raw_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (k, v) in headers {
            request = request.header(*k, HeaderValue::from_str(v).unwrap());
        }
        Self::reply(request.header("content-type", content_type).body(body).send().await.expect("request")).await
    }

    /// Writes `request` on a fresh connection and returns everything the server answers.
    pub async fn raw_http(&self, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.base.trim_start_matches("http://")).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body =
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send("GET", path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send("POST", path, Some(token), Some(body), &[]).await
    }

    pub async fn login(&self, phone: &str, password: &str) -> Reply {
        self.send(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"phone": phone, "password": password})),
            &[],
        )
        .await
    }

    /// Logs a demo merchant in and returns the bearer token.
    pub async fn merchant(&self, phone: &str) -> String {
        let reply = self.login(phone, demo::MERCHANT_PASSWORD).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["token"].as_str().unwrap().to_owned()
    }

    /// Logs a staff member in (demo password) and returns the bearer token.
    pub async fn staff(&self, username: &str) -> String {
        let reply = self
            .send(
                "POST",
                "/api/v1/staff/auth/login",
                None,
                Some(serde_json::json!({"username": username, "password": demo::STAFF_PASSWORD})),
                &[],
            )
            .await;
        assert_eq!(reply.status, 200, "{username}: {:?}", reply.body);
        reply.body["token"].as_str().unwrap().to_owned()
    }

    /// GETs `path` until `done` holds for the body (15 s at most): for what the payout worker
    /// and the bank's callbacks do in the background.
    pub async fn eventually(&self, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Reply {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let reply = self.get(path, token).await;
            if done(&reply.body) {
                return reply;
            }
            assert!(Instant::now() < deadline, "{path} never got there: {:?}", reply.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every payment the sandbox bank made: `(payout_id, reference, amount_fen)`.
    pub async fn bank_payments(&self) -> Vec<(String, String, i64)> {
        let url = format!("{}/sandbox/payments", self.bank.as_deref().expect("a paying app"));
        let body: Value = self.client.get(url).send().await.unwrap().json().await.unwrap();
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let text = |k: &str| p[k].as_str().unwrap().to_owned();
                (text("payout_id"), text("reference"), p["amount_fen"].as_i64().unwrap())
            })
            .collect()
    }

    /// The newest sandbox SMS to a phone that carries a verification code (notices are texted
    /// too, by the worker, whenever it gets to them).
    pub async fn last_code_sms(&self, phone: &str) -> Option<String> {
        let reply = self.send("GET", &format!("/api/v1/sandbox/sms?phone={phone}"), None, None, &[]).await;
        reply.body["items"]
            .as_array()?
            .iter()
            .filter_map(|m| m["text"].as_str())
            .find(|t| t.contains("验证码"))
            .map(str::to_owned)
    }
}

pub fn code_in(sms: &str) -> String {
    sms.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).expect("a 6-digit code").to_owned()
}
