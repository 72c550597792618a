//! Yajin's interfaces: the HTTP API, the web UI and the `yajin` command line.

pub mod cli;
pub mod config;
pub mod files;
pub mod http;
pub mod import;
pub mod reconcile;
pub mod router;
pub mod serve;
pub mod web;

pub use router::router;

use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, LogFormat};
use config::FileConfig;

/// A failure that ends the process: one line for the person, and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub exit_code: u8,
}

impl Failure {
    /// A bad configuration value: exit code 2, like a usage error.
    pub fn config(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), exit_code: 2 }
    }

    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), exit_code: 1 }
    }
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    let file = FileConfig::load(cli.config.as_deref()).map_err(|e| Failure::config(e.0))?;
    let log_format = config::log_format(cli.log_format, &file).map_err(|e| Failure::config(e.0))?;
    init_logging(log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    match cli.command {
        Command::Serve(args) => {
            let config = config::serve_config(&args, &file).map_err(|e| Failure::config(e.0))?;
            runtime.block_on(serve::serve(config))
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&http::openapi::document()).unwrap_or_default());
            Ok(())
        }
        Command::Admin(cli::AdminCommand::CreateStaff(args)) => {
            let config = config::db_config(&args.db, &file).map_err(|e| Failure::config(e.0))?;
            let keys = config::key_config(&args.keys, &file).map_err(|e| Failure::config(e.0))?;
            runtime.block_on(serve::create_staff(&config, &keys, &args))
        }
        Command::Admin(cli::AdminCommand::RotateKeys(args)) => {
            let config = config::db_config(&args.db, &file).map_err(|e| Failure::config(e.0))?;
            let keys = config::key_config(&args.keys, &file).map_err(|e| Failure::config(e.0))?;
            runtime.block_on(serve::rotate_keys(&config, &keys))
        }
        Command::Worker(args) => {
            let db = config::db_config(&args.db, &file).map_err(|e| Failure::config(e.0))?;
            let channel = config::channel_config(&args.channel, &file, false).map_err(|e| Failure::config(e.0))?;
            if !(100..=600_000).contains(&args.lease_ms) {
                return Err(Failure::config("--lease-ms must be 100–600000"));
            }
            let jobs = config::worker_jobs(&args.channel, &file).map_err(|e| Failure::config(e.0))?;
            let keys = config::key_config(&args.keys, &file).map_err(|e| Failure::config(e.0))?;
            runtime.block_on(serve::worker(&db, &channel, &keys, args.lease_ms, jobs))
        }
        Command::SandboxBank(args) => runtime.block_on(serve::sandbox_bank(args)),
        Command::Reconcile(args) => {
            let config = config::db_config(&args.db, &file).map_err(|e| Failure::config(e.0))?;
            let keys = config::key_config(&args.keys, &file).map_err(|e| Failure::config(e.0))?;
            runtime.block_on(reconcile::run(&config, &keys, &args.file))
        }
        Command::Import(args) => {
            let config = config::db_config(&args.db, &file).map_err(|e| Failure::config(e.0))?;
            let keys = config::key_config(&args.keys, &file).map_err(|e| Failure::config(e.0))?;
            runtime.block_on(import::run(&config, &keys, &args))
        }
        Command::Evaluate(args) => {
            let config = config::db_config(&args.db, &file).map_err(|e| Failure::config(e.0))?;
            let keys = config::key_config(&args.keys, &file).map_err(|e| Failure::config(e.0))?;
            runtime.block_on(serve::evaluate(&config, &keys, args.json))
        }
        Command::Migrate(args) => {
            let config = config::db_config(&args, &file).map_err(|e| Failure::config(e.0))?;
            runtime.block_on(serve::migrate_only(&config))
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
