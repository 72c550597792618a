//! What the metrics keep stays bounded however a server is used: a server nobody scrapes lets
//! go of the durations it recorded at every upkeep, and no client can make series of its own.
//! In a binary of their own: the first test reads the process's resident memory.

use std::time::Duration;

/// Resident memory of this process, in bytes (`/proc/self/statm`'s second field, in pages).
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux's /proc");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("statm's resident pages");
    pages * 4096
}

/// As many durations as a busy server records in a minute, through the histogram the HTTP
/// layer records into.
fn answer_many_requests() {
    let labels =
        [("method", "GET".to_owned()), ("route", "/api/v1/terminals".to_owned()), ("status", "200".to_owned())];
    let durations = metrics::histogram!("http_request_duration_seconds", &labels);
    for i in 0..2_000_000u32 {
        durations.record(f64::from(i % 1000) * 1e-6);
    }
}

#[test]
fn durations_recorded_without_a_scrape_are_let_go_at_the_next_upkeep() {
    let metrics = yajin::http::recorder();
    let settle = || std::thread::sleep(yajin::http::METRICS_UPKEEP_EVERY + Duration::from_millis(300));

    answer_many_requests();
    settle();
    let after_first = resident();
    for _ in 0..2 {
        answer_many_requests();
        settle();
    }
    let after_third = resident();

    // Kept until a scrape, the two later rounds' 4,000,000 durations would take about 33 MB;
    // let go at each upkeep, each round reuses what the one before it had.
    let grown = after_third.saturating_sub(after_first);
    assert!(grown < 8 << 20, "the server grew by {grown} bytes over two rounds of requests nobody scraped");
    // They were counted before they were let go.
    let scraped = metrics.render();
    let count = scraped
        .lines()
        .find(|l| l.starts_with("http_request_duration_seconds_count") && l.contains("/api/v1/terminals"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(count, Some(6_000_000), "{scraped}");
}

/// A client may send any token as a method; each would have been a series of its own, kept
/// for good. HTTP's own methods keep their names; any other is counted as `other`.
#[test]
fn a_method_of_the_clients_own_making_is_counted_as_other() {
    use axum::routing::get;

    let metrics = yajin::http::recorder();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let app = axum::Router::new()
            .route("/metered", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(yajin::http::track_metrics));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metered", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        for method in ["GET", "DELETE", "FOO-METHOD-1", "FOO-METHOD-2"] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            client.request(method, &url).send().await.unwrap();
        }
    });
    let scraped = metrics.render();
    let counted = |method: &str, status: &str| {
        scraped.lines().any(|l| {
            l == format!(
                r#"http_requests_total{{method="{method}",route="/metered",status="{status}"}} {}"#,
                if method == "other" { 2 } else { 1 }
            )
        })
    };
    assert!(counted("GET", "200") && counted("DELETE", "405") && counted("other", "405"), "{scraped}");
    assert!(!scraped.contains("FOO-METHOD"), "{scraped}");
}
