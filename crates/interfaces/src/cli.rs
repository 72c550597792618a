//! The `yajin` command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "yajin", version, about = "Yajin (押金): POS terminal deposits and their refunds")]
pub struct Cli {
    /// A TOML configuration file; flags and YAJIN_* variables override it.
    #[arg(long, env = "YAJIN_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Log as human-readable text or as JSON lines.
    #[arg(long, env = "YAJIN_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creating and migrating the database on first start).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Print the OpenAPI 3.1 document of the HTTP API.
    Openapi,
    /// Administration from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Run only the payout worker (more workers beside the servers; they share the database).
    Worker(WorkerArgs),
    /// Run the sandbox bank as its own process (the payout-channel protocol, with fault knobs).
    SandboxBank(SandboxBankArgs),
    /// Reconcile a bank statement CSV with the payouts, and print the report (JSON).
    Reconcile(ReconcileArgs),
    /// Load merchants, terminals (with their deposits), transactions or outstanding items from
    /// a CSV file (docs/import.md): good rows load, bad ones go to FILE.errors.csv.
    Import(ImportArgs),
    /// Evaluate the usage recorded since the last run (bulk imports): tell merchants whose
    /// activation target is met, and apply for them where the plan says so. `serve` does this
    /// every few minutes.
    Evaluate(EvaluateArgs),
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// merchants, terminals, transactions or outstanding-items
    pub kind: String,
    /// The CSV file, with a header row of the provisioning endpoints' field names.
    pub file: PathBuf,
    /// The file's encoding (a UTF-8 byte-order mark is honoured either way).
    #[arg(long, value_enum, default_value = "utf-8")]
    pub encoding: Encoding,
    /// Check every row and report, without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    #[value(name = "utf-8")]
    Utf8,
    #[value(name = "gbk")]
    Gbk,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// The statement: `payout_id,reference,amount_fen,bank_reference,paid_at` per line.
    pub file: PathBuf,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ChannelArgs {
    /// The payout channel's base URL (https://, or http:// on a loopback address). With
    /// --demo and none, an embedded sandbox bank is used.
    #[arg(long, env = "YAJIN_PAYOUT_CHANNEL_URL")]
    pub payout_channel_url: Option<String>,

    /// How long to wait for the bank's answer before the outcome is "unknown" (ms).
    #[arg(long, env = "YAJIN_PAYOUT_CHANNEL_TIMEOUT_MS", default_value_t = 10_000)]
    pub payout_channel_timeout_ms: u64,

    /// Allow plain http:// gateway URLs (payout channel, SMS) beyond this machine, on a
    /// network you trust. Without it they must be https:// (or http:// to a loopback address).
    #[arg(long, env = "YAJIN_ALLOW_INSECURE_GATEWAY")]
    pub allow_insecure_gateway: bool,

    /// How many jobs (payouts, collections, texts) the worker runs at once, 1–256 [default: 16]:
    /// each mostly waits for its gateway's answer.
    #[arg(long, env = "YAJIN_WORKER_JOBS")]
    pub worker_jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub channel: ChannelArgs,
    /// The servers' keys (the worker reads card numbers to pay).
    #[command(flatten)]
    pub keys: KeyArgs,
    /// How long a claimed job is this worker's before another may take it over (ms).
    #[arg(long, env = "YAJIN_WORKER_LEASE_MS", default_value_t = 30_000)]
    pub lease_ms: i64,
}

#[derive(Debug, Args)]
pub struct SandboxBankArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Where callbacks go (Yajin's /api/v1/channels/sandbox/callbacks).
    #[arg(long)]
    pub callback_url: Option<String>,
    /// The shared secret (at least 32 bytes) [default: YAJIN_PAYOUT_CHANNEL_SECRET]
    #[arg(long, env = "YAJIN_PAYOUT_CHANNEL_SECRET", hide_env_values = true)]
    pub secret: String,
    /// The random seed of the faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the bank keeps what it paid.
    #[arg(long, default_value = "./sandbox-bank-data")]
    pub data_dir: PathBuf,
    /// Share of new payouts that fail for good (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Share of payouts that are paid while the answer never comes.
    #[arg(long, default_value_t = 0.0)]
    pub timeout_rate: f64,
    /// Share of requests answered 503 with nothing done.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of callbacks sent twice.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_callback_rate: f64,
    /// Delay callbacks randomly so they arrive out of order.
    #[arg(long)]
    pub reorder_callbacks: bool,
    /// Latency before every answer and callback.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Payouts to a card ending in these digits fail (a closed account).
    #[arg(long)]
    pub fail_card_last4: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a staff account (the first admin, say). The password is read from
    /// YAJIN_STAFF_PASSWORD or, if unset, from the first line of standard input.
    CreateStaff(CreateStaffArgs),
    /// Re-seal everything sealed under a previous PII key with the current one (after setting
    /// the new key as --pii-key and the old one in --pii-previous-keys); then the old key can go.
    RotateKeys(RotateKeysArgs),
}

#[derive(Debug, Args)]
pub struct RotateKeysArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// The master (PII) keys: the current one and those it replaced.
#[derive(Debug, Args, Clone, Default)]
pub struct KeyArgs {
    /// 64 hex digits: the key that seals ID and bank card numbers at rest [default: a key
    /// generated once into DATA_DIR/pii.key]. Servers sharing a database share it.
    #[arg(long, env = "YAJIN_PII_KEY", hide_env_values = true)]
    pub pii_key: Option<String>,
    /// Earlier PII keys (comma-separated): they still open what they sealed until
    /// `yajin admin rotate-keys` has re-sealed it under the current key.
    #[arg(long, env = "YAJIN_PII_PREVIOUS_KEYS", hide_env_values = true, value_delimiter = ',')]
    pub pii_previous_keys: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateStaffArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[arg(long)]
    pub username: String,
    /// reviewer, approver, finance, admin or support
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub display_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// Folder for the embedded SQLite database and local keys [default: ./yajin-data]
    #[arg(long, env = "YAJIN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// sqlite://PATH or postgres://USER@HOST:PORT/DB [default: SQLite in the data folder]
    #[arg(long, env = "YAJIN_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "YAJIN_LISTEN")]
    pub listen: Option<String>,

    /// Where users reach Yajin, e.g. https://deposits.example.com [default: http://LISTEN].
    /// With https, cookies are `Secure` and HSTS is sent.
    #[arg(long, env = "YAJIN_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Addresses of the proxies in front of Yajin (comma-separated) whose X-Forwarded-For is
    /// believed; without any, the peer's address is the client's.
    #[arg(long, env = "YAJIN_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Seed the demo data set into an empty database; sandbox SMS and bank.
    #[arg(long, env = "YAJIN_DEMO")]
    pub demo: bool,

    #[command(flatten)]
    pub keys: KeyArgs,

    /// `sandbox` (messages readable at /api/v1/sandbox/sms; the demo's default) or `http`
    /// (a provider at --sms-http-url). Required outside the demo.
    #[arg(long, env = "YAJIN_SMS_PROVIDER")]
    pub sms_provider: Option<String>,

    /// The HTTP SMS provider's endpoint.
    #[arg(long, env = "YAJIN_SMS_HTTP_URL")]
    pub sms_http_url: Option<String>,

    #[command(flatten)]
    pub channel: ChannelArgs,
}
