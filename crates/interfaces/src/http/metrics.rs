//! Prometheus metrics, labelled by the matched route (not the raw path: ids would explode the
//! label space).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// How often the request durations recorded are counted into their buckets and let go.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// The process-wide recorder, installed once, with its upkeep beside it.
///
/// The recorder keeps every duration recorded, each in memory, until they are counted into
/// their buckets: at a scrape of `/metrics`, or at an upkeep. Without an upkeep of its own a
/// server nobody scrapes grew by about 27 bytes a request (25 MiB in each of `bench/http.sh`'s
/// rounds, past the 150 MiB it is held to: docs/benchmarks.md, session 33). The upkeep runs
/// on a thread of its own, not on a runtime (tests start and drop many), for the process's life.
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
                .expect("static buckets are valid")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            let upkeep = handle.clone();
            let started = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            });
            if let Err(e) = started {
                tracing::warn!("no thread for the metrics' upkeep ({e}): durations are let go only at a scrape");
            }
            handle
        })
        .clone()
}

pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method.to_owned()), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

/// A request's method as a label: HTTP's own methods by name, any other `other`. Every label
/// value makes a series the recorder keeps for good, and a client may send any token as a
/// method (`FOO1`, `FOO2`, …): named as sent, each would have grown the server's memory and
/// every scrape (the route is bounded already: the matched pattern, or `unmatched`).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    KNOWN.iter().find(|known| *known == method).map_or("other", Method::as_str)
}
