//! Throughput and latency of the HTTP API, measured in-process over a real socket.
//!
//!     cargo bench -p yajin --bench http                 # SQLite in a temporary folder
//!     cargo bench -p yajin --bench http -- --postgres   # a fresh PostgreSQL database
//!
//! Prints one JSON line per measurement. Baselines come from the same machine in the same
//! run: ../shared/tools/sqlite-commit-rate for SQLite, `pgbench -N -c 16` for PostgreSQL
//! (see docs/benchmarks.md for the commands and the figures).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use yajin::http::{self, AppState, Shared};
use yajin_app::provisioning::{self, DepositInput, TerminalInput};
use yajin_app::{demo, Actor, App, SystemClock};
use yajin_channels::sms::SandboxSms;
use yajin_core::eligibility::TerminalStatus;
use yajin_core::{Fen, Timestamp};
use yajin_store::pii::{MasterKey, Vault};
use yajin_testdb::TestDb;

const CONCURRENCY: usize = 32;
const SECONDS: u64 = 8;
const SUBMIT_TERMINALS: usize = 4_000;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let postgres = std::env::args().any(|a| a == "--postgres");
    let test_db =
        if postgres { TestDb::postgres().await.expect("PostgreSQL for --postgres") } else { TestDb::sqlite().await };
    let backend = test_db.db.backend().name();
    let vault = Vault::new(&MasterKey::generate(), &[]);
    let app = App::new(test_db.db.clone(), vault, Arc::new(SystemClock), Arc::new(SandboxSms));
    demo::seed(&app).await.expect("demo data");
    let base = serve(app.clone()).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().unwrap();
    let token = login(&client, &base).await;

    let devices = format!("{base}/api/v1/terminals");
    let max = closed_loop(&client, &devices, &token, None).await;
    report(backend, "my_devices_max", &max);
    let half_rate = max.per_second / 2.0;
    let half = closed_loop(&client, &devices, &token, Some(half_rate)).await;
    report(backend, "my_devices_half_load", &half);

    let sns = seed_terminals(&app).await;
    let submits = submit_load(&client, &base, &token, sns).await;
    report(backend, "refund_submit", &submits);
}

async fn serve(app: App) -> String {
    let state = AppState::from(Shared {
        app,
        metrics: http::recorder(),
        started: Arc::new(Instant::now()),
        sandbox: true,
        channel: None,
        site: Default::default(),
        trusted_proxies: Arc::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = yajin::router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    format!("http://{address}")
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let body = json!({"phone": demo::MERCHANT_A.phone, "password": demo::MERCHANT_PASSWORD});
    let r: serde_json::Value =
        client.post(format!("{base}/api/v1/auth/login")).json(&body).send().await.unwrap().json().await.unwrap();
    r["token"].as_str().unwrap().to_owned()
}

struct Measurement {
    requests: usize,
    errors: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn report(backend: &str, name: &str, m: &Measurement) {
    let line = json!({"backend": backend, "measure": name, "requests": m.requests, "errors": m.errors,
        "per_second": m.per_second.round(), "p50_ms": (m.p50_ms * 100.0).round() / 100.0, "p99_ms": (m.p99_ms * 100.0).round() / 100.0,
        "concurrency": CONCURRENCY, "seconds": SECONDS});
    println!("{line}");
}

fn summarise(mut latencies: Vec<f64>, errors: usize, elapsed: Duration) -> Measurement {
    latencies.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Measurement {
        requests: latencies.len(),
        errors,
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    }
}

/// GETs `url` from CONCURRENCY workers for SECONDS; with `rate`, the workers together pace
/// themselves to that many requests per second (for latency at a given load).
async fn closed_loop(client: &reqwest::Client, url: &str, token: &str, rate: Option<f64>) -> Measurement {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(SECONDS);
    let errors = Arc::new(AtomicUsize::new(0));
    let interval = rate.map(|r| Duration::from_secs_f64(CONCURRENCY as f64 / r));
    let mut workers = Vec::new();
    for i in 0..CONCURRENCY {
        let (client, url, token, errors) = (client.clone(), url.to_owned(), token.to_owned(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut next =
                Instant::now() + interval.map_or(Duration::ZERO, |d| d.mul_f64(i as f64 / CONCURRENCY as f64));
            while Instant::now() < deadline {
                if let Some(d) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += d;
                }
                let t = Instant::now();
                match client.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    summarise(all, errors.load(Ordering::Relaxed), started.elapsed())
}

/// Terminals for merchant A, each eligible for one termination refund that needs review.
async fn seed_terminals(app: &App) -> Vec<String> {
    let mut conn = app.db.pool().acquire().await.unwrap();
    let a = yajin_store::records::merchants::by_phone(&mut conn, demo::MERCHANT_A.phone).await.unwrap().unwrap();
    drop(conn);
    let now = app.clock.now();
    let mut sns = Vec::with_capacity(SUBMIT_TERMINALS);
    for i in 0..SUBMIT_TERMINALS {
        let sn = format!("BENCH-{i:05}");
        let input = TerminalInput {
            merchant_id: a.id.clone(),
            sn: sn.clone(),
            terminal_id: format!("X{i:07}"),
            model: "P2".into(),
            plan_code: demo::TERMINATION_PLAN.into(),
            status: TerminalStatus::Terminated,
            bound_at: now.plus_days(-100),
            activated_at: Some(now.plus_days(-99)),
            terminated_at: Some(now.plus_days(-1)),
            device_returned_at: Some(now.plus_days(-1)),
            deposit: Some(DepositInput {
                amount: Fen::yuan(299),
                route: "card",
                route_ref: sn.clone(),
                collected_at: Timestamp::from_millis(0),
            }),
        };
        provisioning::create_terminal(app, &Actor::system(), input).await.unwrap();
        sns.push(sn);
    }
    sns
}

async fn submit_load(client: &reqwest::Client, base: &str, token: &str, sns: Vec<String>) -> Measurement {
    let queue = Arc::new(std::sync::Mutex::new(sns));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(SECONDS);
    let errors = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, url, token, queue, errors) = (
            client.clone(),
            format!("{base}/api/v1/refund-applications"),
            token.to_owned(),
            queue.clone(),
            errors.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let Some(sn) = queue.lock().unwrap().pop() else { break };
                let body = json!({"terminal_sn": sn, "phone": demo::MERCHANT_A.phone, "id_card_no": demo::MERCHANT_A.id_card_no,
                    "bank_card_no": demo::MERCHANT_A.bank_card_no, "reason": "stop_using"});
                let t = Instant::now();
                match client.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    summarise(all, errors.load(Ordering::Relaxed), started.elapsed())
}
