//! Records written in batches by one background task: the signer's calls and the gateway's
//! decisions. A batch is written when it is full, when its first record has waited the
//! policy's interval, on a flush, and when every sender is gone. A failed write is retried
//! every second; at most [`BatchPolicy::max_pending`] records are held meanwhile, and beyond
//! that the oldest are dropped and counted.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use vouch_store::StoreError;

/// Writes one batch to the store.
pub(crate) trait BatchWrite<T>: Send + Sync + 'static {
    /// Writes `batch` (all or nothing).
    fn write<'a>(&'a self, batch: &'a [T]) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;
}

/// When batches are written, and what they are called in logs and metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchPolicy {
    /// Most records in one batch.
    pub max_batch: usize,
    /// How long a batch's first record waits for others.
    pub interval: Duration,
    /// Most records held while the store refuses writes.
    pub max_pending: usize,
    /// What a record is, for logs (`signed calls`).
    pub what: &'static str,
    /// Counter of records written.
    pub written: &'static str,
    /// Counter of records dropped after failed writes.
    pub lost: &'static str,
}

enum Msg<T> {
    Record(T),
    Flush(oneshot::Sender<()>),
}

/// The sending side of a background batch writer.
pub(crate) struct Recorder<T> {
    tx: mpsc::Sender<Msg<T>>,
    what: &'static str,
}

impl<T> std::fmt::Debug for Recorder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("what", &self.what).finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Recorder<T> {
    /// Starts the writer task; the channel holds up to `queue` records before
    /// [`Recorder::record`] waits.
    pub(crate) fn spawn(writer: impl BatchWrite<T>, policy: BatchPolicy, queue: usize) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        tokio::spawn(run(writer, policy, rx));
        Self { tx, what: policy.what }
    }

    /// Queues a record, waiting while the writer is behind (records are held back, not
    /// dropped).
    pub(crate) async fn record(&self, record: T) {
        let msg = match self.tx.try_send(Msg::Record(record)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m)) => m,
        };
        if self.tx.send(msg).await.is_err() {
            tracing::error!(what = self.what, "the recorder has stopped; a record is lost");
        }
    }

    /// Queues a record if the channel has room, without waiting; gives it back when it has
    /// none (then [`Recorder::record`] waits for room).
    pub(crate) fn try_record(&self, record: T) -> Result<(), T> {
        match self.tx.try_send(Msg::Record(record)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(Msg::Record(r))) => Err(r),
            Err(_) => {
                tracing::error!(what = self.what, "the recorder has stopped; a record is lost");
                Ok(())
            }
        }
    }

    /// Writes everything queued so far (before shutting down, and in tests).
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn run<T>(writer: impl BatchWrite<T>, policy: BatchPolicy, mut rx: mpsc::Receiver<Msg<T>>) {
    let mut batch: Vec<T> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut deadline: Option<tokio::time::Instant> = None;
    // After a failed write: no new attempt before this, except on a flush or at the end.
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        // None: every sender is gone; Some(None): the batch's deadline passed.
        let msg = match deadline {
            None => rx.recv().await.map(Some),
            Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                Ok(m) => m.map(Some),
                Err(_) => Some(None),
            },
        };
        let closed = msg.is_none();
        let mut write = closed;
        match msg {
            Some(Some(Msg::Record(r))) => {
                if batch.is_empty() {
                    deadline = Some(tokio::time::Instant::now() + policy.interval);
                }
                batch.push(r);
            }
            Some(Some(Msg::Flush(done))) => {
                waiting.push(done);
                write = true;
            }
            Some(None) => write = true,
            None => {}
        }
        let full = batch.len() >= policy.max_batch && retry_at.is_none_or(|t| tokio::time::Instant::now() >= t);
        if !(write || full) {
            continue;
        }
        deadline = None;
        if !batch.is_empty() {
            match writer.write(&batch).await {
                Ok(()) => {
                    metrics::counter!(policy.written).increment(batch.len() as u64);
                    batch.clear();
                    retry_at = None;
                }
                Err(e) => {
                    tracing::error!(error = %e, what = policy.what, records = batch.len(), "cannot write records; retrying");
                    if batch.len() > policy.max_pending {
                        let lost = batch.len() - policy.max_pending;
                        batch.drain(..lost);
                        metrics::counter!(policy.lost).increment(lost as u64);
                    }
                    retry_at = Some(tokio::time::Instant::now() + Duration::from_secs(1));
                    deadline = retry_at;
                }
            }
        }
        for w in waiting.drain(..) {
            let _ = w.send(());
        }
        if closed {
            if !batch.is_empty() {
                tracing::error!(what = policy.what, records = batch.len(), "records not written at shutdown");
            }
            return;
        }
    }
}
