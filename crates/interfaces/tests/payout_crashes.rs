//! Exactly-once payouts under crashes and competition, counted at the bank.
//!
//! The payout path runs in `yajin worker` processes (the same code `serve` runs in its
//! background task) against a real database; the test kills them with SIGKILL at random
//! moments — before the bank call, during it, after it, before the outcome is stored — and
//! starts them again. The sandbox bank (in this process, so it survives) answers slowly, holds
//! back some answers after paying (timeouts) and, in the two-worker race, sends duplicate,
//! reordered callbacks to a Yajin HTTP server (also in this process) that applies them while
//! the workers run; in the kill test it sends none, so a killed worker's missed outcome can only
//! be recovered by asking the bank. At the
//! end every approved refund must be paid exactly once: one payment per application at the
//! bank, each application `refunded` once, the ledger balanced.
//!
//! Sizes are bounded for CI (`YAJIN_CRASH_CYCLES`, `YAJIN_CRASH_REFUNDS` and
//! `YAJIN_RACE_REFUNDS` raise them for a longer run).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use yajin::http::{self, AppState, ChannelSecret, Shared};
use yajin_app::applications::{self, ApplyInput};
use yajin_app::idempotency::Replay;
use yajin_app::{demo, App, SystemClock};
use yajin_channels::sms::SandboxSms;
use yajin_sandbox_bank::Faults;
use yajin_store::pii::{MasterKey, Vault};
use yajin_testdb::TestDb;

const SECRET: &str = "crash-test-channel-secret-32-bytes!";
const PII_KEY: &str = "3333333333333333333333333333333333333333333333333333333333333333";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct World {
    test: TestDb,
    bank: String,
    client: reqwest::Client,
    applications: Vec<String>,
}

/// A database with `refunds` approved refunds waiting to be paid, a bank with `faults`, and a
/// Yajin server taking the bank's callbacks (when `callbacks`; else outcomes are learnt only
/// by asking the bank, the path a crash most often leaves).
async fn world(test: TestDb, refunds: usize, faults: Faults, callbacks: bool) -> World {
    let vault = Vault::new(&MasterKey::from_hex(PII_KEY).unwrap(), &[]);
    let app = App::new(test.db.clone(), vault, Arc::new(SystemClock), Arc::new(SandboxSms));
    demo::seed(&app).await.unwrap();
    let sns = demo::add_eligible_terminals(&app, "LOAD", refunds).await.unwrap();
    let merchant = {
        let mut conn = test.db.pool().acquire().await.unwrap();
        yajin_store::records::merchants::by_phone(&mut conn, demo::MERCHANT_A.phone).await.unwrap().unwrap().id
    };
    let mut ids = Vec::new();
    for sn in sns {
        let input = ApplyInput {
            terminal_sn: sn,
            phone: demo::MERCHANT_A.phone.into(),
            id_card_no: demo::MERCHANT_A.id_card_no.into(),
            bank_card_no: demo::MERCHANT_A.bank_card_no.into(),
            reason: "target_reached".into(),
            note: String::new(),
            attachment_ids: Vec::new(),
            deduct_outstanding: false,
        };
        let created = applications::submit(&app, &merchant, &input, Replay::none()).await.unwrap().done().unwrap();
        assert_eq!(created.application.status.as_str(), "approved");
        ids.push(created.application.id);
    }

    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_address = server.local_addr().unwrap();
    let state = AppState::from(Shared {
        app: app.clone(),
        metrics: http::recorder(),
        started: Arc::new(Instant::now()),
        sandbox: true,
        channel: Some(ChannelSecret { name: "sandbox".into(), secret: SECRET.as_bytes().to_vec() }),
        site: Default::default(),
        trusted_proxies: Arc::new(Vec::new()),
    });
    let service = yajin::router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(server, service).await });

    let bank_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bank = format!("http://{}", bank_listener.local_addr().unwrap());
    let config = yajin_sandbox_bank::Config {
        data_dir: std::env::temp_dir().join(format!("yajin-crash-bank-{}", uuid::Uuid::new_v4().simple())),
        callback_url: callbacks.then(|| format!("http://{server_address}/api/v1/channels/sandbox/callbacks")),
        secret: SECRET.as_bytes().to_vec(),
        seed: 11,
        faults,
    };
    let router = yajin_sandbox_bank::router(config).await.unwrap();
    tokio::spawn(async move { axum::serve(bank_listener, router).await });
    World { test, bank, client: reqwest::Client::new(), applications: ids }
}

impl World {
    fn worker(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_yajin"))
            .args(["worker", "--database-url", &self.test.url, "--lease-ms", "400"])
            .env("YAJIN_PII_KEY", PII_KEY)
            .env("YAJIN_PAYOUT_CHANNEL_URL", &self.bank)
            .env("YAJIN_PAYOUT_CHANNEL_SECRET", SECRET)
            .env("YAJIN_PAYOUT_CHANNEL_TIMEOUT_MS", "300")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start yajin worker")
    }

    async fn refunded(&self) -> i64 {
        let row: (i64,) = sqlx::query_as(
            "SELECT count(*) FROM refund_applications a JOIN terminals t ON t.id = a.terminal_id
             WHERE a.status = 'refunded' AND t.sn LIKE 'LOAD-%'",
        )
        .fetch_one(self.test.db.pool())
        .await
        .unwrap();
        row.0
    }

    /// The payout jobs not done: their status, attempts, seconds until they are due and last error.
    async fn jobs_left(&self) -> Vec<(String, i64, f64, Option<String>)> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let rows: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT status, attempts, run_at, last_error FROM jobs WHERE kind = 'payout' AND status <> 'done'",
        )
        .fetch_all(self.test.db.pool())
        .await
        .unwrap();
        rows.into_iter()
            .map(|(status, attempts, run_at, error)| (status, attempts, (run_at - now) as f64 / 1e3, error))
            .collect()
    }

    /// Runs `workers` workers until every refund is paid (or `limit` passes).
    async fn drain(&self, workers: usize, limit: Duration) {
        let mut running: Vec<Child> = (0..workers).map(|_| self.worker()).collect();
        let deadline = Instant::now() + limit;
        while self.refunded().await < self.applications.len() as i64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for child in &mut running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every approved refund paid exactly once, the ledger balanced; returns the payments seen.
    async fn assert_paid_exactly_once(&self) -> usize {
        let body: serde_json::Value =
            self.client.get(format!("{}/sandbox/payments", self.bank)).send().await.unwrap().json().await.unwrap();
        let mut per_reference: HashMap<String, usize> = HashMap::new();
        for p in body["items"].as_array().unwrap() {
            *per_reference.entry(p["reference"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        let doubles: Vec<_> = per_reference.iter().filter(|(_, n)| **n > 1).collect();
        assert!(doubles.is_empty(), "double payouts at the bank: {doubles:?}");
        for id in &self.applications {
            assert_eq!(per_reference.get(id), Some(&1), "application {id} was not paid exactly once");
        }
        assert_eq!(
            self.refunded().await,
            self.applications.len() as i64,
            "every refund is refunded; the jobs left: {:?}",
            self.jobs_left().await
        );
        let steps: (i64,) = sqlx::query_as(
            "SELECT count(*) FROM application_events e JOIN refund_applications a ON a.id = e.application_id
             JOIN terminals t ON t.id = a.terminal_id WHERE e.to_status = 'refunded' AND t.sn LIKE 'LOAD-%'",
        )
        .fetch_one(self.test.db.pool())
        .await
        .unwrap();
        assert_eq!(steps.0 as usize, self.applications.len(), "each refunded once on its timeline");
        let succeeded: (i64,) = sqlx::query_as("SELECT count(*) FROM payouts WHERE status = 'succeeded'")
            .fetch_one(self.test.db.pool())
            .await
            .unwrap();
        assert_eq!(succeeded.0 as usize, self.applications.len(), "one successful payout each");
        let mut conn = self.test.db.pool().acquire().await.unwrap();
        assert_eq!(yajin_store::ledger::verify(&mut conn).await.unwrap(), [], "the ledger balances");
        per_reference.values().sum()
    }
}

fn crash_faults() -> Faults {
    Faults {
        latency_ms: 60,
        timeout_rate: 0.2,
        hold_ms: 600,
        error_rate: 0.1,
        duplicate_callback_rate: 0.3,
        reorder_callbacks: true,
        ..Faults::default()
    }
}

async fn kill_and_restart(test: TestDb, name: &str) {
    let (cycles, refunds) = (setting("YAJIN_CRASH_CYCLES", 100), setting("YAJIN_CRASH_REFUNDS", 120));
    // No callbacks: every outcome a killed worker missed must be recovered by asking the bank.
    let world = world(test, refunds, crash_faults(), false).await;
    let started = Instant::now();
    for _ in 0..cycles {
        let mut worker = world.worker();
        let life = rand::thread_rng().gen_range(20..250);
        tokio::time::sleep(Duration::from_millis(life)).await;
        worker.kill().expect("SIGKILL the worker");
        worker.wait().unwrap();
    }
    let killed_at = world.refunded().await;
    // Each kill counts an attempt for every job the worker held (16 at once), so by now most
    // jobs wait out the longest backoff before their next look, and a look that meets one of
    // the bank's faults waits as long again: three such waits in a row are possible.
    world.drain(1, Duration::from_millis(4 * yajin_app::backoff::CAP_MS as u64)).await;
    let payments = world.assert_paid_exactly_once().await;
    eprintln!(
        "{name}: {cycles} kill -9 cycles, {refunds} refunds ({killed_at} paid while killing), {payments} payments at the bank, doubles 0, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_workers_pay_every_refund_exactly_once_on_sqlite() {
    kill_and_restart(TestDb::sqlite().await, "SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_workers_pay_every_refund_exactly_once_on_postgres() {
    let Some(test) = TestDb::postgres().await else { return };
    kill_and_restart(test, "PostgreSQL").await;
}

/// Two worker processes on one PostgreSQL, hundreds of refunds, a bank that times out and
/// repeats its callbacks: each refund paid once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_postgres_pay_each_refund_once() {
    let Some(test) = TestDb::postgres().await else { return };
    let refunds = setting("YAJIN_RACE_REFUNDS", 500);
    let faults = Faults {
        timeout_rate: 0.1,
        hold_ms: 600,
        duplicate_callback_rate: 0.5,
        reorder_callbacks: true,
        ..Faults::default()
    };
    let world = world(test, refunds, faults, true).await;
    let started = Instant::now();
    world.drain(2, Duration::from_secs(150)).await;
    let payments = world.assert_paid_exactly_once().await;
    eprintln!(
        "two workers: {refunds} refunds, {payments} payments at the bank, doubles 0, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
