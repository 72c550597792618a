//! Requests gathered into batches, for use cases that do many requests' work in one
//! transaction (refund submits on PostgreSQL: [`crate::applications::submit_many`]). A request
//! joins the queue; while fewer than [`BATCHES_AT_ONCE`] batches are running, it starts one,
//! which takes everything waiting (up to [`BATCH_MAX`]) and, when done, whatever came
//! meanwhile, until the queue is empty. So a lone request is a batch of one at once, and the
//! busier the server, the larger its batches: on PostgreSQL each statement's turn costs more
//! than its work, and a batch of submits of any size costs five of them (docs/benchmarks.md,
//! session 19).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// How many batches may run at once: one writing while another is read and judged keeps
/// both the database and this process busy (four measured the same and spent more CPU).
pub const BATCHES_AT_ONCE: usize = 2;
/// The most requests a batch takes.
pub const BATCH_MAX: usize = 64;

/// The requests `T` waiting for a batch, each with where its answer `A` goes, and how many
/// batches run.
pub struct Batches<T, A> {
    waiting: Mutex<Waiting<T, A>>,
}

struct Waiting<T, A> {
    requests: VecDeque<(T, oneshot::Sender<A>)>,
    running: usize,
}

impl<T, A> Default for Batches<T, A> {
    fn default() -> Self {
        Batches { waiting: Mutex::new(Waiting { requests: VecDeque::new(), running: 0 }) }
    }
}

impl<T: Send + 'static, A: Send + 'static> Batches<T, A> {
    /// Puts `request` in the next batch and waits for its answer; `run` does a batch's work,
    /// an answer for each request in order. None: the batch stopped without answering (it
    /// panicked).
    pub async fn join<R, F>(self: &Arc<Self>, request: T, run: R) -> Option<A>
    where
        R: Fn(Vec<T>) -> F + Send + 'static,
        F: Future<Output = Vec<A>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut waiting = self.lock();
            waiting.requests.push_back((request, reply));
            let start = waiting.running < BATCHES_AT_ONCE;
            waiting.running += usize::from(start);
            start
        };
        if start {
            tokio::spawn(Arc::clone(self).run_batches(run));
        }
        answer.await.ok()
    }

    fn lock(&self) -> MutexGuard<'_, Waiting<T, A>> {
        // A batch that panicked held no lock: what is waiting is whole.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs batches until none is waiting. Whatever ends it, it counts itself out (a request
    /// that comes after it looked for the last time starts a batch of its own).
    async fn run_batches<R, F>(self: Arc<Self>, run: R)
    where
        R: Fn(Vec<T>) -> F,
        F: Future<Output = Vec<A>>,
    {
        struct Running<'a, T, A>(&'a Batches<T, A>, bool);
        impl<T, A> Drop for Running<'_, T, A> {
            fn drop(&mut self) {
                if self.1 {
                    self.0.waiting.lock().unwrap_or_else(PoisonError::into_inner).running -= 1;
                }
            }
        }
        let mut running = Running(&self, true);
        loop {
            let batch: Vec<_> = {
                let mut waiting = self.lock();
                if waiting.requests.is_empty() {
                    waiting.running -= 1;
                    running.1 = false;
                    return;
                }
                let take = waiting.requests.len().min(BATCH_MAX);
                waiting.requests.drain(..take).collect()
            };
            let (requests, replies): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
            for (reply, answer) in replies.into_iter().zip(run(requests).await) {
                // The caller may have gone (its connection closed): what was done stays done,
                // and its key, if it sent one, replays it.
                let _ = reply.send(answer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_request_gets_its_own_answer_and_a_busy_queue_fills_its_batches() {
        let batches: Arc<Batches<u32, u32>> = Arc::default();
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut waiting = Vec::new();
        for n in 0..200 {
            let (batches, sizes, now, most) = (batches.clone(), sizes.clone(), now.clone(), most.clone());
            waiting.push(tokio::spawn(async move {
                let run = move |batch: Vec<u32>| {
                    let (sizes, now, most) = (sizes.clone(), now.clone(), most.clone());
                    async move {
                        most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        sizes.lock().unwrap().push(batch.len());
                        now.fetch_sub(1, Ordering::SeqCst);
                        batch.iter().map(|n| n * 2).collect()
                    }
                };
                (n, batches.join(n, run).await)
            }));
        }
        for task in waiting {
            let (n, answer) = task.await.unwrap();
            assert_eq!(answer, Some(n * 2), "request {n} got another's answer");
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 200, "each request in one batch: {sizes:?}");
        assert!(sizes.iter().any(|&n| n > 1), "requests waiting together go together: {sizes:?}");
        assert!(sizes.iter().all(|&n| n <= BATCH_MAX), "{sizes:?}");
        assert!(most.load(Ordering::SeqCst) <= BATCHES_AT_ONCE, "at most {BATCHES_AT_ONCE} batches at once");
    }

    #[tokio::test]
    async fn batches_that_panic_leave_the_queue_working() {
        // A runner that panicked and did not count itself out would leave the next request
        // waiting for ever: each wait is bounded.
        let batches: Arc<Batches<u32, u32>> = Arc::default();
        fn within<F: Future>(answer: F) -> tokio::time::Timeout<F> {
            tokio::time::timeout(Duration::from_secs(10), answer)
        }
        for _ in 0..BATCHES_AT_ONCE + 1 {
            let answer = within(batches.join(1, |_: Vec<u32>| async { panic!("a batch fails") })).await;
            assert_eq!(answer, Ok(None), "a request whose batch stopped is told so");
        }
        let answer = within(batches.join(7, |batch: Vec<u32>| async move { batch })).await;
        assert_eq!(answer, Ok(Some(7)), "every runner that panicked counted itself out");
    }
}
