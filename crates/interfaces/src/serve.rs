//! `yajin serve` and `yajin migrate`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use yajin_app::demo::{self, SeedOutcome};
use yajin_app::setup::{self, Backend, Db, DbOptions, MasterKey, Vault};
use yajin_app::{App, SystemClock};

use crate::config::{DbConfig, ServeConfig, SmsConfig};
use crate::http::{self, AppState};
use crate::Failure;
use yajin_channels::sms::{HttpSms, SandboxSms, SmsGateway};

/// How often `serve` forgets what can no longer matter.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

pub async fn open_database(config: &DbConfig) -> Result<Db, Failure> {
    if config.backend == Backend::Sqlite {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            Failure::runtime(format!("cannot create the data folder {}: {e}", config.data_dir.display()))
        })?;
    }
    let options = DbOptions { max_connections: config.max_connections, ..DbOptions::default() };
    let (db, report) =
        setup::open(&config.url, &options, now_ms()).await.map_err(|e| Failure::runtime(e.to_string()))?;
    if !report.applied.is_empty() {
        tracing::info!(applied = ?report.applied, version = report.version, "database migrated");
    }
    Ok(db)
}

pub async fn migrate_only(config: &DbConfig) -> Result<(), Failure> {
    let db = open_database(config).await?;
    let version = setup::schema_version(&db).await.map_err(|e| Failure::runtime(e.to_string()))?;
    println!("{} database at schema version {version}", config.backend.name());
    db.close().await;
    Ok(())
}

pub async fn serve(config: ServeConfig) -> Result<(), Failure> {
    let db = open_database(&config.db).await?;
    let vault = vault(&config)?;
    let sms: Arc<dyn SmsGateway> = match &config.sms {
        SmsConfig::Sandbox => Arc::new(SandboxSms),
        SmsConfig::Http { url, token } => {
            Arc::new(HttpSms::new(url.clone(), token.clone()).map_err(|e| Failure::runtime(e.to_string()))?)
        }
    };
    let app = App::new(db.clone(), vault, Arc::new(SystemClock), sms);
    if config.demo {
        let outcome = demo::seed(&app).await.map_err(|e| Failure::runtime(format!("demo data: {e}")))?;
        if outcome == SeedOutcome::Seeded {
            tracing::info!("demo data set seeded");
        }
    }
    // Sessions, idempotency keys, rate-limit windows and cooldowns would otherwise grow forever.
    tokio::spawn(yajin_app::housekeeping::run(app.clone(), PRUNE_EVERY, config.retention));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Failure::runtime(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener.local_addr().map_err(|e| Failure::runtime(e.to_string()))?;
    let sandbox = config.sms == SmsConfig::Sandbox;
    let state = AppState { app, metrics: http::recorder(), started: Arc::new(Instant::now()), sandbox };
    let shutdown = shutdown_signal()?;
    print_banner(&config, address);
    let service = http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Failure::runtime(format!("server stopped: {e}")))?;
    tracing::info!("shutting down: in-flight requests finished, closing the database");
    db.close().await;
    Ok(())
}

/// The PII key: from configuration, or generated once into the data folder (mode 0600) so
/// that a zero-setup install works. Servers sharing a database must share the key: configure
/// YAJIN_PII_KEY for them.
fn vault(config: &ServeConfig) -> Result<Vault, Failure> {
    let previous = config
        .pii_previous_keys
        .iter()
        .map(|k| MasterKey::from_hex(k).map_err(Failure::config))
        .collect::<Result<Vec<_>, _>>()?;
    let current = match &config.pii_key {
        Some(hex) => MasterKey::from_hex(hex).map_err(Failure::config)?,
        None => key_file(&config.db.data_dir.join("pii.key"))?,
    };
    Ok(Vault::new(&current, &previous))
}

fn key_file(path: &Path) -> Result<MasterKey, Failure> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return MasterKey::from_hex(&text).map_err(|e| Failure::runtime(format!("{}: {e}", path.display())));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Failure::runtime(format!("cannot create {}: {e}", dir.display())))?;
    }
    let key = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file =
        options.open(path).map_err(|e| Failure::runtime(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(key.to_hex().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    tracing::warn!(path = %path.display(), "generated a new PII key; keep it with the database, or set YAJIN_PII_KEY");
    Ok(key)
}

fn print_banner(config: &ServeConfig, address: std::net::SocketAddr) {
    let mut out = format!(
        "Yajin is running at http://{address}\n  database: {} ({})\n",
        config.db.backend.name(),
        setup::redact(&config.db.url)
    );
    if config.demo {
        let staff: Vec<&str> = demo::STAFF.iter().map(|(u, _, _)| *u).collect();
        out.push_str(&format!(
            "  demo merchants: {} ({}), {} ({}); password {}\n  demo staff: {}; password {}\n",
            demo::MERCHANT_A.phone,
            demo::MERCHANT_A.name,
            demo::MERCHANT_B.phone,
            demo::MERCHANT_B.name,
            demo::MERCHANT_PASSWORD,
            staff.join(", "),
            demo::STAFF_PASSWORD
        ));
    }
    if config.sms == SmsConfig::Sandbox {
        out.push_str(&format!("  sandbox SMS inbox: http://{address}/api/v1/sandbox/sms?phone=PHONE\n"));
    }
    out.push_str("  stop with Ctrl-C (SIGTERM also stops it gracefully)\n");
    print!("{out}");
    let _ = std::io::stdout().flush();
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when the
/// future is first polled: a signal that arrives right after the banner still stops the server
/// gracefully instead of killing it.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Failure> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind| signal(kind).map_err(|e| Failure::runtime(format!("cannot listen for signals: {e}")));
        let (mut term, mut int) = (install(SignalKind::terminate())?, install(SignalKind::interrupt())?);
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

fn now_ms() -> i64 {
    yajin_app::Clock::now(&SystemClock).millis()
}

/// `yajin admin create-staff`: one staff account, audited as created by the command line.
pub async fn create_staff(config: &DbConfig, args: &crate::cli::CreateStaffArgs) -> Result<(), Failure> {
    let role = yajin_core::application::Role::parse(&args.role).filter(|r| r.is_staff()).ok_or_else(|| {
        Failure::config(format!("--role must be reviewer, approver, finance, admin or support, not {:?}", args.role))
    })?;
    let password = match std::env::var("YAJIN_STAFF_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    yajin_core::password::check("password", &password, "")
        .map_err(|e| Failure::config(format!("password: {}", e.message.en)))?;
    let db = open_database(config).await?;
    // Staff accounts hold no sealed personal data: the vault is never used here.
    let vault = Vault::new(&MasterKey::generate(), &[]);
    let app = App::new(db.clone(), vault, Arc::new(SystemClock), Arc::new(SandboxSms));
    let actor = yajin_app::Actor { role: yajin_core::application::Role::System, id: "cli".into() };
    let display_name = args.display_name.clone().unwrap_or_else(|| args.username.clone());
    let id = yajin_app::provisioning::create_staff(&app, &actor, &args.username, &display_name, role, password)
        .await
        .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", args.username)))?;
    println!("created {} ({}) as {id}", args.username, role.as_str());
    db.close().await;
    Ok(())
}
