//! Where a gateway may be: card numbers, amounts and codes must not cross a network in clear,
//! so a gateway's URL is `https://`; plain `http://` is for this machine only (a loopback
//! address, as in the demo and the tests), unless the operator allows it for a network they
//! trust (`--allow-insecure-gateway`).

/// Whether plain `http://` is allowed beyond this machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlainHttp {
    /// Only to a loopback address (the default).
    #[default]
    LoopbackOnly,
    /// Anywhere: the operator said so.
    Allowed,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayUrlError {
    #[error("{what} URL is not a URL: {url}: {reason}")]
    NotUrl { what: &'static str, url: String, reason: String },
    #[error("{what} URL must be https:// (plain http:// only to a loopback address, or with --allow-insecure-gateway): {url}")]
    Insecure { what: &'static str, url: String },
}

/// The URL, if a gateway may be reached there.
pub fn check(what: &'static str, url: &str, plain_http: PlainHttp) -> Result<reqwest::Url, GatewayUrlError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| GatewayUrlError::NotUrl {
        what,
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback || plain_http == PlainHttp::Allowed => Ok(parsed),
        _ => Err(GatewayUrlError::Insecure { what, url: url.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_stays_on_this_machine_unless_allowed() {
        let ok = |url: &str, p| check("the test", url, p).is_ok();
        assert!(ok("https://bank.example/yajin", PlainHttp::LoopbackOnly));
        assert!(ok("http://127.0.0.1:8090", PlainHttp::LoopbackOnly));
        assert!(ok("http://[::1]:8090", PlainHttp::LoopbackOnly));
        assert!(ok("http://localhost:8090", PlainHttp::LoopbackOnly));
        assert!(!ok("http://bank.example/yajin", PlainHttp::LoopbackOnly));
        assert!(!ok("http://10.0.0.5/yajin", PlainHttp::LoopbackOnly));
        assert!(ok("http://10.0.0.5/yajin", PlainHttp::Allowed));
        assert!(!ok("ftp://127.0.0.1/x", PlainHttp::Allowed));
        assert!(!ok("not a url", PlainHttp::Allowed));
        let e = check("the SMS gateway", "http://sms.example", PlainHttp::LoopbackOnly).unwrap_err();
        assert!(e.to_string().contains("--allow-insecure-gateway"), "{e}");
    }
}
