//! What `/metrics` shows of the requests a server answered, and that no client can add to it.

use yajin_testdb::on_both_databases;

// A client may send any token as a method; named as sent, each would have been a series the
// server keeps for good. HTTP's own methods keep their names; any other is `other`.
on_both_databases! {
    async fn a_method_of_the_clients_own_making_is_counted_as_other(db) {
        let app = crate::harness::spawn_app(db).await;
        assert_eq!(app.raw("GET", "/healthz", None, "text/plain", Vec::new()).await.status, 200);
        for method in ["FOO-METHOD-1", "FOO-METHOD-2"] {
            assert_eq!(app.raw(method, "/healthz", None, "text/plain", Vec::new()).await.status, 405);
        }
        let scraped = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
        let counted = |labels: &str| scraped.lines().any(|l| l.starts_with(&format!("http_requests_total{{{labels}}} ")));
        assert!(counted(r#"method="GET",route="/healthz",status="200""#), "{scraped}");
        assert!(counted(r#"method="other",route="/healthz",status="405""#), "{scraped}");
        assert!(!scraped.contains("FOO-METHOD"), "{scraped}");
    }
}
