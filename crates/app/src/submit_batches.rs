//! Refund submits gathered into batches for [`applications::submit_many`]. A submit joins the
//! queue; while fewer than [`BATCHES_AT_ONCE`] batches are running, it starts one, which takes
//! everything waiting (up to [`BATCH_MAX`]) and, when done, whatever came meanwhile, until the
//! queue is empty. So a lone submit is a batch of one at once, and the busier the server, the
//! larger its batches: on PostgreSQL each statement's turn costs more than its work, and a
//! batch of any size costs five of them (docs/benchmarks.md, session 19). SQLite's submits
//! stay on its writer one by one: there a statement is no round trip, and batched they cost
//! the writer more.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::applications::{self, ApplyError, Submit, SubmitAnswer};
use crate::App;

/// How many batches may run at once: one writing while another is read and judged keeps
/// both the database and this process busy.
pub const BATCHES_AT_ONCE: usize = 2;
/// The most submits a batch takes.
pub const BATCH_MAX: usize = 64;

/// The submits waiting for a batch, and how many batches run.
#[derive(Default)]
pub struct SubmitBatches {
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    submits: VecDeque<(Submit, oneshot::Sender<SubmitAnswer>)>,
    running: usize,
}

/// Submits in the next batch, answered as [`applications::submit_many`] answers it.
pub async fn submit(app: &App, submit: Submit) -> SubmitAnswer {
    let (reply, answer) = oneshot::channel();
    let start = {
        let mut waiting = app.submit_batches.lock();
        waiting.submits.push_back((submit, reply));
        let start = waiting.running < BATCHES_AT_ONCE;
        waiting.running += usize::from(start);
        start
    };
    if start {
        tokio::spawn(run_batches(app.clone()));
    }
    answer.await.unwrap_or_else(|_| Err(ApplyError::Unexpected("the batch of this submit stopped".into())))
}

impl SubmitBatches {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // A batch that panicked held no lock: what is waiting is whole.
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs batches until none is waiting. Whatever ends it, it counts itself out (a submit that
/// comes after it looked for the last time starts a batch of its own).
async fn run_batches(app: App) {
    struct Running<'a>(&'a SubmitBatches, bool);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            if self.1 {
                self.0.lock().running -= 1;
            }
        }
    }
    let mut running = Running(&app.submit_batches, true);
    loop {
        let batch: Vec<_> = {
            let mut waiting = app.submit_batches.lock();
            if waiting.submits.is_empty() {
                waiting.running -= 1;
                running.1 = false;
                return;
            }
            let take = waiting.submits.len().min(BATCH_MAX);
            waiting.submits.drain(..take).collect()
        };
        let (submits, replies): (Vec<Submit>, Vec<_>) = batch.into_iter().unzip();
        let answers = applications::submit_many(&app, &submits).await;
        for (reply, answer) in replies.into_iter().zip(answers) {
            // The caller may have gone (its connection closed): what was done stays done, and
            // its key, if it sent one, replays it.
            let _ = reply.send(answer);
        }
    }
}
