//! What every handler can reach: the use cases, the metrics, the process's age, the mode.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use yajin_app::App;

#[derive(Clone)]
pub struct AppState {
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
