//! What every handler can reach: the use cases, the metrics, the process's age, the mode.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use yajin_app::App;

/// Every handler's state: cloned for each extractor of each request, so one count of a shared
/// [`Shared`] rather than a copy of each field (the vault's keys, the channel's secret).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl From<Shared> for AppState {
    fn from(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub app: App,
    pub metrics: PrometheusHandle,
    pub started: Arc<std::time::Instant>,
    /// Sandbox mode: the SMS inbox is readable over HTTP (never in production).
    pub sandbox: bool,
    /// The payout channel whose callbacks this server takes, with their shared secret.
    pub channel: Option<ChannelSecret>,
    /// How the site is reached (https?) and whether it is a demo, for the pages.
    pub site: Site,
    /// Proxies in front of Yajin whose `X-Forwarded-For` is believed (none: the peer's address
    /// is the client's).
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
}

/// How Yajin is reached, for what depends on it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Site {
    /// Served over https (`YAJIN_PUBLIC_URL`): cookies are `Secure`, HSTS is sent.
    pub https: bool,
    /// Demo mode: the start pages show the demo logins.
    pub demo: bool,
}

#[derive(Clone)]
pub struct ChannelSecret {
    pub name: String,
    pub secret: Vec<u8>,
}
