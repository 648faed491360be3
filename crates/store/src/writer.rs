//! The single batched writer: one OS thread, one connection, one bounded
//! channel in front of it.
//!
//! The proxy's tasks hold [`Recorder`]s and never wait: when the channel is
//! full the record is dropped and counted, and the client's traffic goes on.
//! The thread takes one message (waiting), then whatever else is already
//! queued or arrives within [`LINGER`] (up to [`BATCH`]), writes them in one transaction and commits, so a
//! completed exchange is on disk, and visible to other processes, as soon as
//! the writer gets to it. The `Set-Cookie` headers of the batch's responses
//! go into the cookie jar in the same transaction.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use interpose_capture::Exchange;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::mpsc::{self, error::TryRecvError, error::TrySendError};

use crate::{cookies, rows, schema, StoreError};

/// Most exchanges written in one transaction.
const BATCH: usize = 512;
/// How long a batch waits for company after its first exchange. Committing
/// whenever the queue is momentarily empty made many tiny transactions under
/// load (each rewriting the same WAL pages); 25 ms is far inside the promise
/// that an exchange is visible within a second.
const LINGER: Duration = Duration::from_millis(25);

enum Message {
    Exchange(Box<Exchange>),
    /// Write what is queued and stop.
    Finish,
}

#[derive(Debug, Default)]
struct Shared {
    /// Records lost: refused by a full or closed channel, or in a failed write.
    dropped: AtomicU64,
    /// `Writer::finish` was called: refuse new records.
    closed: AtomicBool,
}

impl Shared {
    fn drop_records(&self, n: u64) {
        if self.dropped.fetch_add(n, Ordering::Relaxed) == 0 && n > 0 {
            tracing::warn!(
                "the store is not keeping up: captured exchanges are being dropped \
                 (the proxied traffic is not affected)"
            );
        }
    }
}

/// Starts the single writer on its own OS thread with its own connection.
///
/// `capacity` is how many exchanges may wait for the writer (at least 1).
/// Opening the store (and migrating it) happens here, so its errors are
/// returned at once.
pub fn spawn_writer(path: &Path, capacity: usize) -> Result<(Recorder, Writer), StoreError> {
    let (conn, _) = schema::open_connection(path)?;
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let shared = Arc::new(Shared::default());
    let thread_path = path.to_path_buf();
    let thread_shared = Arc::clone(&shared);
    let handle = std::thread::Builder::new()
        .name("interpose-store-writer".into())
        .spawn(move || run(conn, &thread_path, rx, &thread_shared))
        .map_err(|cause| StoreError::Spawn {
            path: path.to_path_buf(),
            cause,
        })?;
    let recorder = Recorder {
        tx: tx.clone(),
        shared: Arc::clone(&shared),
    };
    let writer = Writer {
        tx,
        shared,
        handle: Some(handle),
        path: path.to_path_buf(),
    };
    Ok((recorder, writer))
}

/// The proxy's handle on the writer; cheap to clone, one per task.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Never blocks: try_send into a bounded tokio mpsc channel. When full
    /// (or the writer is gone), the record is dropped, counted, and false
    /// returned. The client's traffic is never affected.
    pub fn record(&self, exchange: Exchange) -> bool {
        if self.shared.closed.load(Ordering::Acquire) {
            self.shared.drop_records(1);
            return false;
        }
        match self.tx.try_send(Message::Exchange(Box::new(exchange))) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                self.shared.drop_records(1);
                false
            }
        }
    }

    /// Records lost so far: refused here, or lost in a failed write.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// What the writer did, once it has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Exchanges committed to the store.
    pub written: u64,
    /// Exchanges lost: refused by a full channel, recorded after `finish`,
    /// or in a write that failed.
    pub dropped: u64,
}

/// Owner of the writer thread. Dropping it without [`Writer::finish`] does
/// the same, ignoring errors.
pub struct Writer {
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
    handle: Option<JoinHandle<u64>>,
    path: PathBuf,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Asks the writer to write everything queued so far, stop, and join the
    /// thread. Returns how many exchanges were written in all. Safe to call
    /// while Recorders still exist (records sent after it are dropped and
    /// counted).
    ///
    /// Blocks the calling thread until the queue is written; it does not
    /// panic inside an async runtime.
    pub fn finish(mut self) -> Result<WriterStats, StoreError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<WriterStats, StoreError> {
        let Some(handle) = self.handle.take() else {
            return Ok(WriterStats {
                written: 0,
                dropped: self.shared.dropped.load(Ordering::Relaxed),
            });
        };
        self.shared.closed.store(true, Ordering::Release);
        // `blocking_send` would panic inside a tokio runtime; the writer is
        // draining the channel, so room comes quickly.
        let mut message = Message::Finish;
        loop {
            match self.tx.try_send(message) {
                Ok(()) | Err(TrySendError::Closed(_)) => break,
                Err(TrySendError::Full(m)) => {
                    message = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        let joined = handle.join();
        let dropped = self.shared.dropped.load(Ordering::Relaxed);
        match joined {
            Ok(written) => Ok(WriterStats { written, dropped }),
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "it panicked".into());
                Err(StoreError::WriterFailed {
                    path: self.path.clone(),
                    reason,
                })
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.handle.is_some() {
            if let Err(e) = self.stop() {
                tracing::error!("{e}");
            }
        }
    }
}

/// The writer thread: returns how many exchanges it committed.
fn run(mut conn: Connection, path: &Path, mut rx: mpsc::Receiver<Message>, shared: &Shared) -> u64 {
    let mut written = 0u64;
    let mut batch: Vec<Exchange> = Vec::with_capacity(BATCH);
    let mut finishing = false;
    loop {
        if !finishing {
            match rx.blocking_recv() {
                Some(Message::Exchange(e)) => batch.push(*e),
                Some(Message::Finish) | None => finishing = true,
            }
        }
        if finishing {
            // Refuse further sends; what is already queued is still written.
            rx.close();
        }
        let first_at = std::time::Instant::now();
        let mut empty = drain(&mut rx, &mut batch, &mut finishing);
        if !finishing && batch.len() < BATCH {
            std::thread::sleep(LINGER.saturating_sub(first_at.elapsed()));
            empty = drain(&mut rx, &mut batch, &mut finishing);
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            match write_batch(&mut conn, &mut batch) {
                Ok(()) => written += n,
                Err(e) => {
                    tracing::error!(
                        path = %path.display(),
                        lost = n,
                        "cannot write captured exchanges to the store {}: {e}; {}",
                        path.display(),
                        crate::error::hint(&e),
                    );
                    shared.drop_records(n);
                }
            }
            batch.clear();
        }
        if finishing && empty {
            return written;
        }
    }
}

/// Takes what is already queued, up to a full batch, without waiting;
/// true when the queue ran empty.
fn drain(
    rx: &mut mpsc::Receiver<Message>,
    batch: &mut Vec<Exchange>,
    finishing: &mut bool,
) -> bool {
    while batch.len() < BATCH {
        match rx.try_recv() {
            Ok(Message::Exchange(e)) => batch.push(*e),
            Ok(Message::Finish) => {
                *finishing = true;
                rx.close();
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => return true,
        }
    }
    false
}

fn write_batch(conn: &mut Connection, batch: &mut [Exchange]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    rows::insert_all(&tx, batch.iter_mut())?;
    cookies::apply_response_cookies(&tx, batch.iter())?;
    tx.commit()
}
