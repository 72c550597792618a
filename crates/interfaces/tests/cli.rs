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

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("yajin-cli-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
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
    assert!(body.contains(&format!(r#""database":"{database}""#)) && body.contains(r#""schema_version":1"#), "{body}");
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
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sqlite database at schema version 1");
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
        sqlx::query("INSERT INTO yajin_schema (version, name, checksum, applied_at) VALUES (2, 'future', 'x', 0)")
            .execute(db.pool()),
    )
    .unwrap();
    rt.block_on(db.close());
    for args in [vec!["migrate", "--data-dir", d], vec!["serve", "--demo", "--data-dir", d, "--listen", "127.0.0.1:0"]]
    {
        let out = yajin(&args, &[]);
        assert_one_line_failure(&out, 1, "schema version 2, newer than this yajin (knows up to 1)");
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
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/api/v1/staff/auth/login", server.base))
            .json(&serde_json::json!({"username": "root", "password": "Root@2026x"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 200);
    assert!(server.stop().success());
}
