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
    // Every sender is gone: one last write, then stop.
    let mut closed = false;
    // A flush arrived while a batch was being written: write what came with it at once.
    let mut write_now = false;
    loop {
        let mut write = write_now || closed;
        write_now = false;
        if !write {
            // None: every sender is gone; Some(None): the batch's deadline passed.
            let msg = match deadline {
                None => rx.recv().await.map(Some),
                Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                    Ok(m) => m.map(Some),
                    Err(_) => Some(None),
                },
            };
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
                None => {
                    closed = true;
                    write = true;
                }
            }
        }
        let full = batch.len() >= policy.max_batch && retry_at.is_none_or(|t| tokio::time::Instant::now() >= t);
        if !(write || full) {
            continue;
        }
        deadline = None;
        if !batch.is_empty() {
            // While the batch is written, the channel keeps being drained (up to a batch more),
            // so that senders wait only when the writer is really behind, not whenever it writes.
            let mut incoming: Vec<T> = Vec::new();
            let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
            let result = {
                let write = writer.write(&batch);
                tokio::pin!(write);
                loop {
                    tokio::select! {
                        biased;
                        r = &mut write => break r,
                        m = rx.recv(), if !closed && incoming.len() < policy.max_batch => match m {
                            Some(Msg::Record(r)) => incoming.push(r),
                            Some(Msg::Flush(done)) => flushes.push(done),
                            None => closed = true,
                        },
                    }
                }
            };
            match result {
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
            batch.append(&mut incoming);
            if !batch.is_empty() && deadline.is_none() {
                deadline = Some(tokio::time::Instant::now() + policy.interval);
            }
            // A flush that came during the write, or senders gone by its end: what came with
            // them is written at once (once, at the end, if the write failed).
            write_now = !flushes.is_empty() || (closed && !batch.is_empty() && retry_at.is_none());
            for w in waiting.drain(..) {
                let _ = w.send(());
            }
            waiting = flushes;
        } else {
            // Nothing to write: a flush has nothing to wait for.
            for w in waiting.drain(..) {
                let _ = w.send(());
            }
        }
        if closed && !write_now {
            for w in waiting.drain(..) {
                let _ = w.send(());
            }
            if !batch.is_empty() {
                tracing::error!(what = policy.what, records = batch.len(), "records not written at shutdown");
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A store that writes a batch only when the test lets it (one permit per write), and
    /// refuses the writes numbered in `fail`.
    #[derive(Clone)]
    struct Gated {
        written: Arc<Mutex<Vec<Vec<u32>>>>,
        gate: Arc<tokio::sync::Semaphore>,
        attempts: Arc<AtomicUsize>,
        fail: Vec<usize>,
    }

    impl Default for Gated {
        fn default() -> Self {
            Self {
                written: Default::default(),
                gate: Arc::new(tokio::sync::Semaphore::new(0)),
                attempts: Default::default(),
                fail: Vec::new(),
            }
        }
    }

    impl BatchWrite<u32> for Gated {
        async fn write(&self, batch: &[u32]) -> Result<(), StoreError> {
            if let Ok(p) = self.gate.acquire().await {
                p.forget();
            }
            let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
            if self.fail.contains(&attempt) {
                return Err(StoreError::Serialization("refused by the test".into()));
            }
            self.written.lock().unwrap().push(batch.to_vec());
            Ok(())
        }
    }

    const POLICY: BatchPolicy = BatchPolicy {
        max_batch: 4,
        interval: Duration::from_secs(3600),
        max_pending: 1000,
        what: "test records",
        written: "test_records_written_total",
        lost: "test_records_lost_total",
    };

    fn all(w: &Gated) -> Vec<u32> {
        w.written.lock().unwrap().iter().flatten().copied().collect()
    }

    #[tokio::test]
    async fn senders_do_not_wait_while_a_batch_is_written() {
        let store = Gated::default();
        let r = Recorder::spawn(store.clone(), POLICY, 4);
        // A full batch: its write starts and is held.
        for i in 0..4 {
            r.record(i).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        // While it is being written, a batch more is taken off the channel, and the channel
        // still holds its own 4: 8 records go in without waiting.
        let mut taken = 0;
        for i in 4..20 {
            if r.try_record(i).is_err() {
                break;
            }
            taken += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(taken, 8, "records queued while the first batch was held");
        assert!(all(&store).is_empty());
        store.gate.add_permits(100);
        r.flush().await;
        assert_eq!(all(&store), (0..12).collect::<Vec<_>>(), "every record, in order");
    }

    #[tokio::test]
    async fn a_flush_during_a_write_waits_for_the_records_before_it() {
        let store = Gated::default();
        let r = Arc::new(Recorder::spawn(store.clone(), POLICY, 16));
        for i in 0..4 {
            r.record(i).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        r.record(4).await;
        r.record(5).await;
        let flusher = tokio::spawn({
            let r = r.clone();
            async move { r.flush().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!flusher.is_finished());
        store.gate.add_permits(1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!flusher.is_finished(), "4 and 5 arrived before the flush and are not written yet");
        store.gate.add_permits(1);
        flusher.await.unwrap();
        assert_eq!(*store.written.lock().unwrap(), vec![vec![0, 1, 2, 3], vec![4, 5]]);
    }

    #[tokio::test]
    async fn a_failed_write_is_retried_before_what_came_during_it() {
        let store = Gated { fail: vec![0], ..Default::default() };
        store.gate.add_permits(100);
        let r = Recorder::spawn(store.clone(), POLICY, 16);
        for i in 0..10 {
            r.record(i).await;
        }
        r.flush().await;
        r.flush().await;
        assert_eq!(all(&store), (0..10).collect::<Vec<_>>());
        assert!(store.attempts.load(Ordering::SeqCst) >= 2);
    }

    #[tokio::test]
    async fn the_last_records_are_written_when_every_sender_is_gone() {
        let store = Gated::default();
        store.gate.add_permits(100);
        let r = Recorder::spawn(store.clone(), POLICY, 16);
        for i in 0..6 {
            r.record(i).await;
        }
        drop(r);
        for _ in 0..100 {
            if all(&store).len() == 6 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(all(&store), (0..6).collect::<Vec<_>>());
    }
}
