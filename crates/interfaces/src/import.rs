//! `yajin import KIND FILE`: a CSV file streamed from disk (UTF-8 or GBK, a byte-order mark
//! honoured), its rows handed to `app::import` a batch at a time, bad rows written to
//! `FILE.errors.csv`, a progress bar on the terminal and a summary at the end.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::{FuturesOrdered, StreamExt};
use yajin_app::import::{self, Columns, Kind, Row, RowError, Tally};
use yajin_app::setup::StoreError;
use yajin_app::{Actor, App, SystemClock};
use yajin_channels::sms::SandboxSms;

use crate::cli::{Encoding, ImportArgs};
use crate::config::{DbConfig, KeyConfig};
use crate::Failure;

/// Rows handed to the use case at once. Usage records load a batch per transaction: the
/// larger the batch, the fewer times an index page is written (10,000 → 50,000 rows: 12.3 s →
/// 9.0 s for a million). Terminals load a batch per transaction too, in a few multi-row
/// statements: a thousand rows hold SQLite's writer for about 50 ms, so a server on the same
/// file waits no longer than that (250 → 1,000 rows: 17,600 → 20,000 rows a second on SQLite,
/// 5,800 → 6,500 on PostgreSQL; docs/benchmarks.md, session 18). The other kinds go row by row, and a
/// smaller batch keeps the progress bar moving (a merchant row hashes a password).
fn batch_rows(kind: Kind) -> usize {
    match kind {
        Kind::Transactions => 50_000,
        Kind::Terminals => 1_000,
        _ => 1_000,
    }
}
/// The exit status when the file was read to its end but some rows were refused.
pub const SOME_REFUSED: u8 = 3;

/// Counts the bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The errors file beside the input, created at the first refused row.
struct ErrorsFile {
    path: PathBuf,
    writer: Option<csv::Writer<std::fs::File>>,
}

impl ErrorsFile {
    fn new(input: &Path) -> ErrorsFile {
        let mut name = input.as_os_str().to_owned();
        name.push(".errors.csv");
        let path = PathBuf::from(name);
        // A report from an earlier run would mislead.
        let _ = std::fs::remove_file(&path);
        ErrorsFile { path, writer: None }
    }

    fn write(&mut self, errors: &[RowError]) -> Result<(), Failure> {
        if errors.is_empty() {
            return Ok(());
        }
        let failed = |e: csv::Error| Failure::runtime(format!("cannot write {}: {e}", self.path.display()));
        if self.writer.is_none() {
            let mut writer = csv::Writer::from_path(&self.path).map_err(failed)?;
            writer.write_record(["line", "field", "code", "message"]).map_err(failed)?;
            self.writer = Some(writer);
        }
        let Some(writer) = self.writer.as_mut() else { return Ok(()) };
        for e in errors {
            writer.write_record([e.line.to_string().as_str(), &e.field, e.code, &e.message]).map_err(failed)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Option<PathBuf>, Failure> {
        match self.writer {
            None => Ok(None),
            Some(mut writer) => {
                writer.flush().map_err(|e| Failure::runtime(format!("cannot write {}: {e}", self.path.display())))?;
                Ok(Some(self.path))
            }
        }
    }
}

/// Rows read from the file, and the lines that could not be read as rows of text.
struct Batch {
    rows: Vec<Row>,
    unreadable: Vec<RowError>,
}

/// Takes the next batch from the reader and checks it: `None` when the file has ended.
async fn check_next(
    importing: import::Import<'_>,
    mut batches: tokio::sync::mpsc::Receiver<Batch>,
) -> (tokio::sync::mpsc::Receiver<Batch>, Option<Result<import::Checked, StoreError>>) {
    let next = match batches.recv().await {
        Some(batch) => Some(importing.check(batch.rows, batch.unreadable).await),
        None => None,
    };
    (batches, next)
}

fn unreadable(file: &Path, e: csv::Error) -> Failure {
    Failure::runtime(format!("cannot read {}: {e}", file.display()))
}

/// Reads the rows after the header and hands them over `batch_size` at a time; returns when the
/// file ends, when reading it fails, or when no one takes the batches any more.
fn read_batches<R: Read>(
    mut reader: csv::Reader<R>,
    batch_size: usize,
    encoding: Encoding,
    file: &Path,
    batches: tokio::sync::mpsc::Sender<Batch>,
) -> Result<(), Failure> {
    let mut record = csv::ByteRecord::new();
    let mut batch = Batch { rows: Vec::with_capacity(batch_size), unreadable: Vec::new() };
    loop {
        let more = match reader.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => return Err(unreadable(file, e)),
                _ => {
                    // A row the CSV reader cannot take apart: reported, and reading goes on.
                    let line = e.position().map_or(0, |p| p.line());
                    batch.unreadable.push(RowError::new(line, "", "malformed_row", e.to_string()));
                    continue;
                }
            },
        };
        if more {
            let line = record.position().map_or(0, |p| p.line());
            match record.iter().map(|f| std::str::from_utf8(f).map(str::to_owned)).collect::<Result<Vec<_>, _>>() {
                Ok(fields) if !fields.iter().any(|f| f.contains('\u{FFFD}')) => batch.rows.push(Row { line, fields }),
                _ => batch.unreadable.push(RowError::new(
                    line,
                    "",
                    "invalid_encoding",
                    format!("not {}: try --encoding", if encoding == Encoding::Gbk { "GBK" } else { "UTF-8" }),
                )),
            }
        }
        // Unreadable lines count toward a batch too: a file of garbage is held a batch at a time.
        let held = batch.rows.len() + batch.unreadable.len();
        if held >= batch_size || (!more && held > 0) {
            let handed =
                std::mem::replace(&mut batch, Batch { rows: Vec::with_capacity(batch_size), unreadable: Vec::new() });
            if batches.blocking_send(handed).is_err() {
                return Ok(());
            }
        }
        if !more {
            return Ok(());
        }
    }
}

pub async fn run(config: &DbConfig, keys: &KeyConfig, args: &ImportArgs) -> Result<(), Failure> {
    let kind = Kind::parse(&args.kind).ok_or_else(|| {
        Failure::config(format!(
            "KIND must be merchants, terminals, transactions or outstanding-items, not {:?}",
            args.kind
        ))
    })?;
    let file = std::fs::File::open(&args.file)
        .map_err(|e| Failure::runtime(format!("cannot open {}: {e}", args.file.display())))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let read = Arc::new(AtomicU64::new(0));
    let counting = Counting { inner: std::io::BufReader::with_capacity(1 << 20, file), read: read.clone() };
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(match args.encoding {
            Encoding::Utf8 => None,
            Encoding::Gbk => Some(encoding_rs::GBK),
        })
        .bom_override(true)
        .build(counting);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(decoded);
    let mut record = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut record).map_err(|e| unreadable(&args.file, e))? {
        return Err(Failure::config(format!("{} is empty: it needs a header row", args.file.display())));
    }
    let header: Vec<String> = record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let columns = Columns::new(kind, &header).map_err(|e| Failure::config(format!("{}: {e}", args.file.display())))?;

    // Few connections, each with a big page cache: the indexes of a large table stay in memory.
    let options = yajin_app::setup::DbOptions { max_connections: 4, sqlite_cache_mib: 128, ..Default::default() };
    let db = crate::serve::open_database_with(config, options).await?;
    let vault = crate::serve::open_vault(&db, keys, &config.data_dir).await?;
    let app = App::new(db.clone(), vault, Arc::new(SystemClock), Arc::new(SandboxSms));
    let actor = Actor { role: yajin_core::application::Role::System, id: "import".into() };

    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut errors_file = ErrorsFile::new(&args.file);
    let mut tally = Tally::default();
    // The file is read and split into rows on a thread of its own, a batch ahead; each batch is
    // checked while the ones before it are written, by as many writers as the import has
    // (usage records on PostgreSQL: two batches at once). Outcomes are taken in the file's order.
    let (sender, batches) = tokio::sync::mpsc::channel(1);
    let (batch_size, encoding, file) = (batch_rows(kind), args.encoding, args.file.clone());
    let reading = std::thread::spawn(move || read_batches(reader, batch_size, encoding, &file, sender));
    let importing = import::Import::new(&app, &actor, &columns, args.dry_run);
    let mut idle: Vec<import::Writer> = (0..importing.writers()).map(|_| importing.writer()).collect();
    let stopped = |e: StoreError| Failure::runtime(format!("import stopped (run it again to resume): {e}"));
    let mut writing = FuturesOrdered::new();
    // The next batch being taken and checked: polled through a reference, so that it goes on
    // where it was when a write finishes first (it may hold a batch taken from the reader).
    let mut checking = Box::pin(check_next(importing, batches));
    let mut checked: Option<import::Checked> = None;
    let mut ended = false;
    loop {
        if let Some(batch) = checked.take() {
            match idle.pop() {
                Some(mut writer) => writing.push_back(async move {
                    let result = importing.write(&mut writer, batch).await;
                    (writer, result)
                }),
                None => checked = Some(batch),
            }
        }
        if ended && checked.is_none() && writing.is_empty() {
            break;
        }
        tokio::select! {
            Some((writer, result)) = writing.next(), if !writing.is_empty() => {
                idle.push(writer);
                let (done, errors) = result.map_err(stopped)?;
                tally.add(done);
                errors_file.write(&errors)?;
                bar.set_position(read.load(Ordering::Relaxed));
                let per_s = tally.rows as f64 / started.elapsed().as_secs_f64().max(0.001);
                bar.set_message(format!("{} rows, {per_s:.0} rows/s", tally.rows));
            }
            (batches, next) = checking.as_mut(), if !ended && checked.is_none() => {
                match next {
                    Some(result) => {
                        checked = Some(result.map_err(stopped)?);
                        checking.set(check_next(importing, batches));
                    }
                    None => ended = true,
                }
            }
        }
    }
    // The file ended, or reading it failed (what was read before is loaded, as a rerun expects).
    reading.join().map_err(|_| Failure::runtime("reading the file stopped unexpectedly"))??;
    bar.finish_and_clear();
    let errors_path = errors_file.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let summary = serde_json::json!({
            "kind": args.kind,
            "file": args.file,
            "dry_run": args.dry_run,
            "rows": tally.rows,
            "loaded": tally.loaded,
            "existing": tally.existing,
            "refused": tally.refused,
            "errors_file": errors_path,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "rows_per_s": (tally.rows as f64 / seconds.max(0.001)).round(),
        });
        println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    } else {
        let verb = if args.dry_run { "checked (nothing written)" } else { "imported" };
        println!(
            "{verb} {} rows of {} in {seconds:.1} s: {} new, {} already there, {} refused{}",
            tally.rows,
            args.kind,
            tally.loaded,
            tally.existing,
            tally.refused,
            errors_path.as_ref().map(|p| format!(" (see {})", p.display())).unwrap_or_default()
        );
    }
    db.close().await;
    if tally.refused > 0 {
        return Err(Failure {
            message: format!("{} rows were refused; each is in the errors file", tally.refused),
            exit_code: SOME_REFUSED,
        });
    }
    Ok(())
}
