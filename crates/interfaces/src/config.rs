//! Configuration: command-line flags over `YAJIN_*` environment variables over a TOML file
//! over defaults. Every value is checked before anything starts; a bad one is one clear line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use yajin_app::setup::Backend;

use crate::cli::{ChannelArgs, DbArgs, KeyArgs, LogFormat, ServeArgs};
use yajin_channels::gateway::PlainHttp;

/// The TOML file's shape. Unknown keys are errors: a typo must not be silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub demo: Option<bool>,
    pub log_format: Option<String>,
    pub pii_key: Option<String>,
    #[serde(default)]
    pub pii_previous_keys: Vec<String>,
    pub db_max_connections: Option<u32>,
    pub sms_provider: Option<String>,
    pub sms_http_url: Option<String>,
    pub payout_channel_url: Option<String>,
    /// Plain http:// gateways beyond this machine (see `--allow-insecure-gateway`).
    pub allow_insecure_gateway: Option<bool>,
    /// Jobs the worker runs at once (see `--worker-jobs`).
    pub worker_jobs: Option<usize>,
    /// How long a retry with the same `Idempotency-Key` replays the first answer (hours, at
    /// least 24; default 24).
    pub idempotency_retention_hours: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl FileConfig {
    pub fn load(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("config file {}: {}", path.display(), refusal(&e))))
    }
}

/// Why a config file was refused, in one line: the parser's first line that says something
/// (its message for `0=` begins with an empty one).
fn refusal(e: &toml::de::Error) -> String {
    e.message().lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("not valid TOML").to_owned()
}

/// The master (PII) keys, checked: the current one (none: the data folder's `pii.key`) and
/// those it replaced.
#[derive(Clone, Debug, Default)]
pub struct KeyConfig {
    pub current: Option<String>,
    pub previous: Vec<String>,
}

pub fn key_config(args: &KeyArgs, file: &FileConfig) -> Result<KeyConfig, ConfigError> {
    let current = args.pii_key.clone().or_else(|| file.pii_key.clone());
    let previous =
        if args.pii_previous_keys.is_empty() { file.pii_previous_keys.clone() } else { args.pii_previous_keys.clone() };
    for (name, key) in current.iter().map(|k| ("pii_key", k)).chain(previous.iter().map(|k| ("pii_previous_keys", k))) {
        yajin_app::setup::MasterKey::from_hex(key).map_err(|e| ConfigError(format!("{name}: {e}")))?;
    }
    Ok(KeyConfig { current, previous })
}

/// Where the database is and how to open it.
#[derive(Clone, Debug)]
pub struct DbConfig {
    pub url: String,
    pub backend: Backend,
    pub data_dir: PathBuf,
    pub max_connections: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmsConfig {
    Sandbox,
    /// The bearer token comes from `YAJIN_SMS_HTTP_TOKEN` only: a secret is not a file setting.
    Http {
        url: String,
        token: Option<String>,
        plain_http: PlainHttp,
    },
}

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Where users reach Yajin (no trailing slash).
    pub public_url: String,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub db: DbConfig,
    pub demo: bool,
    pub keys: KeyConfig,
    pub sms: SmsConfig,
    pub channel: ChannelConfig,
    /// Jobs the worker runs at once.
    pub worker_jobs: usize,
    pub retention: yajin_app::housekeeping::Retention,
}

/// Where refunds are paid and debts collected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelConfig {
    /// None configured: approved refunds wait (said loudly at start).
    None,
    /// The demo's sandbox bank, inside this process.
    EmbeddedSandbox,
    /// A gateway speaking docs/payout-channel.md. The secret comes from
    /// `YAJIN_PAYOUT_CHANNEL_SECRET` only: a secret is not a file setting.
    Http { url: String, secret: String, timeout_ms: u64, plain_http: PlainHttp },
}

/// How many jobs the worker runs at once: the flag, or the file, or
/// [`yajin_app::worker::JOBS_AT_ONCE`].
pub fn worker_jobs(args: &ChannelArgs, file: &FileConfig) -> Result<usize, ConfigError> {
    let jobs = args.worker_jobs.or(file.worker_jobs).unwrap_or(yajin_app::worker::JOBS_AT_ONCE);
    if !(1..=256).contains(&jobs) {
        return Err(ConfigError(format!("worker_jobs (YAJIN_WORKER_JOBS / --worker-jobs) must be 1–256, not {jobs}")));
    }
    Ok(jobs)
}

/// Whether plain http:// gateways may be beyond this machine: the flag, or the file.
pub fn plain_http(args: &ChannelArgs, file: &FileConfig) -> PlainHttp {
    if args.allow_insecure_gateway || file.allow_insecure_gateway.unwrap_or(false) {
        PlainHttp::Allowed
    } else {
        PlainHttp::LoopbackOnly
    }
}

pub fn channel_config(args: &ChannelArgs, file: &FileConfig, demo: bool) -> Result<ChannelConfig, ConfigError> {
    let url = args.payout_channel_url.clone().or_else(|| file.payout_channel_url.clone());
    match url {
        None if demo => Ok(ChannelConfig::EmbeddedSandbox),
        None => Ok(ChannelConfig::None),
        Some(url) => {
            let secret = std::env::var("YAJIN_PAYOUT_CHANNEL_SECRET").map_err(|_| {
                ConfigError(
                    "payout_channel_url needs YAJIN_PAYOUT_CHANNEL_SECRET (the shared secret, 32+ bytes)".into(),
                )
            })?;
            if args.payout_channel_timeout_ms == 0 || args.payout_channel_timeout_ms > 120_000 {
                return Err(ConfigError("payout_channel_timeout_ms must be 1–120000".into()));
            }
            // Checked now, so that a bad URL or a weak secret stops the start.
            let plain_http = plain_http(args, file);
            yajin_channels::payout::HttpChannel::new(
                "sandbox",
                &url,
                secret.as_bytes(),
                std::time::Duration::from_millis(args.payout_channel_timeout_ms),
                plain_http,
            )
            .map_err(|e| ConfigError(e.to_string()))?;
            Ok(ChannelConfig::Http { url, secret, timeout_ms: args.payout_channel_timeout_ms, plain_http })
        }
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./yajin-data";
const MAX_CONNECTIONS_LIMIT: u32 = 1_000;

pub fn log_format(flag: Option<LogFormat>, file: &FileConfig) -> Result<LogFormat, ConfigError> {
    if let Some(f) = flag {
        return Ok(f);
    }
    match file.log_format.as_deref() {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(ConfigError(format!("log_format must be \"text\" or \"json\", not {other:?}"))),
    }
}

pub fn db_config(args: &DbArgs, file: &FileConfig) -> Result<DbConfig, ConfigError> {
    let data_dir = args.data_dir.clone().or_else(|| file.data_dir.clone()).unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let url = match args.database_url.clone().or_else(|| file.database_url.clone()) {
        Some(url) => url,
        None => format!("sqlite://{}?mode=rwc", data_dir.join("yajin.db").display()),
    };
    let backend = Backend::of_url(&url).ok_or_else(|| {
        ConfigError(format!(
            "database URL {:?} (YAJIN_DATABASE_URL / --database-url) must start with sqlite:// or postgres://",
            yajin_app::setup::redact(&url)
        ))
    })?;
    let max_connections = file.db_max_connections.unwrap_or(16);
    if max_connections == 0 || max_connections > MAX_CONNECTIONS_LIMIT {
        return Err(ConfigError(format!(
            "db_max_connections must be 1–{MAX_CONNECTIONS_LIMIT}, not {max_connections}"
        )));
    }
    Ok(DbConfig { url, backend, data_dir, max_connections })
}

pub fn serve_config(args: &ServeArgs, file: &FileConfig) -> Result<ServeConfig, ConfigError> {
    let listen_text = args.listen.clone().or_else(|| file.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen = listen_text.parse::<SocketAddr>().map_err(|_| {
        ConfigError(format!(
            "listen address {listen_text:?} (YAJIN_LISTEN / --listen) is not HOST:PORT, e.g. 127.0.0.1:8080"
        ))
    })?;
    let keys = key_config(&args.keys, file)?;
    let demo = args.demo || file.demo.unwrap_or(false);
    let public_url = match args.public_url.clone().or_else(|| file.public_url.clone()) {
        None => format!("http://{listen}"),
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => url.trim_end_matches('/').to_owned(),
        Some(url) => {
            return Err(ConfigError(format!(
                "public URL {url:?} (YAJIN_PUBLIC_URL / --public-url) must start with https:// or http://"
            )))
        }
    };
    let proxies = if args.trusted_proxies.is_empty() { &file.trusted_proxies } else { &args.trusted_proxies };
    let trusted_proxies = proxies
        .iter()
        .map(|p| {
            p.trim().parse::<std::net::IpAddr>().map_err(|_| {
                ConfigError(format!(
                    "trusted proxy {p:?} (YAJIN_TRUSTED_PROXIES / --trusted-proxies) is not an IP address"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServeConfig {
        listen,
        public_url,
        trusted_proxies,
        db: db_config(&args.db, file)?,
        demo,
        sms: sms_config(args, file, demo)?,
        channel: channel_config(&args.channel, file, demo)?,
        worker_jobs: worker_jobs(&args.channel, file)?,
        keys,
        retention: retention(file)?,
    })
}

fn retention(file: &FileConfig) -> Result<yajin_app::housekeeping::Retention, ConfigError> {
    let mut retention = yajin_app::housekeeping::Retention::default();
    if let Some(hours) = file.idempotency_retention_hours {
        if !(24..=24 * 366).contains(&hours) {
            return Err(ConfigError(format!("idempotency_retention_hours must be 24–8784, not {hours}")));
        }
        retention.idempotency_keys = std::time::Duration::from_secs(hours * 3600);
    }
    Ok(retention)
}

fn sms_config(args: &ServeArgs, file: &FileConfig, demo: bool) -> Result<SmsConfig, ConfigError> {
    let provider = args.sms_provider.clone().or_else(|| file.sms_provider.clone());
    match provider.as_deref() {
        Some("sandbox") => Ok(SmsConfig::Sandbox),
        None if demo => Ok(SmsConfig::Sandbox),
        Some("http") => {
            let url = args.sms_http_url.clone().or_else(|| file.sms_http_url.clone()).ok_or_else(|| {
                ConfigError("sms_provider \"http\" needs sms_http_url (YAJIN_SMS_HTTP_URL / --sms-http-url)".into())
            })?;
            let plain_http = plain_http(&args.channel, file);
            yajin_channels::gateway::check("the SMS gateway", &url, plain_http)
                .map_err(|e| ConfigError(format!("sms_http_url: {e}")))?;
            Ok(SmsConfig::Http { url, token: std::env::var("YAJIN_SMS_HTTP_TOKEN").ok(), plain_http })
        }
        None => Err(ConfigError(
            "sms_provider is not set (YAJIN_SMS_PROVIDER / --sms-provider): \"http\" with sms_http_url for production, \"sandbox\" for testing; --demo implies sandbox".into(),
        )),
        Some(other) => Err(ConfigError(format!("sms_provider must be \"sandbox\" or \"http\", not {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args() -> ServeArgs {
        ServeArgs {
            db: DbArgs { data_dir: None, database_url: None },
            listen: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            demo: true,
            keys: crate::cli::KeyArgs::default(),
            sms_provider: None,
            sms_http_url: None,
            channel: crate::cli::ChannelArgs::default(),
        }
    }

    #[test]
    fn defaults_are_a_local_sqlite_file() {
        let c = serve_config(&serve_args(), &FileConfig::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.db.backend, Backend::Sqlite);
        assert_eq!(c.db.url, "sqlite://./yajin-data/yajin.db?mode=rwc");
    }

    #[test]
    fn the_public_url_says_whether_the_site_is_https() {
        let c = serve_config(&serve_args(), &FileConfig::default()).unwrap();
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        let mut args = serve_args();
        args.public_url = Some("https://deposits.example.com/".into());
        assert_eq!(serve_config(&args, &FileConfig::default()).unwrap().public_url, "https://deposits.example.com");
        let file: FileConfig = toml::from_str("public_url = \"ftp://x\"").unwrap();
        let e = serve_config(&serve_args(), &file).unwrap_err();
        assert!(e.0.contains("YAJIN_PUBLIC_URL"), "{}", e.0);
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: FileConfig =
            toml::from_str("listen = \"0.0.0.0:9000\"\ndatabase_url = \"postgres://u@h/db\"").unwrap();
        let mut args = serve_args();
        assert_eq!(serve_config(&args, &file).unwrap().listen.to_string(), "0.0.0.0:9000");
        args.listen = Some("127.0.0.1:1".into());
        let c = serve_config(&args, &file).unwrap();
        assert_eq!((c.listen.to_string(), c.db.backend), ("127.0.0.1:1".into(), Backend::Postgres));
    }

    #[test]
    fn bad_values_are_one_clear_line() {
        let mut args = serve_args();
        args.listen = Some("nonsense".into());
        let e = serve_config(&args, &FileConfig::default()).unwrap_err().0;
        assert!(e.contains("listen address \"nonsense\"") && !e.contains('\n'), "{e}");
        let file: FileConfig = toml::from_str("database_url = \"mysql://x\"").unwrap();
        assert!(serve_config(&serve_args(), &file).unwrap_err().0.contains("sqlite:// or postgres://"));
        let file: FileConfig = toml::from_str("pii_key = \"abc\"").unwrap();
        assert!(serve_config(&serve_args(), &file).unwrap_err().0.contains("64 hex digits"));
        let file: FileConfig = toml::from_str("db_max_connections = 0").unwrap();
        assert!(serve_config(&serve_args(), &file).unwrap_err().0.contains("db_max_connections"));
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err(), "typos are errors");
    }

    #[test]
    fn the_worker_runs_sixteen_jobs_at_once_unless_told_from_one_to_256() {
        assert_eq!(serve_config(&serve_args(), &FileConfig::default()).unwrap().worker_jobs, 16);
        let file: FileConfig = toml::from_str("worker_jobs = 4").unwrap();
        assert_eq!(serve_config(&serve_args(), &file).unwrap().worker_jobs, 4);
        let mut args = serve_args();
        args.channel.worker_jobs = Some(256);
        assert_eq!(serve_config(&args, &file).unwrap().worker_jobs, 256, "the flag wins");
        for bad in [0, 257] {
            args.channel.worker_jobs = Some(bad);
            let e = serve_config(&args, &file).unwrap_err().0;
            assert!(e.contains("YAJIN_WORKER_JOBS") && e.contains(&format!("not {bad}")), "{e}");
        }
        assert!(toml::from_str::<FileConfig>("worker_jobs = -1").is_err());
    }

    #[test]
    fn sms_is_sandbox_only_when_asked_or_in_the_demo() {
        let mut args = serve_args();
        assert_eq!(serve_config(&args, &FileConfig::default()).unwrap().sms, SmsConfig::Sandbox);
        args.demo = false;
        assert!(serve_config(&args, &FileConfig::default()).unwrap_err().0.contains("sms_provider is not set"));
        args.sms_provider = Some("http".into());
        assert!(serve_config(&args, &FileConfig::default()).unwrap_err().0.contains("needs sms_http_url"));
        args.sms_http_url = Some("https://sms.example/send".into());
        assert!(matches!(serve_config(&args, &FileConfig::default()).unwrap().sms, SmsConfig::Http { .. }));
        // Codes in clear over a network: refused, unless the operator allows it.
        args.sms_http_url = Some("http://sms.example/send".into());
        let refused = serve_config(&args, &FileConfig::default()).unwrap_err().0;
        assert!(refused.contains("must be https://") && refused.contains("--allow-insecure-gateway"), "{refused}");
        let allowed: FileConfig = toml::from_str("allow_insecure_gateway = true").unwrap();
        assert!(matches!(
            serve_config(&args, &allowed).unwrap().sms,
            SmsConfig::Http { plain_http: PlainHttp::Allowed, .. }
        ));
        args.sms_http_url = Some("http://127.0.0.1:9000/send".into());
        assert!(serve_config(&args, &FileConfig::default()).is_ok(), "this machine is fine");
        args.sms_provider = Some("carrier-pigeon".into());
        assert!(serve_config(&args, &FileConfig::default()).unwrap_err().0.contains("\"carrier-pigeon\""));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Text that is sometimes what a setting wants and mostly not.
        fn setting(valid: &'static str) -> impl Strategy<Value = String> {
            prop_oneof![valid.prop_map(|s| s), "\\PC{0,24}", any::<String>()]
        }

        proptest! {
            #[test]
            fn any_config_file_text_is_read_or_refused_in_one_line(text in "\\PC{0,80}") {
                if let Err(e) = toml::from_str::<FileConfig>(&text) {
                    let why = refusal(&e);
                    prop_assert!(!why.is_empty() && !why.contains('\n'));
                }
            }

            #[test]
            fn each_setting_is_accepted_exactly_when_valid(
                listen in setting("127\\.0\\.0\\.1:[0-9]{1,5}"),
                key in setting("[0-9a-f]{64}"),
                proxy in setting("(10|192)\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"),
                url in setting("https?://[a-z]{1,10}\\.example"),
                hours in any::<u64>(),
            ) {
                let mut args = serve_args();
                args.listen = Some(listen.clone());
                args.keys.pii_key = Some(key.clone());
                args.trusted_proxies = vec![proxy.clone()];
                args.public_url = Some(url.clone());
                let file = FileConfig { idempotency_retention_hours: Some(hours), ..FileConfig::default() };
                let valid = listen.parse::<SocketAddr>().is_ok()
                    && yajin_app::setup::MasterKey::from_hex(&key).is_ok()
                    && proxy.trim().parse::<std::net::IpAddr>().is_ok()
                    && (url.starts_with("https://") || url.starts_with("http://"))
                    && (24..=24 * 366).contains(&hours);
                match serve_config(&args, &file) {
                    Ok(_) => prop_assert!(valid),
                    Err(e) => {
                        prop_assert!(!valid, "refused a valid config: {}", e.0);
                        prop_assert!(!e.0.contains('\n'), "one line: {}", e.0);
                    }
                }
            }
        }
    }
}
