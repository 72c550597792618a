//! `yajin reconcile FILE`: the statement streamed from disk through reconciliation, with a
//! progress bar on the terminal and the report as JSON on stdout.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use yajin_app::reconciliation::Reconciler;
use yajin_app::{App, SystemClock};
use yajin_channels::sms::SandboxSms;

use crate::config::{DbConfig, KeyConfig};
use crate::http::views::ReconciliationView;
use crate::Failure;

const CHUNK: usize = 1 << 20;

pub async fn run(config: &DbConfig, keys: &KeyConfig, file: &Path) -> Result<(), Failure> {
    let mut input =
        std::fs::File::open(file).map_err(|e| Failure::runtime(format!("cannot open {}: {e}", file.display())))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let db = crate::serve::open_database(config).await?;
    let vault = crate::serve::open_vault(&db, keys, &config.data_dir).await?;
    let app = App::new(db.clone(), vault, Arc::new(SystemClock), Arc::new(SandboxSms));
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut reconciler = Reconciler::new(&app);
    let mut buffer = vec![0; CHUNK];
    loop {
        let n =
            input.read(&mut buffer).map_err(|e| Failure::runtime(format!("cannot read {}: {e}", file.display())))?;
        if n == 0 {
            break;
        }
        reconciler.feed(&buffer[..n]).await.map_err(|e| Failure::runtime(e.to_string()))?;
        bar.inc(n as u64);
    }
    let report = reconciler.finish().await.map_err(|e| Failure::runtime(e.to_string()))?;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&ReconciliationView::from(report)).unwrap_or_default());
    db.close().await;
    Ok(())
}
