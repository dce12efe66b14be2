//! Several nodes on one database: the events other nodes commit, applied to this node's memory
//! (number index, brand and provider facts, gateway rules, call-authentication state).
//!
//! Every write transaction on a shared database locks the registry's state row first, so
//! events commit in sequence order and a node that reads `seq > applied` never skips one that
//! commits later. A node applies what it has not seen before each command it runs (under its
//! writer lock) and every [`FOLLOW_INTERVAL`] in the background; a command that still finds
//! the registry moved on at its first write fails with a retryable error instead of deciding
//! on stale state (the HTTP adapter runs it again).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use vouch_registry::{CampaignId, Event, EventBody};

use crate::{Registry, ServiceError, gateway, slot_of};

/// How often a node on a shared database reads the events other nodes committed.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

/// The writer lock, with the write transaction opened for the command that holds it (shared
/// database only). A command that ends without using the transaction drops it with the
/// guard, which rolls it back and lets the other nodes write.
pub(crate) struct WriteGuard<'a> {
    _lock: tokio::sync::MutexGuard<'a, ()>,
    tx: Option<vouch_store::Tx>,
}

/// How far back a node re-reads what other nodes wrote by timestamp (opt-outs, presentation
/// batches): more than a write takes from its timestamp to its commit plus how far node clocks
/// disagree (docs/DEPLOYMENT.md).
pub(crate) const REREAD: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);

/// Events read per query while catching up.
const PAGE: u32 = 10_000;

impl Registry {
    /// Takes the writer lock. On a shared database it also opens the write transaction the
    /// command will use, which holds the registry's row lock (no other node writes until it
    /// ends), and applies what other nodes committed before: the command's checks then see
    /// the registry as it is, and its events follow the last ones without a gap.
    pub(crate) async fn write_lock(&self) -> Result<WriteGuard<'_>, ServiceError> {
        let lock = self.writer.lock().await;
        let mut w = WriteGuard { _lock: lock, tx: None };
        if self.store.is_shared() {
            let tx = self.store.begin_locked(self.now()).await?;
            self.catch_up_locked().await?;
            let (applied, latest) = (self.store.applied(), tx.last_seq());
            if applied != latest {
                return Err(vouch_store::StoreError::Behind { applied, latest }.into());
            }
            w.tx = Some(tx);
        }
        Ok(w)
    }

    /// The write transaction of a command holding `w`: the one [`Registry::write_lock`] opened,
    /// or a new one.
    pub(crate) async fn begin(&self, w: &mut WriteGuard<'_>) -> Result<vouch_store::Tx, ServiceError> {
        match w.tx.take() {
            Some(tx) => Ok(tx),
            None => Ok(self.store.begin(self.now()).await?),
        }
    }

    /// Applies the events other nodes committed since this node last looked; returns how many.
    /// Nothing to do on the embedded store (this process is its only writer).
    pub async fn catch_up(&self) -> Result<u64, ServiceError> {
        if !self.store.is_shared() {
            return Ok(0);
        }
        let _w = self.writer.lock().await;
        self.catch_up_locked().await
    }

    async fn catch_up_locked(&self) -> Result<u64, ServiceError> {
        let mut total = 0;
        loop {
            let rows = self.store.events_after(self.store.applied(), PAGE).await?;
            let Some(&(last, _)) = rows.last() else { return Ok(total) };
            let events = rows
                .iter()
                .map(|(_, canonical)| Event::from_canonical(canonical.as_bytes()))
                .collect::<Result<Vec<_>, _>>()?;
            self.apply_remote(&events).await?;
            self.store.set_applied(last);
            total += events.len() as u64;
            metrics::counter!("vouch_follow_events_total").increment(events.len() as u64);
            if rows.len() < PAGE as usize {
                return Ok(total);
            }
        }
    }

    /// Catches up every [`FOLLOW_INTERVAL`] until `stop` resolves (a shared database only).
    pub async fn follow(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(FOLLOW_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {
                    if let Err(e) = self.catch_up().await {
                        tracing::warn!(error = %e, "cannot read the events other nodes committed");
                    }
                }
            }
        }
    }

    /// Brings memory up to date with events another node committed: what the command that
    /// wrote them did on its own node after its commit, except notifying parties (that node
    /// did) and counting them (its metrics count its writes).
    async fn apply_remote(&self, events: &[Event]) -> Result<(), ServiceError> {
        let mut campaigns: BTreeSet<CampaignId> = BTreeSet::new();
        let (mut sanctions, mut voice) = (false, false);
        for e in events {
            match &e.body {
                EventBody::CampaignCreated { campaign_id, .. } => {
                    // Its numbers may follow in this page: index it now.
                    self.refresh_campaign(*campaign_id).await?;
                }
                EventBody::CampaignUpdated { campaign_id, .. }
                | EventBody::CampaignShared { campaign_id, .. }
                | EventBody::SharingAccepted { campaign_id, .. }
                | EventBody::SharingDeclined { campaign_id, .. }
                | EventBody::CampaignSuspended { campaign_id, .. }
                | EventBody::CampaignResumed { campaign_id, .. }
                | EventBody::CampaignExpired { campaign_id, .. } => {
                    campaigns.insert(*campaign_id);
                }
                EventBody::BrandVetted { brand_id, outcome } => {
                    self.refresh_brand_campaigns(*brand_id, outcome.score).await?;
                }
                EventBody::NumberAssigned { number, campaign_id, .. } => {
                    self.index.assign(*number, *campaign_id);
                }
                EventBody::NumberReleased { number, .. } => self.index.release(*number),
                EventBody::SanctionsImported { .. } => sanctions = true,
                EventBody::CertificateRegistered { .. }
                | EventBody::SipPeerAdded { .. }
                | EventBody::SipPeerRemoved { .. }
                | EventBody::NumberBlockRegistered { .. }
                | EventBody::NumberBlockRemoved { .. }
                | EventBody::RmdImported { .. } => voice = true,
                // The CPS reads keys from the store when asked.
                EventBody::CpsKeyRegistered { .. } => {}
                _ => {}
            }
        }
        for id in campaigns {
            self.refresh_campaign(id).await?;
        }
        self.apply_facts(events).await?;
        if sanctions && let Some(bytes) = self.store.latest_sanctions_list().await? {
            self.set_sanctions(vouch_registry::SanctionsList::from_sdn_csv(&bytes)?);
        }
        if voice {
            self.voice_changed.send_modify(|generation| *generation += 1);
        }
        Ok(())
    }

    /// Reads a campaign back into the index and the gateway's rules.
    async fn refresh_campaign(&self, id: CampaignId) -> Result<(), ServiceError> {
        let Some(c) = self.store.campaign(id).await? else { return Ok(()) };
        let score = match self.store.brand(c.brand_id).await? {
            Some(b) => b.score,
            None => 0,
        };
        self.index.put_campaign(slot_of(&c, score));
        self.gateway_facts_mut().rules.insert(c.id, Arc::new(gateway::campaign_rules(&c)));
        Ok(())
    }

    /// A receiver that changes whenever another node changed call-authentication state
    /// (certificates, SIP peers, number blocks, the RMD snapshot): the call authentication
    /// service reloads then.
    pub fn voice_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.voice_changed.subscribe()
    }
}

/// The passes of a task that keeps a node's memory in step with the other nodes': one every
/// [`FOLLOW_INTERVAL`] (numbered from 0), for as long as its owner lives.
pub(crate) struct Passes<T> {
    owner: std::sync::Weak<T>,
    tick: tokio::time::Interval,
    n: u64,
}

impl<T> Passes<T> {
    pub(crate) fn new(owner: std::sync::Weak<T>) -> Self {
        let mut tick = tokio::time::interval(FOLLOW_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { owner, tick, n: 0 }
    }

    /// Waits for the next pass: the owner and the pass's number, or `None` once the owner is gone.
    pub(crate) async fn next(&mut self) -> Option<(Arc<T>, u64)> {
        self.tick.tick().await;
        let owner = self.owner.upgrade()?;
        self.n += 1;
        Some((owner, self.n - 1))
    }
}
