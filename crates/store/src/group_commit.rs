//! Group commit for SQLite's one writer (the design notes' "group commit"): this process's
//! writers take turns on one connection of their own; each runs in a savepoint of a transaction
//! they share, and that transaction commits once for all of them: one durable commit per
//! group instead of one per request. A writer's commit returns only after the group's commit
//! is on disk: "committed" still means "on disk", and nobody is answered before.
//!
//! - The commit is made durable off the writer's thread. The writer connection commits with
//!   `synchronous=NORMAL` (the WAL's frames written, not yet flushed) and hands the group's
//!   members to the syncer, a thread of its own that flushes the WAL (`fdatasync`, as SQLite's
//!   own `synchronous=FULL` does at each commit) and only then answers them, oldest group
//!   first. Meanwhile the writer runs the next group's statements: with `FULL` it sat idle in
//!   the flush, a third of its time (docs/benchmarks.md, session 31). The WAL is written in
//!   order and a flush covers all of it, so a group is durable once a flush that began after
//!   its commit returns, and with it every group before (SQLite's recovery keeps the WAL up
//!   to its first frame that fails its checksum; a checkpoint flushes the WAL before it copies
//!   anything into the database). A flush that fails is answered as a failed commit, and so is
//!   every commit after it until the server restarts (after a failed `fsync`, Linux may have
//!   dropped the unwritten pages: nothing can be promised any more); a WAL that could not be
//!   opened to flush fails only the groups of that flush.
//! - What that changes, and what it does not: a member is still answered only once its work
//!   is on disk, and whatever leaves the process because of a write (a payout sent to the
//!   bank, a text, a callback's answer) follows a write of its own that was answered, so it
//!   too follows a flush. A reader may see a group in the moment between its commit and its
//!   flush, so no answer shows it before that flush either: the groups are numbered as they
//!   begin and as they commit, the syncer publishes how far they are settled (durable, or
//!   rolled back), and an answer that may rest on what a read saw waits until every group
//!   committed before it is settled ([`GroupCommit::seen_durable`]: for every HTTP answer, a
//!   look at two counters when nothing is in flight). An answer that rests on another
//!   writer's work rather than its own (a request's stored answer replayed under its
//!   idempotency key, a bank's duplicate callback) waits for every group begun before it,
//!   the one open included ([`GroupCommit::durable_since`]), and fails if one of them was
//!   rolled back: the stored answer it read may have gone with it.
//!
//! - A writer that fails or gives up rolls back its own savepoint; the others are untouched.
//! - The group is committed by a committer task when it gets the turn. The turn is a fair lock,
//!   so the committer queues behind whoever was waiting when the first member finished: those
//!   join the group, later arrivals start the next one. Nothing waits on a timer, and on an
//!   idle server a commit happens at once.
//! - If the commit fails, every member is told so: none of them is answered as done, and all
//!   of their work is rolled back together (a retry with the same idempotency key redoes it).
//! - A request may be cancelled at any await (its client hung up). The writer's statements run
//!   synchronously (see [`crate::sql`]), so a request is never cut short inside one, only
//!   between them; what a cut-short request may have left (an abandoned savepoint, a
//!   transaction nobody knows of) is marked first, repaired by the next writer or by the
//!   committer (which a cut-short step wakes), and when in doubt the group is failed: never
//!   a member told "done" whose work was rolled back.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use tokio::sync::{oneshot, watch, Mutex, Notify, OwnedMutexGuard};

use crate::sql::{Conn, SqliteWriter};
use crate::StoreError;

/// How a member learns the fate of its group's commit.
type Verdict = oneshot::Sender<Result<(), String>>;

/// What the syncer is told: a group that has ended, or a waiter's nudge to flush again what
/// a flush that could not open the WAL left (only then: in the usual course every group that
/// ends brings its own flush, and a waiter costs the syncer nothing).
enum ToSyncer {
    Ended(Ended),
    Nudge,
}

/// A group that has ended, as the syncer settles it.
struct Ended {
    /// Its number ([`Progress::begun`] when it began).
    number: u64,
    /// Committed: its frames are in the WAL, to be flushed before its members are answered.
    committed: bool,
    /// Rolled back with work its members had kept: whatever was read of it is gone.
    lost: bool,
    /// The members to answer once it is durable (none for a group rolled back: the writer
    /// answered them).
    members: Vec<Verdict>,
}

/// How far the groups have got: numbered by the writer as they begin and commit, settled by
/// the syncer, waited for by answers ([`GroupCommit::seen_durable`], [`GroupCommit::durable_since`]).
struct Progress {
    /// Groups begun (a group's number is this count once it began).
    begun: AtomicU64,
    /// The number of the last group whose `COMMIT` was sent, counted before it is sent: a
    /// reader that saw a group's work then finds it counted here.
    committed: AtomicU64,
    /// What the syncer (the one sender: were its thread gone, waiters hear so) published.
    settled: watch::Receiver<Settled>,
    /// `settled`'s `upto`, for the look every answer takes without a lock.
    settled_upto: AtomicU64,
}

/// What the syncer has settled.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Settled {
    /// Every group up to this number is durable or was rolled back.
    upto: u64,
    /// The last group rolled back with work its members had kept (0: none).
    lost: u64,
    /// A flush failed: nothing is durable any more, until a restart.
    poisoned: bool,
    /// The last flush could not open the WAL: committed groups wait for another one.
    stuck: bool,
}

/// Where [`GroupCommit::durable_since`] counts from: how far the groups were settled when the
/// caller began.
#[derive(Clone, Copy, Debug, Default)]
pub struct DurableMark(u64);

/// The writer connection and the group transaction open on it. Holding its lock is holding
/// the turn to write.
pub(crate) struct Writer {
    /// Used synchronously (see [`crate::sql`]): a statement runs to its end within one poll.
    conn: SqliteWriter,
    /// How long `BEGIN IMMEDIATE` keeps trying while another process holds the write lock.
    busy_timeout: Duration,
    /// The members whose work waits in the open transaction; `None` when none is open.
    group: Option<Vec<Verdict>>,
    /// The writer whose turn it was left without committing or rolling back (its request was
    /// cancelled, or it returned early with an error): its savepoint is still open.
    abandoned: bool,
    /// A step was cut short after sending a statement: a transaction may be open that `group`
    /// does not show (a `BEGIN` that ran, a `ROLLBACK` that did not), or a savepoint no member
    /// owns.
    unsure: bool,
    /// The open group's number (the last group's, between groups).
    number: u64,
    progress: Arc<Progress>,
    /// The syncer, which answers a committed group's members once it is durable.
    syncer: std::sync::mpsc::Sender<ToSyncer>,
}

/// The turn, and the committer task that commits the groups.
pub(crate) struct GroupCommit {
    turn: Arc<Mutex<Writer>>,
    committer: Arc<Notify>,
    handle: tokio::runtime::Handle,
    /// Where committed groups go to be made durable and answered.
    syncer: std::sync::mpsc::Sender<ToSyncer>,
    progress: Arc<Progress>,
}

/// Makes the WAL file at a path durable (in production [`flush_wal`]; a test's may hold back
/// or fail).
pub(crate) type SyncWal = Box<dyn FnMut(&std::path::Path) -> Result<(), FlushError> + Send>;

/// Why a flush did not make the WAL durable.
#[derive(Debug)]
pub(crate) enum FlushError {
    /// The WAL could not be opened (too many files open, say): nothing was flushed, and nothing
    /// is lost either; the next flush covers what this one did not.
    NotOpened(std::io::Error),
    /// The flush itself failed: Linux may have dropped pages it did not write, and marked them
    /// clean, so no later flush can promise them.
    Failed(std::io::Error),
}

/// Flushes the WAL file's written pages to disk, as SQLite does at each commit with
/// `synchronous=FULL` where `fdatasync` exists (Debian's own build of SQLite). No WAL file is
/// nothing to flush: SQLite removes it only once a checkpoint has copied all of it into the
/// database and flushed that.
pub(crate) fn flush_wal(path: &std::path::Path) -> Result<(), FlushError> {
    match std::fs::File::open(path) {
        Ok(wal) => wal.sync_data().map_err(FlushError::Failed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FlushError::NotOpened(e)),
    }
}

/// The syncer's thread: takes the groups ended since its last flush, flushes the WAL once if
/// any was committed, answers their members in the order they committed, and publishes how far
/// the groups are settled. After a flush that could not open the WAL, the groups it was for
/// stay unsettled (their members hear their commit failed) until a later flush, made for the
/// next group or for a waiter's nudge. Ends when the database handle (the last sender) is gone.
fn sync_groups(
    wal: PathBuf,
    mut sync: SyncWal,
    told: std::sync::mpsc::Receiver<ToSyncer>,
    settled: watch::Sender<Settled>,
    progress: Arc<Progress>,
) {
    let mut failed: Option<String> = None;
    // The last group ended, and the first committed one not yet known durable.
    let (mut last, mut unflushed): (u64, Option<u64>) = (0, None);
    while let Ok(first) = told.recv() {
        let mut members = Vec::new();
        let mut lost = 0;
        for message in std::iter::once(first).chain(std::iter::from_fn(|| told.try_recv().ok())) {
            let ToSyncer::Ended(group) = message else { continue };
            last = group.number;
            if group.committed {
                unflushed.get_or_insert(group.number);
            }
            if group.lost {
                lost = group.number;
            }
            members.extend(group.members);
        }
        let verdict = match (&failed, unflushed) {
            (_, None) => Ok(()),
            (Some(why), Some(_)) => Err(why.clone()),
            (None, Some(_)) => match sync(&wal) {
                Ok(()) => {
                    unflushed = None;
                    Ok(())
                }
                Err(FlushError::NotOpened(e)) => {
                    tracing::error!(error = %e, "the WAL could not be opened to flush it");
                    Err(format!("the write-ahead log could not be opened to flush it: {e}"))
                }
                Err(FlushError::Failed(e)) => {
                    tracing::error!(error = %e, "flushing the WAL failed: no write is answered as done until a restart");
                    let why = format!("flushing the write-ahead log failed: {e}");
                    failed = Some(why.clone());
                    Err(why)
                }
            },
        };
        // Published before the members hear: one answered sees itself settled.
        let upto = unflushed.map_or(last, |first| first - 1);
        settled.send_modify(|settled| {
            settled.upto = upto;
            settled.lost = settled.lost.max(lost);
            settled.poisoned = failed.is_some();
            settled.stuck = unflushed.is_some() && failed.is_none();
        });
        progress.settled_upto.store(upto, SeqCst);
        for member in members {
            drop(member.send(verdict.clone()));
        }
    }
}

impl GroupCommit {
    /// Opens the writer connection to the database file `path` (with `pragmas`), and starts
    /// the committer on a thread of its own: a commit (and its fsync) is not held up behind a
    /// busy server's request tasks, does not hold them up, and does not depend on the runtime
    /// of whoever opened the database living as long.
    pub(crate) async fn start(
        path: PathBuf,
        busy_timeout: Duration,
        pragmas: String,
    ) -> Result<GroupCommit, StoreError> {
        GroupCommit::start_syncing(path, busy_timeout, pragmas, Box::new(flush_wal)).await
    }

    /// [`GroupCommit::start`] with the WAL made durable by `sync`.
    pub(crate) async fn start_syncing(
        path: PathBuf,
        busy_timeout: Duration,
        pragmas: String,
        sync: SyncWal,
    ) -> Result<GroupCommit, StoreError> {
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        let (syncer, told) = std::sync::mpsc::channel();
        let (settling, settled) = watch::channel(Settled::default());
        let progress = Arc::new(Progress {
            begun: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            settled,
            settled_upto: AtomicU64::new(0),
        });
        let published = progress.clone();
        std::thread::Builder::new()
            .name("yajin-syncer".into())
            .spawn(move || sync_groups(PathBuf::from(wal), sync, told, settling, published))
            .map_err(|e| StoreError::Unreachable(format!("the WAL syncer: {e}")))?;
        let committing = syncer.clone();
        let numbering = progress.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unreachable(format!("the group committer: {e}")))?;
        let handle = runtime.handle().clone();
        let (started, opened) = oneshot::channel();
        std::thread::Builder::new()
            .name("yajin-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let conn = match open(&path, &pragmas) {
                        Ok(conn) => conn,
                        Err(e) => return drop(started.send(Err(e))),
                    };
                    let writer = Writer {
                        conn,
                        busy_timeout,
                        group: None,
                        abandoned: false,
                        unsure: false,
                        number: 0,
                        progress: numbering,
                        syncer: committing,
                    };
                    let turn = Arc::new(Mutex::new(writer));
                    let committer = Arc::new(Notify::new());
                    let (weak, wake) = (Arc::downgrade(&turn), committer.clone());
                    if started.send(Ok((turn, committer))).is_err() {
                        return;
                    }
                    loop {
                        wake.notified().await;
                        // The database handle is gone (`Drop` below woke us to see it): stop.
                        let Some(turn) = weak.upgrade() else { return };
                        let mut writer = turn.lock_owned().await;
                        writer.settle();
                        writer.commit_group();
                    }
                })
            })
            .map_err(|e| StoreError::Unreachable(format!("the group committer: {e}")))?;
        let (turn, committer) = opened
            .await
            .map_err(|_| StoreError::Unreachable("the group committer stopped while starting".into()))??;
        Ok(GroupCommit { turn, committer, handle, syncer, progress })
    }

    /// The writer thread's runtime: write use cases spawned here pass the turn from one to
    /// the next, and to the committer, as task switches on one thread rather than wake-ups of
    /// another.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Waits for the turn and opens a savepoint for the caller's work (and the group
    /// transaction, if none is open).
    pub(crate) async fn begin(&self) -> Result<Member, StoreError> {
        let mut writer = self.turn.clone().lock_owned().await;
        writer.settle();
        // If this is cut short, the committer finds out what ran and tidies up.
        let woken_if_cut_short = WakeOnDrop(Some(self.committer.clone()));
        writer.unsure = true;
        if writer.group.is_none() {
            // IMMEDIATE: the write lock now, not at the first write (a deferred transaction
            // that reads first can fail with SQLITE_BUSY whatever the busy timeout).
            if let Err(e) = writer.begin_immediate().await {
                writer.unsure = false;
                return Err(e);
            }
            writer.number = writer.progress.begun.fetch_add(1, SeqCst) + 1;
            writer.group = Some(Vec::new());
        }
        if let Err(e) = writer.conn.batch_now("SAVEPOINT member") {
            writer.unsure = false;
            writer.fail_group(&e.to_string());
            return Err(e);
        }
        writer.unsure = false;
        woken_if_cut_short.disarm();
        Ok(Member { writer, committer: self.committer.clone(), ended: false })
    }

    /// Commits what is pending and waits until it is durable (at shutdown).
    pub(crate) async fn flush(&self) {
        let mark = self.mark();
        let mut writer = self.turn.lock().await;
        writer.settle();
        writer.commit_group();
        drop(writer);
        drop(self.durable_since(mark).await);
    }

    /// How far the groups are settled now: for [`GroupCommit::durable_since`], taken before
    /// the caller reads what another writer wrote.
    pub(crate) fn mark(&self) -> DurableMark {
        DurableMark(self.progress.settled.borrow().upto)
    }

    /// Waits until every group begun so far, the one open included, is durable, for an answer
    /// that rests on what another writer wrote, read since `mark`: a reader (or a writer) may
    /// see a group before its flush (see the module's notes). Fails if a group unsettled at
    /// the mark was rolled back meanwhile (what was read may have gone with it), or a flush
    /// failed.
    pub(crate) async fn durable_since(&self, mark: DurableMark) -> Result<(), StoreError> {
        let settled = self.settled_through(self.progress.begun.load(SeqCst)).await?;
        if settled.lost > mark.0 {
            return Err(StoreError::CommitFailed("a write this answer rests on was rolled back".into()));
        }
        Ok(())
    }

    /// Waits until every group committed so far is durable, for an answer that may show what a
    /// read saw (a group is seen from its commit, before its flush). At once, with no more than
    /// a look at two counters, when every commit is flushed already.
    pub(crate) async fn seen_durable(&self) -> Result<(), StoreError> {
        let committed = self.progress.committed.load(SeqCst);
        if self.progress.settled_upto.load(SeqCst) >= committed {
            return Ok(());
        }
        self.settled_through(committed).await.map(|_| ())
    }

    /// Waits until the groups up to `number` are settled. After a flush that could not open
    /// the WAL, nudges the syncer to try again (no group may end to make it), and fails if
    /// that try fails too.
    async fn settled_through(&self, number: u64) -> Result<Settled, StoreError> {
        let closed = || StoreError::CommitFailed("the database closed before the commit".into());
        let mut settled = self.progress.settled.clone();
        let mut nudged = false;
        loop {
            let now = *settled.borrow_and_update();
            if now.poisoned {
                return Err(StoreError::CommitFailed(
                    "flushing the write-ahead log failed: nothing is durable until a restart".into(),
                ));
            }
            if now.upto >= number {
                return Ok(now);
            }
            if now.stuck {
                if nudged {
                    return Err(StoreError::CommitFailed("the write-ahead log could not be opened to flush it".into()));
                }
                self.syncer.send(ToSyncer::Nudge).map_err(|_| closed())?;
                nudged = true;
            }
            settled.changed().await.map_err(|_| closed())?;
        }
    }
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // Wakes the committer to find the handle gone and stop.
        self.committer.notify_one();
    }
}

impl Writer {
    /// `BEGIN IMMEDIATE`, tried again (without blocking the thread) while another process
    /// (an import, say) holds the write lock, up to the busy timeout.
    async fn begin_immediate(&mut self) -> Result<(), StoreError> {
        let deadline = Instant::now() + self.busy_timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.conn.begin_immediate() {
                Ok(true) => return Ok(()),
                Ok(false) if Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Ok(false) => {
                    return Err(StoreError::Unreachable(format!(
                        "the database stayed locked by another process for {:?}",
                        self.busy_timeout
                    )))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Repairs what a writer cut short left: undoes an abandoned member's savepoint, ends a
    /// transaction that may have been left open outside any group.
    fn settle(&mut self) {
        if self.abandoned {
            self.undo_member();
            self.abandoned = false;
        }
        if self.unsure {
            // Outside a group, a transaction that may have begun; inside one, a savepoint that
            // may have been opened for a member who never came (none other is open between
            // members). "No such transaction / savepoint" is the answer hoped for; releasing an
            // empty savepoint changes nothing, and leaves no stray savepoint for a later undo
            // to roll back to.
            let repair = if self.group.is_none() { "ROLLBACK" } else { "RELEASE member" };
            drop(self.conn.batch_now(repair));
            self.unsure = false;
        }
    }

    /// Rolls back the current member's savepoint; if even that fails, the whole group.
    fn undo_member(&mut self) {
        if let Err(e) = self.conn.batch_now("ROLLBACK TO member; RELEASE member") {
            self.fail_group(&e.to_string());
        }
    }

    /// Commits the open group and tells its members how it went; a group with no members is
    /// rolled back (it holds nothing, and must not hold the write lock). Only the committer
    /// (and `flush`) call this: it is never cut short between its statement and its answers.
    fn commit_group(&mut self) {
        let Some(members) = self.group.as_ref() else { return };
        if members.is_empty() {
            if let Err(e) = self.conn.batch_now("ROLLBACK") {
                tracing::error!(error = %e, "ending an empty write group failed");
            }
            self.group = None;
            self.ended(false, false, Vec::new());
            return;
        }
        self.progress.committed.store(self.number, SeqCst);
        match self.conn.batch_now("COMMIT") {
            // Answered by the syncer once the WAL is flushed (or, were it gone, never: each
            // member then hears that the database closed before the commit).
            Ok(()) => {
                let members = self.group.take().unwrap_or_default();
                self.ended(true, false, members);
            }
            Err(e) => self.fail_group(&e.to_string()),
        }
    }

    /// Hands the group that has just ended to the syncer, which settles it (in order).
    fn ended(&self, committed: bool, lost: bool, members: Vec<Verdict>) {
        drop(self.syncer.send(ToSyncer::Ended(Ended { number: self.number, committed, lost, members })));
    }

    /// Rolls the whole group back and tells its members their work was not committed. They
    /// are told before the rollback is sent: whatever happens next, none hears "done".
    fn fail_group(&mut self, why: &str) {
        tracing::error!(error = %why, "a write group failed and was rolled back");
        if let Some(members) = self.group.take() {
            let lost = !members.is_empty();
            for member in members {
                drop(member.send(Err(why.to_owned())));
            }
            self.ended(false, lost, Vec::new());
        }
        self.abandoned = false;
        self.unsure = true;
        // (SQLite may have rolled the transaction back itself, after an I/O error: then this
        // finds no transaction, which is the state we want.)
        drop(self.conn.batch_now("ROLLBACK"));
        self.unsure = false;
    }
}

/// The writer connection, configured like the pool's (`pragmas`), except that it waits for
/// another process's write lock itself ([`Writer::begin_immediate`]) instead of in SQLite's
/// busy handler, which would block the thread, and that the syncer, not its commit, flushes
/// the WAL.
fn open(path: &std::path::Path, pragmas: &str) -> Result<SqliteWriter, StoreError> {
    let conn = rusqlite::Connection::open(path).map_err(crate::sql::engine)?;
    conn.execute_batch(pragmas).map_err(crate::sql::engine)?;
    // Its commits write the WAL and the syncer flushes it before anyone is answered (see the
    // module's notes). A checkpoint still flushes the WAL before it starts and the database
    // after it ends, as with FULL.
    conn.execute_batch("PRAGMA synchronous = NORMAL").map_err(crate::sql::engine)?;
    conn.busy_timeout(Duration::ZERO).map_err(crate::sql::engine)?;
    // Every statement the use cases write with stays prepared (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(256);
    // Each writer's savepoint keeps the pages it changes as they were, to roll back to: in
    // memory, not in a temporary file (SQLite's default spills past 64 KiB, and the file's
    // writes were a fifth of the writer's time). A member changes tens of pages at most.
    conn.execute_batch("PRAGMA temp_store = MEMORY").map_err(crate::sql::engine)?;
    Ok(SqliteWriter::new(conn))
}

/// Wakes the committer when dropped, unless disarmed.
struct WakeOnDrop(Option<Arc<Notify>>);

impl WakeOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        if let Some(committer) = &self.0 {
            committer.notify_one();
        }
    }
}

/// One writer's turn: its savepoint in the group transaction, on the writer connection.
pub(crate) struct Member {
    writer: OwnedMutexGuard<Writer>,
    committer: Arc<Notify>,
    ended: bool,
}

impl Member {
    pub(crate) fn conn(&self) -> &Conn {
        &self.writer.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Conn {
        &mut self.writer.conn
    }

    /// Keeps this member's work in the group and waits for the group's durable commit.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        // (Cut short before the release is known to have run: `Drop` marks the member
        // abandoned, and its undo either finds the savepoint or fails the group.)
        if let Err(e) = self.writer.conn.batch_now("RELEASE member") {
            self.ended = true;
            self.writer.fail_group(&e.to_string());
            return Err(e);
        }
        self.ended = true;
        let (verdict, answer) = oneshot::channel();
        match self.writer.group.as_mut() {
            Some(members) => members.push(verdict),
            None => return Err(StoreError::CommitFailed("the write group was rolled back".into())),
        }
        self.committer.notify_one();
        // Gives the turn to the next writer, who joins the group.
        drop(self);
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(StoreError::CommitFailed(why)),
            Err(_) => Err(StoreError::CommitFailed("the database closed before the commit".into())),
        }
    }

    /// Undoes this member's work; the group's other members are untouched.
    pub(crate) async fn rollback(mut self) {
        self.writer.undo_member();
        self.ended = true;
        if self.writer.group.as_ref().is_some_and(Vec::is_empty) {
            // Nothing of anyone's to keep: the committer ends the transaction rather than
            // leave it holding the lock.
            self.committer.notify_one();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if !self.ended {
            // Undone by whoever writes next, or by the committer, which is woken to end the
            // group if nobody does.
            self.writer.abandoned = true;
            self.committer.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The syncer's promise: a member is answered only once a flush of the WAL that began after
    //! its group's commit has returned, and never as done after a flush failed. (What callers
    //! see of transactions otherwise is in `tests/group_commit.rs`, on both databases.)

    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::sql::query;

    /// A flush held until the test lets it go (or fails it): each call reports the path it
    /// flushes, then waits for the test's word.
    fn gated_sync() -> (SyncWal, mpsc::Receiver<PathBuf>, mpsc::Sender<Result<(), FlushError>>) {
        let (called, calls) = mpsc::channel();
        let (release, released) = mpsc::channel::<Result<(), FlushError>>();
        let sync: SyncWal = Box::new(move |path: &std::path::Path| {
            drop(called.send(path.to_owned()));
            released.recv().unwrap_or_else(|_| Err(FlushError::Failed(std::io::Error::other("the test ended"))))
        });
        (sync, calls, release)
    }

    async fn writer(sync: SyncWal) -> (GroupCommit, PathBuf) {
        let dir = std::env::temp_dir().join(format!("yajin-group-commit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.db");
        let pragmas = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;".to_owned();
        let commits = GroupCommit::start_syncing(path.clone(), Duration::from_secs(1), pragmas, sync).await.unwrap();
        (commits, path)
    }

    /// A writer with the table `probe` made (its flush let through), its flushes gated.
    async fn writer_with_table() -> (GroupCommit, PathBuf, mpsc::Receiver<PathBuf>, mpsc::Sender<Result<(), FlushError>>)
    {
        let (sync, calls, release) = gated_sync();
        let (commits, path) = writer(sync).await;
        let setup = tokio::spawn(insert(&commits, "CREATE TABLE probe (n INTEGER PRIMARY KEY)").await.commit());
        assert_eq!(next_flush(&calls).file_name().unwrap(), "test.db-wal", "the database's WAL is flushed");
        release.send(Ok(())).unwrap();
        setup.await.unwrap().unwrap();
        (commits, path, calls, release)
    }

    async fn insert(commits: &GroupCommit, sql: &str) -> Member {
        let mut member = commits.begin().await.unwrap();
        query(sql).execute(member.conn_mut()).await.unwrap();
        member
    }

    /// Waits for the syncer's next flush to start; the path it flushes.
    fn next_flush(calls: &mpsc::Receiver<PathBuf>) -> PathBuf {
        calls.recv_timeout(Duration::from_secs(5)).expect("the syncer flushes")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_member_is_answered_once_the_wal_is_flushed_and_the_writer_goes_on_meanwhile() {
        let (commits, path, calls, release) = writer_with_table().await;
        let first = tokio::spawn(insert(&commits, "INSERT INTO probe (n) VALUES (1)").await.commit());
        next_flush(&calls);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!first.is_finished(), "not answered while its flush is under way");
        // The writer is not held by the flush: the next member writes and commits meanwhile,
        // and its group waits for a flush of its own.
        let second = tokio::time::timeout(Duration::from_secs(2), insert(&commits, "INSERT INTO probe (n) VALUES (2)"))
            .await
            .expect("a member writes while the last group is being flushed");
        let second = tokio::spawn(second.commit());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!first.is_finished() && !second.is_finished());
        release.send(Ok(())).unwrap();
        tokio::time::timeout(Duration::from_secs(2), first).await.unwrap().unwrap().unwrap();
        next_flush(&calls);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "a group committed during a flush waits for the next one");
        release.send(Ok(())).unwrap();
        tokio::time::timeout(Duration::from_secs(2), second).await.unwrap().unwrap().unwrap();

        let reader = rusqlite::Connection::open(&path).unwrap();
        let n: i64 = reader.query_row("SELECT count(*) FROM probe", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2);
    }

    fn ask_durable(commits: &Arc<GroupCommit>, mark: DurableMark) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        let commits = commits.clone();
        tokio::spawn(async move { commits.durable_since(mark).await })
    }

    /// What an answer resting on another writer's work waits for: that work on disk, even when
    /// it was read in a group still open (a stored answer of the same group), and nothing when
    /// everything is flushed already.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_since_waits_for_the_open_group_and_its_flush() {
        let (commits, _path, calls, release) = writer_with_table().await;
        let commits = Arc::new(commits);
        let mark = commits.mark();
        let open = insert(&commits, "INSERT INTO probe (n) VALUES (1)").await;
        let asked = ask_durable(&commits, mark);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!asked.is_finished(), "the open group is not durable");
        let committed = tokio::spawn(open.commit());
        next_flush(&calls);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!asked.is_finished(), "committed, not yet flushed");
        release.send(Ok(())).unwrap();
        committed.await.unwrap().unwrap();
        tokio::time::timeout(Duration::from_secs(2), asked).await.unwrap().unwrap().unwrap();
        // Everything flushed: answered at once, no flush made for it.
        let again = ask_durable(&commits, commits.mark());
        tokio::time::timeout(Duration::from_secs(2), again).await.unwrap().unwrap().unwrap();
        assert!(calls.try_recv().is_err(), "no flush when nothing waits for one");
    }

    /// What every answer waits for: a commit a read may have seen, until it is flushed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seen_durable_waits_for_a_committed_group_until_its_flush() {
        let (commits, path, calls, release) = writer_with_table().await;
        let commits = Arc::new(commits);
        let committed = tokio::spawn(insert(&commits, "INSERT INTO probe (n) VALUES (1)").await.commit());
        next_flush(&calls);
        // A reader sees the group now, between its commit and its flush.
        let reader = rusqlite::Connection::open(&path).unwrap();
        let n: i64 = reader.query_row("SELECT count(*) FROM probe", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "committed, visible");
        let seen = tokio::spawn({
            let commits = commits.clone();
            async move { commits.seen_durable().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!seen.is_finished(), "what was seen is not on disk yet");
        release.send(Ok(())).unwrap();
        committed.await.unwrap().unwrap();
        tokio::time::timeout(Duration::from_secs(2), seen).await.unwrap().unwrap().unwrap();
        // A member at work in an open group shows nothing to readers: no wait for it.
        let open = insert(&commits, "INSERT INTO probe (n) VALUES (2)").await;
        tokio::time::timeout(Duration::from_secs(2), commits.seen_durable()).await.unwrap().unwrap();
        open.rollback().await;
    }

    /// A stored answer read from a group that is then rolled back is not given: its work is
    /// gone. (The commit fails here on a foreign key checked at commit.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_since_fails_when_a_group_it_may_rest_on_is_rolled_back() {
        let (sync, calls, release) = gated_sync();
        let dir = std::env::temp_dir().join(format!("yajin-group-commit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let pragmas = "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;".to_owned();
        let commits = Arc::new(
            GroupCommit::start_syncing(dir.join("test.db"), Duration::from_secs(1), pragmas, sync).await.unwrap(),
        );
        let mut tables = insert(&commits, "CREATE TABLE parent (id INTEGER PRIMARY KEY)").await;
        let child = "CREATE TABLE child (id INTEGER PRIMARY KEY,
            parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)";
        query(child).execute(tables.conn_mut()).await.unwrap();
        let setup = tokio::spawn(tables.commit());
        next_flush(&calls);
        release.send(Ok(())).unwrap();
        setup.await.unwrap().unwrap();
        let mark = commits.mark();
        let doomed = insert(&commits, "INSERT INTO child (id, parent) VALUES (1, 99)").await;
        let asked = ask_durable(&commits, mark);
        let answer = tokio::time::timeout(Duration::from_secs(2), doomed.commit()).await.unwrap();
        assert!(matches!(answer, Err(StoreError::CommitFailed(_))), "{answer:?}");
        let asked = tokio::time::timeout(Duration::from_secs(2), asked).await.unwrap().unwrap();
        assert!(matches!(&asked, Err(StoreError::CommitFailed(why)) if why.contains("rolled back")), "{asked:?}");
        // From a mark taken after it, that group is no reason to fail.
        tokio::time::timeout(Duration::from_secs(2), commits.durable_since(commits.mark())).await.unwrap().unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Commits a member that inserts `n`, lets its flush end as `flushed`, and gives back what
    /// the member was answered.
    async fn committed_with_flush(
        commits: &GroupCommit,
        calls: &mpsc::Receiver<PathBuf>,
        release: &mpsc::Sender<Result<(), FlushError>>,
        n: i64,
        flushed: Result<(), FlushError>,
    ) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO probe (n) VALUES ({n})");
        let member = tokio::spawn(insert(commits, &sql).await.commit());
        next_flush(calls);
        release.send(flushed).unwrap();
        tokio::time::timeout(Duration::from_secs(2), member).await.unwrap().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_failed_flush_no_commit_is_answered_as_done() {
        let (commits, _path, calls, release) = writer_with_table().await;
        let eio = Err(FlushError::Failed(std::io::Error::other("EIO")));
        let answer = committed_with_flush(&commits, &calls, &release, 1, eio).await;
        assert!(matches!(&answer, Err(StoreError::CommitFailed(why)) if why.contains("EIO")), "{answer:?}");
        // Every later commit is refused too, without another flush being trusted.
        let later = insert(&commits, "INSERT INTO probe (n) VALUES (2)").await.commit();
        let answer = tokio::time::timeout(Duration::from_secs(2), later).await.unwrap();
        assert!(matches!(answer, Err(StoreError::CommitFailed(_))), "{answer:?}");
        assert!(calls.try_recv().is_err(), "no flush after the failed one");
        let answer = tokio::time::timeout(Duration::from_secs(2), commits.durable_since(commits.mark())).await.unwrap();
        assert!(matches!(answer, Err(StoreError::CommitFailed(_))), "nothing is durable any more: {answer:?}");
    }

    /// A WAL that could not even be opened was not flushed, and nothing was lost either: that
    /// group hears its commit failed, and the next flush answers as usual.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wal_that_could_not_be_opened_fails_that_group_alone() {
        let (commits, _path, calls, release) = writer_with_table().await;
        let emfile = Err(FlushError::NotOpened(std::io::Error::other("EMFILE")));
        let answer = committed_with_flush(&commits, &calls, &release, 1, emfile).await;
        assert!(matches!(&answer, Err(StoreError::CommitFailed(why)) if why.contains("EMFILE")), "{answer:?}");
        committed_with_flush(&commits, &calls, &release, 2, Ok(())).await.unwrap();
    }

    /// The groups a flush could not open the WAL for stay committed, not durable: an answer
    /// that may show them has the syncer try again (no group may end to make it), and is
    /// refused if that fails too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_wal_that_could_not_be_opened_a_waiter_has_it_flushed_again() {
        let (commits, _path, calls, release) = writer_with_table().await;
        let commits = Arc::new(commits);
        let emfile = || Err(FlushError::NotOpened(std::io::Error::other("EMFILE")));
        assert!(committed_with_flush(&commits, &calls, &release, 1, emfile()).await.is_err());
        let seen = tokio::spawn({
            let commits = commits.clone();
            async move { commits.seen_durable().await }
        });
        next_flush(&calls);
        release.send(Ok(())).unwrap();
        tokio::time::timeout(Duration::from_secs(2), seen).await.unwrap().unwrap().unwrap();

        assert!(committed_with_flush(&commits, &calls, &release, 2, emfile()).await.is_err());
        let seen = tokio::spawn({
            let commits = commits.clone();
            async move { commits.seen_durable().await }
        });
        next_flush(&calls);
        release.send(emfile()).unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(2), seen).await.unwrap().unwrap();
        assert!(matches!(&answer, Err(StoreError::CommitFailed(why)) if why.contains("opened")), "{answer:?}");
    }

    #[test]
    fn a_wal_file_is_flushed_and_a_missing_one_has_nothing_to_flush() {
        let dir = std::env::temp_dir().join(format!("yajin-flush-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let wal = dir.join("yajin.db-wal");
        assert!(flush_wal(&wal).is_ok(), "no WAL: nothing to flush");
        std::fs::write(&wal, b"frames").unwrap();
        assert!(flush_wal(&wal).is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }
}
