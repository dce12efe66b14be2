//! vouch's registry service: who may do what, and the commands and queries of the registry.
//!
//! [`Registry`] wraps the event store and the in-memory [`NumberIndex`]. Every command runs
//! under one writer lock: it checks authorization and input, appends its events in one store
//! transaction, commits, and only then updates the index, so that the index never shows what
//! the store does not hold and events, commits and index updates happen in one order.
//! Adapters (REST, CLI, later SMPP and SIP) call it with an authenticated [`Principal`].

mod auth;
mod brands;
mod campaigns;
mod cps;
mod follow;
mod gateway;
mod log;
mod numbers;
mod providers;
mod recorder;
mod risk;
mod trace;
mod voice;
mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use tokio::sync::Mutex;
use vouch_callauth::BrandFacts;
use vouch_registry::{
    BrandId, CampaignSlot, EventBody, NumberIndex, ProviderId, RegistryError, Role, SanctionsList, ThroughputClass,
    Violations,
};
use vouch_store::{BrandRow, CampaignRow, ProviderRow, Store, StoreError};

pub use auth::{ApiKey, Principal};
pub use brands::SanctionsImport;
pub use campaigns::{CampaignQuery, NumberPage};
pub use cps::{Cps, CpsConfig, CpsPrivacy, Published};
pub use follow::FOLLOW_INTERVAL;
pub(crate) use follow::WriteGuard;
pub use gateway::{BoundAccount, Checked, IssuedSmppAccount, MobileOriginated, SmppGateway, source_label};
pub use log::{
    InclusionProof, Integrated, Opening, ProofError, ProofView, SEALED_BRAND_FIELDS, SEALED_REASON_FIELDS,
    TransparencyLog, commit, salt_base64,
};
pub use numbers::{ImportRejection, ImportReport, NumberAnswer, SuspensionAnswer};
pub use providers::IssuedKey;
pub use risk::{Abuse, AbusePolicy, BrandRisk, CampaignRisk, Enforced};
pub use trace::{
    AccountCount, CATEGORIES, CallEvidence, Channel, EARLIEST_INSTANT, Evidence, GatewayEvidence, Holder, Mismatch,
    Party, RecordView, ReportRequest, SIMILAR_BITS, SignedView, TRACE_AHEAD, TRACE_RECORDS_EACH, TRACE_WINDOW, Trace,
    TraceQuery, Traceback, content_fingerprint, trace_instant_error,
};
pub use voice::{
    CallAuth, CallToVerify, Enforcement, FailurePolicy, Forward, KeySource, RegisteredCertificate, RmdImport,
    SignerFacts, SipAnswer, Upstream, VerifyOutcome, VoiceConfig,
};
pub use webhooks::{Notification, webhook_signature};

/// A source of the current time, injectable for tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Why a conflict happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictKind {
    /// The caller's `referenceId` is already used by another of its resources.
    DuplicateReference,
    /// Another provider already registered this FRN or SPC.
    DuplicateProvider,
    /// The number is held by another campaign.
    NumberHeld,
    /// The campaign is suspended.
    CampaignSuspended,
    /// The campaign is expired.
    CampaignExpired,
    /// The campaign has no DCA that accepted it.
    CampaignNotAccepted,
    /// The campaign's sharing is not in a state that allows the action.
    SharingState,
    /// The campaign's status does not allow the action (e.g. resuming an active campaign).
    CampaignState,
    /// The provider has no usable signing certificate.
    NoSigningCredential,
    /// The transparency log does not (yet) hold what was asked for, or has stopped growing.
    LogState,
    /// The number is already (or not) suspended.
    NumberState,
}

impl ConflictKind {
    /// Short slug naming the problem type.
    pub fn slug(self) -> &'static str {
        match self {
            Self::DuplicateReference => "duplicate-reference-id",
            Self::DuplicateProvider => "duplicate-provider",
            Self::NumberHeld => "number-held",
            Self::CampaignSuspended => "campaign-suspended",
            Self::CampaignExpired => "campaign-expired",
            Self::CampaignNotAccepted => "campaign-not-accepted",
            Self::SharingState => "sharing-state",
            Self::CampaignState => "campaign-state",
            Self::NoSigningCredential => "no-signing-credential",
            Self::LogState => "log-state",
            Self::NumberState => "number-state",
        }
    }
}

/// Everything a registry command or query can fail with; each maps to one HTTP status and
/// problem type in the REST adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// No valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller sent more than its share; it may try again shortly.
    #[error("{0}")]
    RateLimited(String),
    /// Valid credentials, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist, or the caller may not see it.
    #[error("{what} {id} not found")]
    NotFound {
        /// `brand`, `campaign`, `number`…
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The input failed validation; every failing field is named.
    #[error("{0}")]
    Invalid(Violations),
    /// The registry's state does not allow the command.
    #[error("{detail}")]
    Conflict {
        /// What kind of conflict.
        kind: ConflictKind,
        /// What, naming the resources involved.
        detail: String,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl From<RegistryError> for ServiceError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Invalid(v) => Self::Invalid(v),
            other => Self::Invalid(Violations(vec![vouch_registry::FieldViolation::new("body", other.to_string())])),
        }
    }
}

impl ServiceError {
    pub(crate) fn conflict(kind: ConflictKind, detail: impl Into<String>) -> Self {
        Self::Conflict { kind, detail: detail.into() }
    }
    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound { what, id: id.to_string() }
    }
    pub(crate) fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::Invalid(Violations(vec![vouch_registry::FieldViolation::new(field, detail)]))
    }
}

/// Map a store conflict (a uniqueness rule in a view) to a service conflict.
pub(crate) fn store_conflict(kind: ConflictKind, detail: &str) -> impl FnOnce(StoreError) -> ServiceError + '_ {
    move |e| match e {
        StoreError::Conflict(_) => ServiceError::conflict(kind, detail),
        other => ServiceError::Store(other),
    }
}

/// The registry: store, index, sanctions list and clock.
#[derive(Debug)]
pub struct Registry {
    store: Store,
    index: Arc<NumberIndex>,
    /// The writer lock (see [`follow::WriteGuard`]).
    writer: Mutex<()>,
    clock: Arc<dyn Clock>,
    sanctions: RwLock<Arc<SanctionsList>>,
    /// Brands and providers as the traffic path needs them (kept current after each commit).
    facts: RwLock<Facts>,
    /// Principals of API keys seen, by key hash (cleared when a key is revoked).
    principals: RwLock<HashMap<String, Principal>>,
    /// Bumped by every revocation: a principal read from the store before a revocation is not
    /// cached after it.
    principals_generation: std::sync::atomic::AtomicU64,
    /// Campaign declarations and brand tiers for the SMPP gateway (kept current after each commit).
    gateway_facts: RwLock<gateway::GatewayFacts>,
    /// Notifications to CSPs and DCAs.
    webhooks: webhooks::Webhooks,
    /// Bumped when another node changed call-authentication state.
    voice_changed: tokio::sync::watch::Sender<u64>,
    /// This process's name among the nodes of a shared database.
    node: String,
    /// Reports filed per provider in the current minute (see [`trace::REPORTS_PER_MINUTE`]).
    report_budget: Mutex<HashMap<ProviderId, (i64, u32)>>,
}

/// Most API keys whose principal is remembered.
const MAX_CACHED_PRINCIPALS: usize = 10_000;

/// What the traffic path reads about brands and providers, in memory.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub(crate) brands: HashMap<BrandId, BrandFacts>,
    pub(crate) providers: HashMap<ProviderId, ProviderRow>,
    /// Providers by SHAKEN SPC (unique among providers).
    pub(crate) by_spc: HashMap<String, ProviderId>,
}

impl Facts {
    fn add_provider(&mut self, p: ProviderRow) {
        if let Some(spc) = &p.registration.spc {
            self.by_spc.insert(spc.to_string(), p.id);
        }
        self.providers.insert(p.id, p);
    }
}

fn brand_facts(b: &BrandRow) -> BrandFacts {
    BrandFacts {
        id: b.id,
        csp: b.csp_id,
        status: b.identity_status,
        caller_name: b.details.verified_caller_name().to_owned(),
    }
}

impl Registry {
    /// Loads the index and the sanctions list from `store`.
    pub async fn open(store: Store, clock: Arc<dyn Clock>) -> Result<Self, ServiceError> {
        let started = std::time::Instant::now();
        let held = store.count_current_numbers().await?;
        let index = NumberIndex::with_capacity(held as usize);
        let brand_rows = store.brands(None).await?;
        let brands: HashMap<_, _> = brand_rows.iter().map(|b| (b.id, b.score)).collect();
        let mut facts =
            Facts { brands: brand_rows.iter().map(|b| (b.id, brand_facts(b))).collect(), ..Facts::default() };
        for p in store.providers().await? {
            facts.add_provider(p);
        }
        let mut gateway_facts = gateway::GatewayFacts {
            tiers: brand_rows.iter().map(|b| (b.id, gateway::brand_tier(b))).collect(),
            ..Default::default()
        };
        for c in store.campaigns(None, None).await? {
            index.put_campaign(slot_of(&c, brands.get(&c.brand_id).copied().unwrap_or(0)));
            gateway_facts.rules.insert(c.id, Arc::new(gateway::campaign_rules(&c)));
        }
        gateway_facts.suspended = store.suspended_numbers().await?.into_iter().map(|s| s.number).collect();
        store
            .for_each_current_assignment(|batch| {
                index.assign_many(batch);
            })
            .await?;
        let sanctions = match store.latest_sanctions_list().await? {
            Some(bytes) => SanctionsList::from_sdn_csv(&bytes)?,
            None => SanctionsList::default(),
        };
        tracing::info!(
            numbers = index.len(),
            sanctions = sanctions.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "registry index loaded"
        );
        let webhooks = webhooks::Webhooks::start(store.clone(), clock.clone());
        Ok(Self {
            store,
            index: Arc::new(index),
            writer: Mutex::new(()),
            clock,
            sanctions: RwLock::new(Arc::new(sanctions)),
            facts: RwLock::new(facts),
            principals: RwLock::new(HashMap::new()),
            principals_generation: std::sync::atomic::AtomicU64::new(0),
            gateway_facts: RwLock::new(gateway_facts),
            webhooks,
            voice_changed: tokio::sync::watch::Sender::new(0),
            node: node_name(),
            report_budget: Mutex::new(HashMap::new()),
        })
    }

    /// This process's name among the nodes of a shared database (host, process id and a
    /// random part): the sequencer lease's holder, and the writer of the gateway's throughput
    /// totals and the verifier's presentation batches.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The in-memory number index (the hot path for gateways and signers).
    pub fn index(&self) -> &Arc<NumberIndex> {
        &self.index
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn sanctions(&self) -> Arc<SanctionsList> {
        self.sanctions.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_sanctions(&self, list: SanctionsList) {
        *self.sanctions.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
    }

    /// After a commit of bulk rows (which leaves the WAL as it is): copies the WAL into the
    /// database on another thread, off the writer.
    pub(crate) fn checkpoint_in_background(&self) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.checkpoint().await {
                tracing::warn!(error = %e, "WAL checkpoint after a bulk commit failed");
            }
        });
    }

    /// After a commit: counts the events, brings the in-memory facts up to date and notifies
    /// the parties concerned.
    pub(crate) async fn committed(&self, events: &[vouch_registry::Event]) -> Result<(), ServiceError> {
        for e in events {
            metrics::counter!("vouch_registry_events_total", "kind" => e.body.kind()).increment(1);
        }
        self.apply_facts(events).await?;
        if events.iter().any(|e| vouch_store::NOTIFIED_KINDS.contains(&e.body.kind())) {
            self.webhooks.kick();
        }
        Ok(())
    }

    /// Brings brand and provider facts, gateway rules, suspensions and the principal cache up
    /// to date with `events` (this node's or another's).
    pub(crate) async fn apply_facts(&self, events: &[vouch_registry::Event]) -> Result<(), ServiceError> {
        // A brand registered and vetted in one commit is read back once.
        let mut brands: Vec<BrandId> = Vec::new();
        for e in events {
            match &e.body {
                EventBody::BrandRegistered { brand_id, .. }
                | EventBody::BrandUpdated { brand_id, .. }
                | EventBody::BrandVetted { brand_id, .. }
                    if !brands.contains(brand_id) =>
                {
                    brands.push(*brand_id);
                }
                EventBody::CampaignCreated { campaign_id, .. } | EventBody::CampaignUpdated { campaign_id, .. } => {
                    if let Some(c) = self.store.campaign(*campaign_id).await? {
                        self.gateway_facts_mut().rules.insert(c.id, Arc::new(gateway::campaign_rules(&c)));
                    }
                }
                EventBody::ProviderRegistered { provider_id, .. } => {
                    if let Some(p) = self.store.provider(*provider_id).await? {
                        self.facts_mut().add_provider(p);
                    }
                }
                EventBody::NumberSuspended { number, .. } => {
                    self.gateway_facts_mut().suspended.insert(*number);
                }
                EventBody::NumberReinstated { number, .. } | EventBody::NumberReleased { number, .. }
                    if self.number_suspended(*number) =>
                {
                    self.gateway_facts_mut().suspended.remove(number);
                }
                EventBody::ApiKeyRevoked { .. } => {
                    let mut m = self.principals.write().unwrap_or_else(|e| e.into_inner());
                    self.principals_generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    m.clear();
                }
                _ => {}
            }
        }
        for id in brands {
            if let Some(b) = self.store.brand(id).await? {
                self.gateway_facts_mut().tiers.insert(b.id, gateway::brand_tier(&b));
                self.facts_mut().brands.insert(b.id, brand_facts(&b));
            }
        }
        Ok(())
    }

    fn facts_mut(&self) -> std::sync::RwLockWriteGuard<'_, Facts> {
        self.facts.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn facts(&self) -> std::sync::RwLockReadGuard<'_, Facts> {
        self.facts.read().unwrap_or_else(|e| e.into_inner())
    }

    /// What the traffic path knows of a brand.
    pub fn brand_facts(&self, id: BrandId) -> Option<BrandFacts> {
        self.facts().brands.get(&id).cloned()
    }

    /// The provider registered with a SHAKEN SPC, and its FRN, from memory.
    pub fn provider_by_spc(&self, spc: &str) -> Option<(ProviderId, Option<vouch_registry::Frn>)> {
        let f = self.facts();
        let id = *f.by_spc.get(spc)?;
        Some((id, f.providers.get(&id).and_then(|p| p.registration.frn.clone())))
    }

    /// A provider's FRN, from memory (`None` for an unknown provider or one without an FRN).
    pub fn provider_frn(&self, id: ProviderId) -> Option<vouch_registry::Frn> {
        self.facts().providers.get(&id).and_then(|p| p.registration.frn.clone())
    }

    /// A provider's registration, from memory.
    pub fn provider_row(&self, id: ProviderId) -> Option<ProviderRow> {
        self.facts().providers.get(&id).cloned()
    }

    pub(crate) fn cached_principal(&self, hash: &str) -> Option<Principal> {
        self.principals.read().unwrap_or_else(|e| e.into_inner()).get(hash).cloned()
    }

    /// The generation to pass to [`Registry::cache_principal`], read before the store is.
    pub(crate) fn principals_generation(&self) -> u64 {
        self.principals_generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn cache_principal(&self, hash: String, p: Principal, generation: u64) {
        let mut m = self.principals.write().unwrap_or_else(|e| e.into_inner());
        if self.principals_generation() != generation {
            return; // a key was revoked since the store was read
        }
        if m.len() >= MAX_CACHED_PRINCIPALS {
            m.clear();
        }
        m.insert(hash, p);
    }
}

/// Lower-case hex SHA-256 (API key hashes, imported files' fingerprints).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    vouch_shaken::hex(&sha2::Sha256::digest(bytes))
}

/// The index slot of a campaign row.
pub(crate) fn slot_of(c: &CampaignRow, brand_score: u8) -> CampaignSlot {
    CampaignSlot {
        id: c.id,
        brand: c.brand_id,
        csp: c.csp_id,
        dca: c.dca_id,
        status: c.status,
        throughput_class: ThroughputClass::for_campaign(c.details.usecase, brand_score),
    }
}

/// Requires the principal to be a provider with `role` (the administrator may act for anyone
/// where the command allows it; here it may not).
pub(crate) fn require_role(p: &Principal, role: Role) -> Result<vouch_registry::ProviderId, ServiceError> {
    match p {
        Principal::Provider { id, roles } if roles.contains(&role) => Ok(*id),
        Principal::Provider { .. } => {
            Err(ServiceError::Forbidden(format!("this needs a provider with the {} role", role.as_str())))
        }
        Principal::Admin => Err(ServiceError::Forbidden(format!(
            "the administrator cannot do this; use the API key of a provider with the {} role",
            role.as_str()
        ))),
    }
}

fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut r = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut r);
    format!("{}-{}-{}", host.trim(), std::process::id(), vouch_shaken::hex(&r))
}
