//! `yajin serve` and `yajin migrate`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use yajin_app::demo::{self, SeedOutcome};
use yajin_app::setup::{self, Backend, Db, DbOptions, MasterKey, Vault};
use yajin_app::{App, SystemClock};

use crate::config::{ChannelConfig, DbConfig, KeyConfig, ServeConfig, SmsConfig};
use crate::files;
use crate::http::{self, AppState, Shared};
use crate::Failure;
use yajin_app::worker;
use yajin_channels::gateway::PlainHttp;
use yajin_channels::payout::{HttpChannel, PayoutChannel};
use yajin_channels::sms::{HttpSms, SandboxSms, SmsGateway};

/// How often `serve` forgets what can no longer matter.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);
/// How often `serve` evaluates usage that arrived in bulk.
const EVALUATE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);
/// How often `serve` checks that the books balance (and logs any account that does not).
const CHECK_BOOKS_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

pub async fn open_database(config: &DbConfig) -> Result<Db, Failure> {
    open_database_with(config, DbOptions { max_connections: config.max_connections, ..DbOptions::default() }).await
}

/// [`open_database`] with these options (a bulk import wants a bigger page cache).
pub async fn open_database_with(config: &DbConfig, options: DbOptions) -> Result<Db, Failure> {
    if config.backend == Backend::Sqlite {
        files::private_folder(&config.data_dir).map_err(|e| {
            Failure::runtime(format!("cannot create the data folder {}: {e}", config.data_dir.display()))
        })?;
        if let Some(file) = files::sqlite_file(&config.url) {
            files::private_file(&file)
                .map_err(|e| Failure::runtime(format!("cannot create the database file {}: {e}", file.display())))?;
        }
    }
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
    let vault = open_vault(&db, &config.keys, &config.db.data_dir).await?;
    let sms: Arc<dyn SmsGateway> = match &config.sms {
        SmsConfig::Sandbox => Arc::new(SandboxSms),
        SmsConfig::Http { url, token, plain_http } => Arc::new(
            HttpSms::new(url.clone(), token.clone(), *plain_http).map_err(|e| Failure::runtime(e.to_string()))?,
        ),
    };
    let app = App::new(db.clone(), vault, Arc::new(SystemClock), sms);
    if config.demo {
        let outcome = demo::seed(&app).await.map_err(|e| Failure::runtime(format!("demo data: {e}")))?;
        if outcome == SeedOutcome::Seeded {
            tracing::info!("demo data set seeded");
        }
    }
    if yajin_app::audit_trail::key_the_chain(&app).await.map_err(|e| Failure::runtime(format!("audit chain: {e}")))? {
        tracing::info!("the audit chain written before it was keyed now ends in a keyed checkpoint");
    }
    // Sessions, idempotency keys, counted requests and cooldowns would otherwise grow forever.
    tokio::spawn(yajin_app::housekeeping::run(app.clone(), PRUNE_EVERY, config.retention));
    tokio::spawn(yajin_app::books::watch(app.clone(), CHECK_BOOKS_EVERY));
    tokio::spawn(yajin_app::evaluation::watch(app.clone(), EVALUATE_EVERY));
    let sealing = app.clone();
    tokio::spawn(async move {
        match yajin_app::attachments::seal_remaining(&sealing).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "evidence files written in clear are now sealed"),
            Err(e) => tracing::warn!(error = %e, "sealing older evidence files stopped; it resumes at the next start"),
        }
        // After a key rotation: what an older key sealed is re-sealed under the current one
        // (without previous keys there is nothing to do, and no table is scanned at start).
        if !sealing.vault.has_previous_keys() {
            return;
        }
        match yajin_app::keys::rotate(&sealing.db, &sealing.vault, |_| {}).await {
            Ok(r) if r.resealed > 0 => {
                tracing::info!(
                    values = r.resealed,
                    "values sealed under a previous PII key are re-sealed under the current one"
                )
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "re-sealing under the current PII key stopped; it resumes at the next start")
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Failure::runtime(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener.local_addr().map_err(|e| Failure::runtime(e.to_string()))?;
    let sandbox = config.sms == SmsConfig::Sandbox;
    let (channel, bank_url) = open_channel(&config.channel, &config.db.data_dir, address).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut jobs = None;
    if let Some((channel, _)) = &channel {
        jobs = Some(tokio::spawn(worker::work(
            app.clone(),
            channel.clone(),
            worker_name(),
            worker::LEASE_MS,
            config.worker_jobs,
            stopped,
        )));
    } else {
        tracing::warn!("no payout channel (YAJIN_PAYOUT_CHANNEL_URL): approved refunds wait until one is configured");
    }
    let callbacks =
        channel.as_ref().map(|(c, secret)| http::ChannelSecret { name: c.name().to_owned(), secret: secret.clone() });
    let site = http::Site { https: config.public_url.starts_with("https://"), demo: config.demo };
    let state = AppState::from(Shared {
        app,
        metrics: http::recorder(),
        started: Arc::new(Instant::now()),
        sandbox,
        channel: callbacks,
        site,
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
    });
    let shutdown = shutdown_signal()?;
    print_banner(&config, address, bank_url.as_deref());
    let service = crate::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Failure::runtime(format!("server stopped: {e}")))?;
    tracing::info!("shutting down: in-flight requests finished, closing the database");
    let _ = stop.send(true);
    if let Some(jobs) = jobs {
        // The jobs in flight finish (each within the channel's timeout); one still waiting
        // after that is taken over when its lease ends.
        if tokio::time::timeout(std::time::Duration::from_secs(15), jobs).await.is_err() {
            tracing::warn!("jobs still running at shutdown are left to their leases");
        }
    }
    db.close().await;
    Ok(())
}

/// `yajin worker`: the payout worker alone, until SIGTERM or Ctrl-C.
pub async fn worker(
    config: &DbConfig,
    channel: &ChannelConfig,
    keys: &KeyConfig,
    lease_ms: i64,
    jobs_at_once: usize,
) -> Result<(), Failure> {
    let ChannelConfig::Http { .. } = channel else {
        return Err(Failure::config("yajin worker needs YAJIN_PAYOUT_CHANNEL_URL and YAJIN_PAYOUT_CHANNEL_SECRET"));
    };
    let db = open_database(config).await?;
    let vault = open_vault(&db, keys, &config.data_dir).await?;
    let app = App::new(db.clone(), vault, Arc::new(SystemClock), Arc::new(SandboxSms));
    let unused: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    let (channel, _) = open_channel(channel, &config.data_dir, unused).await?;
    let Some((channel, _)) = channel else { return Err(Failure::config("no payout channel")) };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let name = worker_name();
    println!("payout worker {name} running, {jobs_at_once} jobs at once; stop with Ctrl-C");
    let task = tokio::spawn(worker::work(app, channel, name, lease_ms, jobs_at_once, stopped));
    shutdown_signal()?.await;
    let _ = stop.send(true);
    let _ = task.await;
    db.close().await;
    Ok(())
}

fn worker_name() -> String {
    format!("worker-{}-{}", std::process::id(), yajin_app::Clock::now(&SystemClock).millis())
}

/// The payout channel and its shared secret; with the embedded sandbox, also the bank's URL.
async fn open_channel(
    config: &ChannelConfig,
    data_dir: &Path,
    our_address: std::net::SocketAddr,
) -> Result<(Option<(Arc<dyn PayoutChannel>, Vec<u8>)>, Option<String>), Failure> {
    let (url, secret, timeout_ms, bank_url, plain_http) = match config {
        ChannelConfig::None => return Ok((None, None)),
        ChannelConfig::Http { url, secret, timeout_ms, plain_http } => {
            (url.clone(), secret.as_bytes().to_vec(), *timeout_ms, None, *plain_http)
        }
        ChannelConfig::EmbeddedSandbox => {
            let secret = MasterKey::generate().to_hex().into_bytes();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| Failure::runtime(format!("cannot start the sandbox bank: {e}")))?;
            let bank_address = listener.local_addr().map_err(|e| Failure::runtime(e.to_string()))?;
            let bank = yajin_sandbox_bank::Config {
                data_dir: data_dir.join("sandbox-bank"),
                callback_url: Some(format!("http://{our_address}/api/v1/channels/sandbox/callbacks")),
                secret: secret.clone(),
                seed: 1,
                faults: yajin_sandbox_bank::Faults::default(),
            };
            let router = yajin_sandbox_bank::router(bank).await.map_err(|e| Failure::runtime(e.to_string()))?;
            tokio::spawn(async move { axum::serve(listener, router).await });
            let url = format!("http://{bank_address}");
            (url.clone(), secret, 10_000, Some(url), PlainHttp::LoopbackOnly)
        }
    };
    let channel = HttpChannel::new("sandbox", &url, &secret, std::time::Duration::from_millis(timeout_ms), plain_http)
        .map_err(|e| Failure::config(e.to_string()))?;
    Ok((Some((Arc::new(channel), secret)), bank_url))
}

/// The vault every command that writes uses: the PII key from configuration, or generated once
/// into the data folder (mode 0600) so that a zero-setup install works, and the previous keys;
/// then the lasting secrets unlocked from the database. Servers sharing a database must share
/// the key: configure YAJIN_PII_KEY for them.
pub async fn open_vault(db: &Db, keys: &KeyConfig, data_dir: &Path) -> Result<Vault, Failure> {
    let previous =
        keys.previous.iter().map(|k| MasterKey::from_hex(k).map_err(Failure::config)).collect::<Result<Vec<_>, _>>()?;
    let current = match &keys.current {
        Some(hex) => MasterKey::from_hex(hex).map_err(Failure::config)?,
        None => key_file(&data_dir.join("pii.key"))?,
    };
    yajin_app::keys::unlock(db, Vault::new(&current, &previous), now_ms())
        .await
        .map_err(|e| Failure::runtime(format!("PII keys: {e}")))
}

/// `yajin evaluate`: one evaluation run, with a count on the terminal and a summary.
pub async fn evaluate(config: &DbConfig, keys: &KeyConfig, json: bool) -> Result<(), Failure> {
    let db = open_database(config).await?;
    let vault = open_vault(&db, keys, &config.data_dir).await?;
    let app = App::new(db.clone(), vault, Arc::new(SystemClock), Arc::new(SandboxSms));
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new_spinner();
    let done = yajin_app::evaluation::run(&app, |e| {
        bar.set_message(format!("{} usage records, {} terminals, {} applications", e.records, e.terminals, e.applied));
        bar.tick();
    })
    .await
    .map_err(|e| Failure::runtime(format!("evaluation stopped (run it again to go on): {e}")))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let summary = serde_json::json!({"records": done.records, "terminals": done.terminals,
            "applied": done.applied, "seconds": (seconds * 1000.0).round() / 1000.0});
        println!("{summary}");
    } else {
        println!(
            "evaluated {} usage records on {} terminals in {seconds:.1} s; {} applications made for merchants",
            done.records, done.terminals, done.applied
        );
    }
    db.close().await;
    Ok(())
}

/// `yajin admin rotate-keys`: everything sealed under a previous key re-sealed under the
/// current one, with a progress count; says when the previous keys can be removed.
pub async fn rotate_keys(config: &DbConfig, keys: &KeyConfig) -> Result<(), Failure> {
    let db = open_database(config).await?;
    let vault = open_vault(&db, keys, &config.data_dir).await?;
    let failed = |e: setup::StoreError| Failure::runtime(format!("re-sealing stopped (run it again to go on): {e}"));
    let stale = yajin_app::keys::stale(&db, &vault).await.map_err(failed)?;
    let bar = indicatif::ProgressBar::new(stale);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} values {per_sec} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let rotation = yajin_app::keys::rotate(&db, &vault, |done| bar.set_position(done)).await.map_err(failed)?;
    bar.finish_and_clear();
    println!(
        "re-sealed {} values under key {}; nothing is sealed under a previous key now, so the previous keys can be \
         removed from pii_previous_keys",
        rotation.resealed,
        vault.current_key_id()
    );
    db.close().await;
    Ok(())
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

fn print_banner(config: &ServeConfig, address: std::net::SocketAddr, bank_url: Option<&str>) {
    let site = if config.public_url == format!("http://{}", config.listen) {
        format!("http://{address}")
    } else {
        config.public_url.clone()
    };
    let mut out = format!(
        "Yajin is running at http://{address}\n  merchant portal: {site}/   staff console: {site}/console\n  \
         database: {} ({})\n",
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
    if let Some(bank) = bank_url {
        out.push_str(&format!("  sandbox bank: {bank}/sandbox/payments (what it paid)\n"));
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
pub async fn create_staff(
    config: &DbConfig,
    keys: &KeyConfig,
    args: &crate::cli::CreateStaffArgs,
) -> Result<(), Failure> {
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
    // The account's creation is audited: the chain is keyed with the deployment's own key.
    let vault = open_vault(&db, keys, &config.data_dir).await?;
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

/// `yajin sandbox-bank`: the sandbox bank as its own process.
pub async fn sandbox_bank(args: crate::cli::SandboxBankArgs) -> Result<(), Failure> {
    if args.secret.len() < 32 {
        return Err(Failure::config("the sandbox bank's secret must be at least 32 bytes"));
    }
    for (name, rate) in [
        ("fail-rate", args.fail_rate),
        ("timeout-rate", args.timeout_rate),
        ("error-rate", args.error_rate),
        ("duplicate-callback-rate", args.duplicate_callback_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(Failure::config(format!("--{name} must be between 0 and 1, not {rate}")));
        }
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Failure::runtime(format!("cannot listen on {}: {e}", args.listen)))?;
    let address = listener.local_addr().map_err(|e| Failure::runtime(e.to_string()))?;
    let config = yajin_sandbox_bank::Config {
        data_dir: args.data_dir,
        callback_url: args.callback_url,
        secret: args.secret.into_bytes(),
        seed: args.seed,
        faults: yajin_sandbox_bank::Faults {
            fail_rate: args.fail_rate,
            timeout_rate: args.timeout_rate,
            error_rate: args.error_rate,
            duplicate_callback_rate: args.duplicate_callback_rate,
            reorder_callbacks: args.reorder_callbacks,
            latency_ms: args.latency_ms,
            failing_card_last4: args.fail_card_last4,
            ..yajin_sandbox_bank::Faults::default()
        },
    };
    println!("sandbox bank at http://{address}");
    let _ = std::io::stdout().flush();
    yajin_sandbox_bank::serve(listener, config).await.map_err(|e| Failure::runtime(e.to_string()))
}
