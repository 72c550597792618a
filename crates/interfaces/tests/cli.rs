//! The `yajin` binary as a newcomer and an operator meet it: it starts with demo data on
//! SQLite and on PostgreSQL, answers health, readiness and metrics, stops cleanly on SIGTERM,
//! and refuses bad configuration with one clear line and a non-zero exit.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use yajin_testdb::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_yajin");
/// The schema version this build migrates to (the same on both databases).
const HEAD: i64 = 16;

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("yajin-cli-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        // Owner-only, as a data folder should be (yajin warns about any other).
        #[cfg(unix)]
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `yajin serve` on a free port and waits for its banner.
    fn start(data_dir: &TempDir, extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir.0)
            .args(extra)
            .env_remove("YAJIN_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn yajin");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Yajin is running at ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(90)).expect("yajin printed its URL");
        Server { child, base }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let r = reqwest::get(&url).await.expect("request");
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        for _ in 0..150 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill().unwrap();
        panic!("yajin did not stop within 15 s of SIGTERM");
    }
}

/// A test that fails halfway leaves no server running (it would write into later runs' logs).
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn yajin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("YAJIN_DATABASE_URL").env_remove("YAJIN_LISTEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run yajin")
}

fn assert_one_line_failure(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("yajin: ") && lines[0].contains(needle), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn check_running(server: &Server, database: &str) {
    assert_eq!(server.get("/healthz"), (200, r#"{"status":"ok"}"#.into()));
    let (status, body) = server.get("/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!(r#""database":"{database}""#)) && body.contains(&format!(r#""schema_version":{HEAD}"#)),
        "{body}"
    );
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{metrics}");
    assert_eq!(server.get("/no/such/page").0, 404);
}

#[test]
fn serves_the_demo_on_sqlite_and_restarts_on_the_same_data() {
    let dir = TempDir::new();
    let server = Server::start(&dir, &["--demo"]);
    check_running(&server, "sqlite");
    assert!(server.stop().success(), "a graceful stop exits 0");
    assert!(dir.0.join("yajin.db").exists() && dir.0.join("pii.key").exists());
    // The second start finds the demo data already there and the same key.
    let server = Server::start(&dir, &["--demo"]);
    assert_eq!(server.get("/healthz").0, 200);
    assert!(server.stop().success());
}

#[test]
fn serves_the_demo_on_postgres() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(pg) = rt.block_on(TestDb::postgres_unmigrated()) else {
        return;
    };
    let dir = TempDir::new();
    let server = Server::start(&dir, &["--demo", "--database-url", &pg.url]);
    check_running(&server, "postgres");
    assert!(server.stop().success());
    drop(pg);
}

#[test]
fn migrate_creates_and_reports_the_schema() {
    let dir = TempDir::new();
    let out = yajin(&["migrate", "--data-dir", dir.0.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("sqlite database at schema version {HEAD}"));
}

#[test]
fn bad_configuration_is_one_clear_line_and_exit_2() {
    let dir = TempDir::new();
    let d = dir.0.to_str().unwrap();
    assert_one_line_failure(
        &yajin(&["serve", "--data-dir", d, "--listen", "nonsense"], &[]),
        2,
        "listen address \"nonsense\"",
    );
    assert_one_line_failure(&yajin(&["serve", "--data-dir", d], &[("YAJIN_LISTEN", "1.2.3.4")]), 2, "YAJIN_LISTEN");
    assert_one_line_failure(&yajin(&["serve", "--data-dir", d], &[]), 2, "sms_provider is not set");
    assert_one_line_failure(&yajin(&["serve", "--data-dir", d], &[("YAJIN_PII_KEY", "abc")]), 2, "64 hex digits");
    assert_one_line_failure(&yajin(&["migrate", "--database-url", "mysql://x"], &[]), 2, "sqlite:// or postgres://");
    let config = dir.0.join("yajin.toml");
    std::fs::write(&config, "lisen = \"127.0.0.1:1\"\n").unwrap();
    assert_one_line_failure(&yajin(&["serve", "--config", config.to_str().unwrap()], &[]), 2, "unknown field `lisen`");
    std::fs::write(&config, "listen = [1, 2\n").unwrap();
    assert_one_line_failure(&yajin(&["serve", "--config", config.to_str().unwrap()], &[]), 2, "yajin.toml");
    assert_one_line_failure(&yajin(&["serve", "--config", "/no/such/file.toml"], &[]), 2, "cannot read config file");
    assert!(std::fs::read_dir(&dir.0).unwrap().all(|e| e.unwrap().file_name() == "yajin.toml"), "nothing was created");
}

#[test]
fn an_unreachable_database_is_one_clear_line_and_exit_1() {
    let out = yajin(&["migrate", "--database-url", "postgres://postgres@127.0.0.1:1/yajin"], &[]);
    assert_one_line_failure(&out, 1, "cannot reach the database at postgres://postgres@127.0.0.1:1/yajin");
    let out = yajin(&["serve", "--demo", "--database-url", "postgres://postgres:hunter2@127.0.0.1:1/yajin"], &[]);
    assert_one_line_failure(&out, 1, "postgres://postgres:***@127.0.0.1:1/yajin");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"), "passwords never printed");
}

#[test]
fn a_database_from_a_newer_yajin_is_refused_untouched() {
    let dir = TempDir::new();
    let d = dir.0.to_str().unwrap();
    assert!(yajin(&["migrate", "--data-dir", d], &[]).status.success());
    let url = format!("sqlite://{d}/yajin.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let db = rt.block_on(yajin_store::Db::connect(&url, &yajin_store::DbOptions::default())).unwrap();
    rt.block_on(
        sqlx::query("INSERT INTO yajin_schema (version, name, checksum, applied_at) VALUES ($1, 'future', 'x', 0)")
            .bind(HEAD + 1)
            .execute(db.pool()),
    )
    .unwrap();
    rt.block_on(db.close());
    for args in [vec!["migrate", "--data-dir", d], vec!["serve", "--demo", "--data-dir", d, "--listen", "127.0.0.1:0"]]
    {
        let out = yajin(&args, &[]);
        assert_one_line_failure(
            &out,
            1,
            &format!("schema version {}, newer than this yajin (knows up to {HEAD})", HEAD + 1),
        );
    }
}

#[test]
fn the_first_admin_comes_from_the_command_line() {
    let dir = TempDir::new();
    let d = dir.0.to_str().unwrap();
    let args = ["admin", "create-staff", "--data-dir", d, "--username", "root", "--role", "admin"];
    let out = yajin(&args, &[("YAJIN_STAFF_PASSWORD", "Root@2026x")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("created root (admin) as st_"));
    assert_one_line_failure(&yajin(&args, &[("YAJIN_STAFF_PASSWORD", "Root@2026x")]), 1, "username is already taken");
    let weak = ["admin", "create-staff", "--data-dir", d, "--username", "x", "--role", "admin"];
    assert_one_line_failure(&yajin(&weak, &[("YAJIN_STAFF_PASSWORD", "short")]), 2, "password: at least 8 characters");
    let king = ["admin", "create-staff", "--data-dir", d, "--username", "x", "--role", "king"];
    assert_one_line_failure(&yajin(&king, &[("YAJIN_STAFF_PASSWORD", "Root@2026x")]), 2, "--role must be");
    // The account works: the server lets it in.
    let server = Server::start(&dir, &["--sms-provider", "sandbox"]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let verified = rt.block_on(async {
        let client = reqwest::Client::new();
        let login = client
            .post(format!("{}/api/v1/staff/auth/login", server.base))
            .json(&serde_json::json!({"username": "root", "password": "Root@2026x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status().as_u16(), 200);
        let token = login.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
        let verify =
            client.get(format!("{}/api/v1/audit/verify", server.base)).bearer_auth(token).send().await.unwrap();
        verify.json::<serde_json::Value>().await.unwrap()
    });
    assert_eq!(verified["ok"], true, "the command line audits with the deployment's own key: {verified}");
    assert!(server.stop().success());
}

#[test]
fn rotate_keys_reseals_under_the_new_key_and_says_when_the_old_one_can_go() {
    let dir = TempDir::new();
    let d = dir.0.to_str().unwrap();
    let server = Server::start(&dir, &["--demo"]);
    assert!(server.stop().success());
    let old = std::fs::read_to_string(dir.0.join("pii.key")).unwrap();
    let new = "ab".repeat(32);
    let rotate = |current: &str, previous: &str| {
        let mut args = vec!["admin", "rotate-keys", "--data-dir", d, "--pii-key", current];
        if !previous.is_empty() {
            args.extend(["--pii-previous-keys", previous]);
        }
        yajin(&args, &[])
    };
    let out = rotate(&new, old.trim());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let count: u64 = stdout.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(count > 5 && stdout.contains("previous keys can be removed"), "{stdout}");
    let again = rotate(&new, "");
    assert!(again.status.success() && String::from_utf8_lossy(&again.stdout).starts_with("re-sealed 0 values"));
    assert_one_line_failure(&rotate(&"cd".repeat(32), ""), 1, "pii_previous_keys");
    assert_one_line_failure(&rotate("nothex", ""), 2, "pii_key");
    // The server runs on the new key alone.
    let server = Server::start(&dir, &["--demo", "--pii-key", &new]);
    check_running(&server, "sqlite");
    assert!(server.stop().success());
}

/// SIGKILL in the middle of submits that move money (automatic approvals reserve the deposit
/// and queue the payout), then restart on the same data: every application is whole — its
/// timeline, its reservation and its payout job all there or none — the books balance, the
/// audit chain verifies, every stored idempotent response is complete, and the server serves.
#[test]
fn killed_mid_flight_it_restarts_consistent() {
    use std::sync::Arc;
    use yajin_app::provisioning::{self, DepositInput, TerminalInput};
    use yajin_core::Fen;

    // Enough that the kill lands with submits still on their way in: the writer does not wait
    // for a group's flush before it writes the next group, so by the first few answers it has
    // written well past them (with 150 it had written them all).
    const TERMINALS: usize = 400;
    let runtime = || tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = TempDir::new();
    let first = Server::start(&dir, &["--demo"]);
    assert!(first.stop().success());

    // More terminals that the system approves at once, written through the library.
    let url = format!("sqlite://{}/yajin.db", dir.0.display());
    let key = std::fs::read_to_string(dir.0.join("pii.key")).unwrap();
    runtime().block_on(async {
        let vault = yajin_store::pii::Vault::new(&yajin_store::pii::MasterKey::from_hex(&key).unwrap(), &[]);
        let db = yajin_store::Db::connect(&url, &yajin_store::DbOptions::default()).await.unwrap();
        let sms = Arc::new(yajin_channels::sms::SandboxSms);
        let app = yajin_app::App::new(db.clone(), vault, Arc::new(yajin_app::SystemClock), sms);
        let mut conn = db.pool().acquire().await.unwrap();
        let a = yajin_store::records::merchants::by_phone(&mut conn, "13800000001").await.unwrap().unwrap();
        drop(conn);
        let now = yajin_app::Clock::now(&yajin_app::SystemClock);
        for i in 0..TERMINALS {
            let input = TerminalInput {
                merchant_id: a.id.clone(),
                sn: format!("KILL-{i:04}"),
                terminal_id: format!("K{i:07}"),
                model: "P2".into(),
                plan_code: "ACT-99".into(),
                status: yajin_core::eligibility::TerminalStatus::Active,
                bound_at: now.plus_days(-20),
                activated_at: Some(now.plus_days(-19)),
                terminated_at: None,
                device_returned_at: None,
                deposit: Some(DepositInput {
                    amount: Fen::yuan(99),
                    route: "card",
                    route_ref: format!("K{i}"),
                    collected_at: now.plus_days(-20),
                }),
            };
            let id = provisioning::create_terminal(&app, &yajin_app::Actor::system(), input).await.unwrap();
            let kind = yajin_core::plan::TxnKind::CreditCard;
            provisioning::add_usage(&app, &id, Fen::yuan(10_000), kind, now.plus_days(-2)).await.unwrap();
        }
        db.close().await;
    });

    let mut server = Server::start(&dir, &["--demo"]);
    let (base, pid) = (server.base.clone(), server.child.id());
    runtime().block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"phone": "13800000001", "password": "Demo@12345"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["token"].as_str().unwrap().to_owned();
        let mut tasks = Vec::new();
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for i in 0..TERMINALS {
            let (client, base, token, answered) = (client.clone(), base.clone(), token.clone(), answered.clone());
            tasks.push(tokio::spawn(async move {
                let body = serde_json::json!({"terminal_sn": format!("KILL-{i:04}"), "phone": "13800000001",
                    "id_card_no": "310115198506151236", "bank_card_no": "6222021234567890128", "reason": "target_reached"});
                let request = client.post(format!("{base}/api/v1/refund-applications")).bearer_auth(&token);
                let _ = request.header("idempotency-key", format!("kill-{i}")).json(&body).send().await;
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }));
        }
        // The kill lands once the first few are answered, whatever this machine's speed: the
        // rest are then on their way in, being written, or being paid.
        let waiting = std::time::Instant::now();
        while answered.load(std::sync::atomic::Ordering::SeqCst) < 5 && waiting.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
        for t in tasks {
            let _ = t.await;
        }
    });
    let _ = server.child.wait();

    let restarted = Server::start(&dir, &["--demo"]);
    assert_eq!(restarted.get("/readyz").0, 200);
    runtime().block_on(async {
        let db = yajin_store::Db::connect(&url, &yajin_store::DbOptions::default()).await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        assert_eq!(yajin_store::ledger::verify(&mut conn).await.unwrap(), [], "the books balance");
        let key = std::fs::read_to_string(dir.0.join("pii.key")).unwrap();
        let vault = yajin_store::pii::Vault::new(&yajin_store::pii::MasterKey::from_hex(key.trim()).unwrap(), &[]);
        let chain = yajin_store::audit::verify(&mut conn, &vault).await.unwrap();
        assert!(chain.ok, "{chain:?}");
        let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT a.id, a.status,
                (SELECT count(*) FROM application_events e WHERE e.application_id = a.id),
                (SELECT count(*) FROM ledger_transfers t WHERE t.reference = a.id AND t.state = 'pending'),
                (SELECT count(*) FROM jobs j WHERE j.dedupe_key = 'payout:' || a.id)
             FROM refund_applications a WHERE a.reason = 'target_reached'",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        for (id, status, events, pending, jobs) in &rows {
            // Each is whole at one of the payout's recovery points: approved with its reserved
            // transfer and its job; paying with its payout; refunded with the transfer posted.
            let whole = match status.as_str() {
                "approved" => (*events, *pending) == (2, 1),
                "paying" => (*events, *pending) == (3, 1),
                "refunded" => (*events, *pending) == (4, 0),
                _ => false,
            };
            assert!(whole && *jobs == 1, "{id} is whole: {status}, {events} events, {pending} pending, {jobs} jobs");
        }
        let incomplete: (i64,) = sqlx::query_as("SELECT count(*) FROM idempotency_keys WHERE response_status IS NULL")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(incomplete.0, 0, "no idempotency key without its response");
        assert!(rows.len() < TERMINALS, "the kill landed mid-flight ({} of {TERMINALS} done)", rows.len());
        // A pool's close waits for every connection to come back.
        drop(conn);
        db.close().await;
    });
    assert!(restarted.stop().success());
}

#[test]
fn reconcile_reads_a_statement_file_and_prints_the_report() {
    let dir = TempDir::new();
    let data = dir.0.to_str().unwrap();
    assert!(yajin(&["migrate", "--data-dir", data], &[]).status.success());
    let statement = dir.0.join("statement.csv");
    std::fs::write(
        &statement,
        "payout_id,reference,amount_fen,bank_reference,paid_at\npo_nobody,ra_x,100,SBX1,2026-11-25T00:00:00Z\nnot,a,line\npo_cut,ra_x,1",
    )
    .unwrap();
    let out = yajin(&["reconcile", "--data-dir", data, statement.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["lines"], 4);
    assert_eq!(report["unknown_in_statement"], serde_json::json!(["po_nobody"]));
    let lines: Vec<u64> = report["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [3, 4], "a bad line and the cut-off last one");
    let missing = yajin(&["reconcile", "--data-dir", data, "/nonexistent/statement.csv"], &[]);
    assert_one_line_failure(&missing, 1, "cannot open /nonexistent/statement.csv");
}

/// Another user of the machine reads neither the database nor the folder it lives in.
#[cfg(unix)]
#[test]
fn the_data_folder_and_the_database_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let data_arg = data.to_str().unwrap();
    let out = yajin(&["migrate", "--data-dir", data_arg], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the folder");
    assert_eq!(mode(&data.join("yajin.db")), 0o600, "the database");
    for extra in ["yajin.db-wal", "yajin.db-shm"] {
        let path = data.join(extra);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{extra}");
        }
    }
    assert!(!String::from_utf8_lossy(&out.stderr).contains("readable by other users"));

    // A database someone made readable to all is named at start, with the fix.
    std::fs::set_permissions(data.join("yajin.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = yajin(&["migrate", "--data-dir", data_arg], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("readable by other users") && stderr.contains("chmod 600"), "{stderr}");
}

/// Imports a file of usage records three batches long (50,000 rows a batch) into the demo data
/// of `dir` (`extra`: the database's arguments): the batches are checked while others are
/// written, on PostgreSQL two at once, and what comes out must be what one batch after another
/// gives — every good row loaded once, a reference repeated in a later batch (written while
/// the first may still be open) already there, the bad rows reported in the file's order.
fn a_file_of_many_batches_loads_as_if_row_by_row(dir: &TempDir, extra: &[&str]) {
    let d = dir.0.to_str().unwrap();
    let mut args = vec!["--demo"];
    args.extend_from_slice(extra);
    let server = Server::start(dir, &args);
    assert!(server.stop().success());
    let sns = ["DEMO-AUTO-01", "DEMO-PROGRESS-01", "DEMO-REVIEW-01", "DEMO-B-01"];
    let mut csv = b"ref,sn,amount_fen,fee_fen,kind,occurred_at\n".to_vec();
    let mut bad_lines = Vec::new();
    let rows = 120_000;
    for i in 0..rows {
        let line = i + 2;
        let row = if i % 9_973 == 5 {
            bad_lines.push(line);
            format!("M{i},NOPE-{i},100,0,credit_card,2026-10-01T00:00:00Z\n").into_bytes()
        } else if i == 77_777 {
            bad_lines.push(line);
            b"M77777,DEMO-AUTO-01,1\xff00,0,nfc,2026-10-01T00:00:00Z\n".to_vec()
        } else if i == 60_000 {
            // The reference of row 10 (first batch), in the second batch.
            format!("M10,{},500,0,credit_card,2026-10-02T00:00:00Z\n", sns[0]).into_bytes()
        } else {
            format!(
                "M{i},{},{},{},credit_card,2026-10-{:02}T08:00:00Z\n",
                sns[i % sns.len()],
                100 + i,
                i % 7,
                1 + i % 28
            )
            .into_bytes()
        };
        csv.extend_from_slice(&row);
    }
    let file = dir.0.join("usage.csv");
    std::fs::write(&file, &csv).unwrap();
    let file = file.to_str().unwrap();
    let import = || {
        let mut args = vec!["import", "--data-dir", d, "transactions", file, "--json"];
        args.extend_from_slice(extra);
        let out = yajin(&args, &[]);
        let s: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(out.status.code(), Some(3), "some rows were refused: {s}");
        (s["rows"].as_u64(), s["loaded"].as_u64(), s["existing"].as_u64(), s["refused"].as_u64())
    };
    let bad = bad_lines.len() as u64;
    let rows = rows as u64;
    assert_eq!(import(), (Some(rows), Some(rows - bad - 1), Some(1), Some(bad)));
    let errors = std::fs::read_to_string(format!("{file}.errors.csv")).unwrap();
    let reported: Vec<usize> = errors.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(reported, bad_lines, "each bad row once, in the file's order: {errors}");
    assert!(errors.contains("7,sn,not_found") && errors.contains("77779,,invalid_encoding"), "{errors}");
    // Nothing was left out: a second run finds every good row there already.
    assert_eq!(import(), (Some(rows), Some(0), Some(rows - bad), Some(bad)));
}

#[test]
fn a_large_import_on_sqlite_loads_as_if_row_by_row() {
    a_file_of_many_batches_loads_as_if_row_by_row(&TempDir::new(), &[]);
}

#[test]
fn a_large_import_on_postgres_loads_as_if_row_by_row() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(pg) = rt.block_on(TestDb::postgres_unmigrated()) else {
        return;
    };
    a_file_of_many_batches_loads_as_if_row_by_row(&TempDir::new(), &["--database-url", &pg.url]);
    drop(pg);
}

#[test]
fn import_loads_the_good_rows_reports_the_bad_and_runs_twice_the_same() {
    let dir = TempDir::new();
    let d = dir.0.to_str().unwrap();
    // The demo's plans (ACT-99, TERM-299) are what imported terminals are on.
    let server = Server::start(&dir, &["--demo"]);
    assert!(server.stop().success());
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let import = |kind: &str, file: &str, extra: &[&str]| {
        let mut args = vec!["import", "--data-dir", d, kind, file, "--json"];
        args.extend_from_slice(extra);
        let out = yajin(&args, &[]);
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        });
        (out.status.code(), summary)
    };
    let counts = |s: &serde_json::Value| {
        (s["rows"].as_u64(), s["loaded"].as_u64(), s["existing"].as_u64(), s["refused"].as_u64())
    };

    // UTF-8 with a byte-order mark; one good merchant, one with three bad numbers.
    let merchants = write(
        "merchants.csv",
        "\u{feff}merchant_no,name,phone,password,id_card_no,bank_card_no,bank_name\n\
         822100058129101,导入小店,13900000101,Shop@2026x,11010519491231002X,6222021234567890128,工商银行\n\
         822100058129102,坏行,1390000,Shop@2026x,123,456,工商银行\n"
            .as_bytes(),
    );
    let (code, s) = import("merchants", &merchants, &[]);
    assert_eq!((code, counts(&s)), (Some(3), (Some(2), Some(1), Some(0), Some(1))), "{s}");
    let errors = std::fs::read_to_string(format!("{merchants}.errors.csv")).unwrap();
    assert!(
        errors.starts_with("line,field,code,message\n")
            && errors.contains("3,phone,")
            && errors.contains("3,id_card_no,"),
        "{errors}"
    );

    // GBK, as exported by many older systems: decimals in fen and an unknown merchant refused.
    let (terminals_gbk, _, _) = encoding_rs::GBK.encode(
        "merchant_no,sn,model,plan_code,status,bound_at,activated_at,deposit_amount_fen,deposit_route,deposit_route_ref,deposit_collected_at\n\
         822100058129101,IMP-0001,拉卡拉 P2,ACT-99,active,2026-09-01T00:00:00Z,2026-09-02T00:00:00Z,9900,wechat,WX-9,2026-09-01T00:00:00Z\n\
         822100058129101,IMP-0002,拉卡拉 P2,ACT-99,active,2026-09-01T00:00:00Z,,99.00,wechat,WX-10,2026-09-01T00:00:00Z\n\
         822109999999999,IMP-0003,拉卡拉 P2,ACT-99,inactive,2026-09-01T00:00:00Z,,,,,\n\
         822100058129101,IMP-0004,拉卡拉 P2,ACT-99,inactive,2026-09-01T00:00:00Z,,,wechat,WX-11,\n",
    );
    let terminals = write("terminals.csv", &terminals_gbk);
    let (code, s) = import("terminals", &terminals, &["--encoding", "gbk"]);
    assert_eq!((code, counts(&s)), (Some(3), (Some(4), Some(1), Some(0), Some(3))), "{s}");
    let errors = std::fs::read_to_string(format!("{terminals}.errors.csv")).unwrap();
    assert!(errors.contains("5,deposit_amount_fen,required"), "half a deposit is refused: {errors}");
    assert!(
        errors.contains("3,deposit_amount_fen,invalid_amount") && errors.contains("4,merchant_no,not_found"),
        "{errors}"
    );
    let (_, s) = import("terminals", &terminals, &[]);
    assert!(s["refused"].as_u64() >= Some(3), "read as UTF-8, GBK bytes are refused: {s}");

    // Transactions: signs, unknown terminals, bad dates, a cut-off last line.
    let transactions = write(
        "transactions.csv",
        b"ref,sn,amount_fen,fee_fen,kind,occurred_at\n\
          T1,IMP-0001,600000,0,credit_card,2026-10-01T00:00:00Z\n\
          T2,IMP-0001,-5,0,credit_card,2026-10-01T00:00:00Z\n\
          T3,NOPE-1,100,0,credit_card,2026-10-01T00:00:00Z\n\
          T4,IMP-0001,100,0,credit_card,not-a-date\n\
          T5,IMP-0001,100,0,debit_card",
    );
    let (code, s) = import("transactions", &transactions, &[]);
    assert_eq!((code, counts(&s)), (Some(3), (Some(5), Some(1), Some(0), Some(4))), "{s}");
    let (code, s) = import("transactions", &transactions, &[]);
    assert_eq!((code, counts(&s)), (Some(3), (Some(5), Some(0), Some(1), Some(4))), "a second run adds nothing: {s}");
    let more =
        write("more.csv", b"ref,sn,amount_fen,kind,occurred_at\nT6,IMP-0001,400000,credit_card,2026-10-02T00:00:00Z\n");
    let (code, s) = import("transactions", &more, &["--dry-run"]);
    assert_eq!((code, counts(&s)), (Some(0), (Some(1), Some(1), Some(0), Some(0))), "{s}");
    let (_, s) = import("transactions", &more, &[]);
    assert_eq!(s["loaded"].as_u64(), Some(1), "the dry run wrote nothing: {s}");
    assert!(!std::path::Path::new(&format!("{more}.errors.csv")).exists());

    let evaluated = yajin(&["evaluate", "--data-dir", d, "--json"], &[]);
    assert!(evaluated.status.success(), "{}", String::from_utf8_lossy(&evaluated.stderr));
    let e: serde_json::Value = serde_json::from_slice(&evaluated.stdout).unwrap();
    assert!(
        e["records"].as_u64() >= Some(2) && e["terminals"].as_u64() >= Some(1),
        "the imported usage is evaluated: {e}"
    );

    let owed = write("owed.csv", b"sn,kind,amount_fen,due_at\nIMP-0001,service_fee,6000,2026-11-01T00:00:00Z\n");
    assert_eq!(counts(&import("outstanding-items", &owed, &[]).1), (Some(1), Some(1), Some(0), Some(0)));
    assert_eq!(counts(&import("outstanding-items", &owed, &[]).1), (Some(1), Some(0), Some(1), Some(0)));

    let bad_header = write("bad.csv", b"ref,sn,amount\nT1,IMP-0001,1\n");
    assert_one_line_failure(
        &yajin(&["import", "--data-dir", d, "transactions", &bad_header], &[]),
        2,
        "\"amount\" is not one of",
    );
    assert_one_line_failure(&yajin(&["import", "--data-dir", d, "deposits", &bad_header], &[]), 2, "KIND must be");

    // What was imported is the merchant's: they log in and see the terminal, its progress counted.
    let server = Server::start(&dir, &["--demo"]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let terminal = rt.block_on(async {
        let client = reqwest::Client::new();
        let login = client
            .post(format!("{}/api/v1/auth/login", server.base))
            .json(&serde_json::json!({"phone": "13900000101", "password": "Shop@2026x"}))
            .send()
            .await
            .unwrap();
        let token = login.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
        let r =
            client.get(format!("{}/api/v1/terminals/IMP-0001", server.base)).bearer_auth(token).send().await.unwrap();
        r.json::<serde_json::Value>().await.unwrap()
    });
    assert_eq!(terminal["deposit"]["amount_fen"], 9900, "{terminal}");
    assert!(server.stop().success());
}
