//! A server nobody scrapes answers request after request, each recording its duration: what
//! the metrics keep of them is let go at every upkeep, so the server's memory stays flat.
//! Alone in its binary: it reads the process's resident memory, and a scrape elsewhere in the
//! process would let go of the durations as well, upkeep or not. (That no client can add
//! series of its own: tests/api/metrics.rs.)

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

    // Kept until a scrape, the two later rounds' 4,000,000 durations took 66 MB (measured with
    // the upkeep stopped); let go at each upkeep, each round reuses what the one before it had.
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
