//! Call authentication: voice providers' signing credentials, SIP peers and number blocks, the
//! Robocall Mitigation Database snapshot, and the signing (STI-AS) and verification (STI-VS)
//! services the HTTP and SIP adapters call.
//!
//! The registry decides the attestation ([`vouch_callauth::decide`]); the signer records every
//! `origid` it signs (batched, off the request path) for traceback; the verifier checks the
//! PASSporT (ATIS-1000074), the immediate upstream provider and the signer against the RMD,
//! and replays.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::recorder::{BatchPolicy, BatchWrite, Recorder};
use ipnet::IpNet;
use serde_json::{Map, Value};
use vouch_callauth::atis::{Failure, uuid_v7};
use vouch_callauth::{
    BrandFacts, DivSigningResponse, NumberHolder, ReplayCache, RmdChanges, RmdFiling, RmdSnapshot, Seen,
    SigningResponse, VerificationResponse, decide, redirect,
};
use vouch_certfetch::{CertFetcher, FetchPolicy, FetchedChain};
use vouch_registry::{BrandId, EventBody, Frn, ProviderId, Role, TelephoneNumber};
use vouch_shaken::passport::{Claims, Destination, Origin, PPT_DIV, PPT_SHAKEN, PassportHeader, RichCallData};
use vouch_shaken::{
    Attestation, Certificate, Diversion, DiversionChain, IdentityHeader, LintMode, MAX_DIVERSIONS, Passport,
    SigningKey, Tn, TrustStore, TrustedSigner, VerifyOptions, Verstat,
};
use vouch_sip::{Response, SipError, SipMessage, StartLine};
use vouch_store::{CertificateRow, NumberBlockRow, SignedCall, SigningKeyRow, SipPeerRow};

use crate::{ConflictKind, Principal, Registry, ServiceError, store_conflict};

/// Block or only mark what a rule catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// Refuse the call.
    #[default]
    Block,
    /// Let it through, marked.
    Flag,
}

/// What the SIP interface does with a call whose PASSporT fails verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Refuse with the RFC 8224 code (436/437/438/403).
    #[default]
    Reject,
    /// Redirect with `verstat` and `Reason: STIR` (RFC 9410).
    Continue,
}

/// How call authentication is set up.
#[derive(Debug, Clone)]
pub struct VoiceConfig {
    /// Base URL of this server as verifiers reach it; certificates vouch serves have their
    /// `x5u` at `<public_url>/certs/<fingerprint>.pem`.
    pub public_url: String,
    /// Directory of private key files providers may name instead of uploading a key.
    pub key_dir: PathBuf,
    /// STI-PA trust anchors, CRL signers and CRLs at start ([`CallAuth::set_trust`] replaces
    /// them). Empty: nothing verifies (437), and certificates are registered without a chain check.
    pub trust: TrustStore,
    /// How `x5u` URLs are fetched.
    pub fetch: FetchPolicy,
    /// `iat` window, seconds.
    pub freshness: i64,
    /// Upstream or signer absent from the Robocall Mitigation Database.
    pub rmd: Enforcement,
    /// A PASSporT replayed for another call.
    pub replay: Enforcement,
    /// A PASSporT that fails (SIP interface).
    pub on_failure: FailurePolicy,
    /// Answer 428 to an INVITE without Identity from a peer that cannot sign for it (otherwise
    /// 302 with `verstat=No-TN-Validation`).
    pub require_identity: bool,
    /// Fail closed on revocation: a chain verifies (and a certificate registers) only when a
    /// CRL in effect covers each of its certificates below the anchor (`--require-crl`).
    /// Without it, a certificate no CRL speaks for is taken as not revoked.
    pub require_crl: bool,
    /// PASSporTs remembered for replay detection.
    pub replay_capacity: usize,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            key_dir: PathBuf::from("keys"),
            trust: TrustStore::new(),
            fetch: FetchPolicy::default(),
            freshness: 60,
            rmd: Enforcement::Block,
            replay: Enforcement::Block,
            on_failure: FailurePolicy::Reject,
            require_identity: false,
            require_crl: false,
            replay_capacity: 1 << 20,
        }
    }
}

/// Where a certificate's private key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A PKCS#8 or SEC1 PEM uploaded with the certificate.
    Pem(String),
    /// A file name in the server's key directory.
    File(String),
}

/// A signing credential ready to use.
struct Credential {
    fingerprint: String,
    x5u: String,
    key: SigningKey,
    not_after: i64,
    /// The registered chain (end entity first), checked against the trust list's CRLs before
    /// it signs.
    chain: Arc<Vec<Certificate>>,
}

/// A registered certificate as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredCertificate {
    /// The row.
    pub row: CertificateRow,
    /// Validity end of the end-entity certificate, Unix seconds.
    pub not_after: i64,
    /// Whether vouch holds its key and signs with it.
    pub signing: bool,
}

/// What an RMD import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmdImport {
    /// Filings in the new snapshot.
    pub filings: u64,
    /// Rows refused: (line, reason).
    pub rejected: Vec<(u64, String)>,
    /// What changed.
    pub changes: RmdChanges,
}

#[derive(Debug, Clone)]
struct Peer {
    net: IpNet,
    provider: ProviderId,
    brand: Option<BrandId>,
    tdm: bool,
    verify_only: bool,
}

/// What vouch knows of the peer an INVITE came from.
#[derive(Debug, Clone, Copy)]
struct PeerOf {
    provider: ProviderId,
    brand: Option<BrandId>,
    tdm: bool,
    verify_only: bool,
}

#[derive(Debug, Clone)]
struct Block {
    last: u64,
    provider: ProviderId,
    brand: Option<BrandId>,
}

#[derive(Default)]
struct VoiceState {
    /// Each provider's credentials with a usable key, oldest first: the newest that has not
    /// expired and is not revoked signs.
    credentials: HashMap<ProviderId, Arc<[Arc<Credential>]>>,
    /// Certificates vouch serves, by fingerprint: (chain PEM, notAfter).
    served: HashMap<String, (Arc<str>, i64)>,
    /// Chains known without fetching, by `x5u`.
    local: HashMap<String, Arc<Vec<Certificate>>>,
    /// Peers, most specific network first.
    peers: Vec<Peer>,
    /// Number blocks by first number.
    blocks: BTreeMap<u64, Block>,
    /// The RMD snapshot (`None` until one is imported: the rule is then not enforced).
    rmd: Option<Arc<BTreeMap<Frn, RmdFiling>>>,
}

/// Every 5 s, the x5u fetcher's counters as metrics (`/metrics`): cache hits, remembered
/// failures, misses, calls that waited on another's fetch, requests sent, failures, and the
/// cache's size. Ends with the service.
async fn export_fetch_stats(auth: std::sync::Weak<CallAuth>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let Some(auth) = auth.upgrade() else { break };
        let s = auth.fetcher.stats();
        metrics::counter!("vouch_x5u_cache_hits_total").absolute(s.hits);
        metrics::counter!("vouch_x5u_negative_hits_total").absolute(s.negative_hits);
        metrics::counter!("vouch_x5u_misses_total").absolute(s.misses);
        metrics::counter!("vouch_x5u_collapsed_total").absolute(s.collapsed);
        metrics::counter!("vouch_x5u_fetches_total").absolute(s.network_fetches);
        metrics::counter!("vouch_x5u_errors_total").absolute(s.errors);
        metrics::gauge!("vouch_x5u_cache_entries").set(s.cached_entries as f64);
        metrics::gauge!("vouch_x5u_cache_bytes").set(s.cached_bytes as f64);
    }
}

/// A fetched chain and its certificates, parsed once.
type ParsedChain = (Arc<FetchedChain>, Arc<Vec<Certificate>>);

/// The call authentication service.
pub struct CallAuth {
    registry: Arc<Registry>,
    config: VoiceConfig,
    fetcher: CertFetcher,
    state: RwLock<VoiceState>,
    /// Fetched chains, parsed once: the fetcher's entry and its certificates.
    parsed: RwLock<HashMap<String, ParsedChain>>,
    /// Validated signers by `x5u`: (the chain validated, when, the result).
    signers: RwLock<HashMap<String, CachedSigner>>,
    /// Whether a CRL revokes a signing certificate, by fingerprint.
    revocations: RwLock<HashMap<String, CachedRevocation>>,
    /// The STI-PA trust list (anchors, CRL signers, CRLs), replaced by [`CallAuth::set_trust`].
    trust: RwLock<Arc<TrustStore>>,
    replay: ReplayCache,
    recorder: Recorder<SignedCall>,
    /// The node's Call Placement Service, for INVITEs from TDM gateways.
    cps: std::sync::OnceLock<std::sync::Weak<crate::Cps>>,
    /// The key of the SIP responses' To tags ([`CallAuth::to_tag`]), derived from the secret
    /// every node on the store shares, so that every node tags a request alike.
    sip_tags: aws_lc_rs::hmac::Key,
    /// This node's recent answers to peers' INVITEs, for their retransmissions.
    recent_invites: RecentAnswers,
}

/// Recent answers to INVITEs, by transaction (the response's To tag: a MAC of Call-ID, CSeq,
/// From tag and Via branch) and source address, so that a retransmitted INVITE gets the answer
/// the first one got, byte for byte: one signature and one `origid` per call, and no ECDSA
/// work for a peer that retransmits because the node is slow. Two generations of at most
/// [`RECENT_INVITES`] answers each, the older dropped every [`RECENT_INVITE_SECS`] seconds (or
/// when the newer is full): an answer is kept for that long at least, twice that at most, and
/// memory stays bounded whatever the call rate.
#[derive(Default)]
struct RecentAnswers(Mutex<RecentGenerations>);

/// What [`RecentAnswers`] knows of a request.
#[derive(Clone)]
enum Recent {
    /// Being answered since this instant (seconds): a retransmission that comes meanwhile is
    /// dropped, as a stateless server may (RFC 3261 section 8.2.7); the peer sends it again
    /// and gets the answer, which is made once (one signature, one origid per call).
    Working(i64),
    /// Answered with these bytes.
    Answered(Arc<[u8]>),
}

/// What a request is to [`RecentAnswers`].
enum Recency {
    /// New: answer it (and [`RecentAnswers::put`] the answer).
    New,
    /// Being answered: drop this copy.
    InProgress,
    /// Answered: send these bytes again.
    Answered(Arc<[u8]>),
}

#[derive(Default)]
struct RecentGenerations {
    current: HashMap<(String, SocketAddr), Recent>,
    previous: HashMap<(String, SocketAddr), Recent>,
    since: i64,
}

impl RecentGenerations {
    fn insert(&mut self, key: (String, SocketAddr), r: Recent, now: i64) {
        if self.current.len() >= RECENT_INVITES || now - self.since >= RECENT_INVITE_SECS {
            self.previous = std::mem::take(&mut self.current);
            self.since = now;
        }
        self.current.insert(key, r);
    }
}

/// Answers in each generation of [`RecentAnswers`].
const RECENT_INVITES: usize = 16_384;
/// Seconds between two generations of [`RecentAnswers`]: INVITE retransmissions (RFC 3261
/// Timer A) come 0.5, 1.5, 3.5, 7.5 and 15.5 s after the first.
const RECENT_INVITE_SECS: i64 = 16;
/// A request still being answered after this many seconds is answered again (the first
/// answer's task was lost, e.g. at a shutdown): longer than any fetch or check takes.
const RECENT_WORKING_SECS: i64 = 10;

impl RecentAnswers {
    /// What `key` is now, marking it as being answered when it is new.
    fn begin(&self, key: &(String, SocketAddr), now: i64) -> Recency {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match g.current.get(key).or_else(|| g.previous.get(key)) {
            Some(Recent::Answered(bytes)) => return Recency::Answered(bytes.clone()),
            Some(Recent::Working(since)) if now - since < RECENT_WORKING_SECS => return Recency::InProgress,
            _ => {}
        }
        g.insert(key.clone(), Recent::Working(now), now);
        Recency::New
    }

    fn put(&self, key: (String, SocketAddr), answer: Arc<[u8]>, now: i64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key, Recent::Answered(answer), now);
    }
}

/// A chain's validation, kept: the chain it was made for, when, and the signer.
type CachedSigner = (Arc<Vec<Certificate>>, i64, Arc<TrustedSigner>);

/// How long a chain's validation is reused (CRLs and the trust list are re-read by then).
const SIGNER_TTL: i64 = 300;

/// A signing certificate's revocation check, kept: the trust list it was made against (the
/// answer depends on nothing else) and why the certificate is revoked (`None`: it is not).
type CachedRevocation = (Arc<TrustStore>, Option<String>);

impl std::fmt::Debug for CallAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallAuth").field("public_url", &self.config.public_url).finish_non_exhaustive()
    }
}

/// How signed calls are written: at most 2,048 a transaction, the first waiting at most 50 ms.
const SIGNED_CALLS: BatchPolicy = BatchPolicy {
    max_batch: 2048,
    interval: Duration::from_millis(50),
    max_pending: 1 << 20,
    what: "signed calls",
    written: "vouch_stir_signed_recorded_total",
    lost: "vouch_stir_signed_unrecorded_total",
};

/// Writes signed calls.
struct SignedCallWriter(vouch_store::Store);

impl BatchWrite<SignedCall> for SignedCallWriter {
    fn write<'a>(
        &'a self,
        batch: &'a [SignedCall],
    ) -> impl std::future::Future<Output = Result<(), vouch_store::StoreError>> + Send + 'a {
        self.0.insert_signed_calls(batch)
    }
}

/// The caller's number on a signing or verifying request as a registry number, when it is one.
fn registry_number(tn: &Tn) -> Option<TelephoneNumber> {
    // E.164 digits never start with 0; `*` and `#` do not parse.
    let digits = tn.as_str();
    if digits.starts_with('0') {
        return None;
    }
    digits.parse().ok().and_then(TelephoneNumber::from_digits)
}

/// A number from a PASSporT's claims as a registry number: a ten-digit North American number
/// written nationally is the +1 one there, as `Tn::same_number` has it (requests are made
/// canonical as they are parsed; claims are as the signer wrote them).
fn claim_number(tn: &Tn) -> Option<TelephoneNumber> {
    registry_number(&tn.clone().nanp_global())
}

/// A SIP peer's network: an address (a /32 or /128) or a CIDR network, host bits cleared.
fn peer_net(address: &str) -> Result<IpNet, ServiceError> {
    address
        .parse::<IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| address.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| invalid("address", format!("{address:?} is not an IP address or CIDR network")))
}

fn hex(bytes: &[u8]) -> String {
    vouch_shaken::hex(bytes)
}

fn invalid(field: &str, detail: impl Into<String>) -> ServiceError {
    ServiceError::invalid(field, detail)
}

/// Only the provider itself (with the voice role) or the administrator.
pub(crate) fn require_self_voice(p: &Principal, provider: ProviderId) -> Result<(), ServiceError> {
    match p {
        Principal::Admin => Ok(()),
        Principal::Provider { id, roles } if *id == provider && roles.contains(&Role::Voice) => Ok(()),
        Principal::Provider { id, .. } if *id == provider => {
            Err(ServiceError::Forbidden("this needs a provider with the voice role".into()))
        }
        Principal::Provider { .. } => {
            Err(ServiceError::Forbidden(format!("only provider {provider} or the administrator can do this")))
        }
    }
}

impl CallAuth {
    /// Loads credentials, peers, blocks and the RMD snapshot, and starts the signed-call recorder.
    pub async fn open(registry: Arc<Registry>, mut config: VoiceConfig) -> Result<Arc<Self>, ServiceError> {
        let fetcher = CertFetcher::with_system_clock(config.fetch.clone())
            .map_err(|e| invalid("fetch", format!("x5u fetch policy: {e}")))?;
        let trust = std::mem::take(&mut config.trust);
        let shared = registry.store().gateway_secret(&rand::random::<[u8; 32]>()).await?;
        let derived = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &shared),
            b"vouch SIP To tags",
        );
        let me = Arc::new(Self {
            replay: ReplayCache::new(config.replay_capacity),
            cps: std::sync::OnceLock::new(),
            sip_tags: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, derived.as_ref()),
            recent_invites: RecentAnswers::default(),
            config,
            fetcher,
            state: RwLock::new(VoiceState::default()),
            parsed: RwLock::new(HashMap::new()),
            signers: RwLock::new(HashMap::new()),
            revocations: RwLock::new(HashMap::new()),
            trust: RwLock::new(Arc::new(trust)),
            recorder: Recorder::spawn(
                SignedCallWriter(registry.store().clone()),
                SIGNED_CALLS,
                SIGNED_CALLS.max_batch * 8,
            ),
            registry,
        });
        me.reload().await?;
        // Another node on the same database changed certificates, peers, blocks or the RMD
        // snapshot: read them again (under the writer lock, so that no local change of this
        // node lands between the read and the swap).
        let mut changes = me.registry.voice_changes();
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(me) = weak.upgrade() else { break };
                let _w = me.registry.writer.lock().await;
                if let Err(e) = me.reload().await {
                    tracing::warn!(error = %e, "cannot reload call authentication state after another node's change");
                }
            }
        });
        if me.registry.store().is_shared() {
            me.replay.share();
            tokio::spawn(share_presentations(Arc::downgrade(&me)));
        }
        tokio::spawn(export_fetch_stats(Arc::downgrade(&me)));
        Ok(me)
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, VoiceState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, VoiceState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Rebuilds the in-memory state from the store.
    pub async fn reload(&self) -> Result<(), ServiceError> {
        let store = self.registry.store();
        let mut st = VoiceState::default();
        for row in store.certificates().await? {
            let key = match store.signing_key(&row.fingerprint).await? {
                Some(k) => match self.load_key(&k) {
                    Ok(k) => Some(k),
                    Err(e) => {
                        tracing::warn!(fingerprint = %row.fingerprint, error = %e, "the certificate's key cannot be used");
                        None
                    }
                },
                None => None,
            };
            self.install(&mut st, &row, key);
        }
        for p in store.sip_peers().await? {
            install_peer(&mut st, &p);
        }
        for b in store.number_blocks().await? {
            st.blocks
                .insert(b.first.digits(), Block { last: b.last.digits(), provider: b.provider_id, brand: b.brand_id });
        }
        let filings = store.rmd_filings().await?;
        // An import never leaves an empty snapshot: no rows means none was imported.
        if !filings.is_empty() {
            let mut map = BTreeMap::new();
            for (frn, json) in filings {
                let f: RmdFiling = serde_json::from_str(&json).map_err(|e| {
                    ServiceError::Store(vouch_store::StoreError::Corrupt {
                        table: "rmd_filings",
                        detail: e.to_string(),
                    })
                })?;
                if let Ok(frn) = frn.parse() {
                    map.insert(frn, f);
                }
            }
            st.rmd = Some(Arc::new(map));
        }
        *self.state_mut() = st;
        Ok(())
    }

    /// Adds a certificate row (and its key, when usable) to `st`.
    fn install(&self, st: &mut VoiceState, row: &CertificateRow, key: Option<SigningKey>) {
        let chain = match Certificate::chain_from_pem(row.chain_pem.as_bytes()) {
            Ok(c) if !c.is_empty() => c,
            _ => {
                tracing::warn!(fingerprint = %row.fingerprint, "a stored certificate chain does not parse; skipped");
                return;
            }
        };
        let not_after = chain[0].not_after;
        let chain = Arc::new(chain);
        // vouch serves a chain (and knows it without fetching) only at its own fingerprint's
        // URL: no provider can make another provider's x5u resolve to its chain.
        if row.x5u.ends_with(&format!("/certs/{}.pem", row.fingerprint)) {
            if !row.x5u.starts_with(&self.served_prefix()) {
                tracing::warn!(x5u = %row.x5u, public_url = %self.config.public_url, "a served certificate's x5u is not under the public URL; verifiers may not reach it");
            }
            st.served.insert(row.fingerprint.clone(), (Arc::from(row.chain_pem.as_str()), not_after));
            st.local.insert(row.x5u.clone(), chain.clone());
        }
        let Some(key) = key else { return };
        let cred = Credential { fingerprint: row.fingerprint.clone(), x5u: row.x5u.clone(), key, not_after, chain };
        let creds = st.credentials.entry(row.provider_id).or_insert_with(|| Arc::from([]));
        *creds = creds.iter().cloned().chain([Arc::new(cred)]).collect();
    }

    fn load_key(&self, k: &SigningKeyRow) -> Result<SigningKey, String> {
        match k {
            SigningKeyRow::Pkcs8(der) => SigningKey::from_der(der).map_err(|e| e.to_string()),
            // `<provider>/<name>` in the key directory; errors do not say where the directory is.
            SigningKeyRow::File(name) => {
                let bytes = std::fs::read(self.config.key_dir.join(name))
                    .map_err(|_| format!("cannot read the key file {name} in the server's key directory"))?;
                SigningKey::from_pem(&bytes).map_err(|e| format!("the key file {name}: {e}"))
            }
        }
    }

    fn served_prefix(&self) -> String {
        format!("{}/certs/", self.config.public_url.trim_end_matches('/'))
    }

    fn trust(&self) -> Arc<TrustStore> {
        self.trust.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the trust list (a re-read trust directory with new CRLs); chains are validated
    /// again from the next call, and signing certificates checked again against the new CRLs.
    pub fn set_trust(&self, trust: TrustStore) {
        *self.trust.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(trust);
        self.signers.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.revocations.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Why the certificate `fingerprint` (with its `chain`) must not sign: a CRL of the current
    /// trust list revokes a certificate of its chain (every verifier holding that CRL would
    /// refuse what it signs, 437). Checked once per certificate and trust list.
    fn revocation(&self, fingerprint: &str, chain: &[Certificate]) -> Option<String> {
        let trust = self.trust();
        if let Some((t, revoked)) = self.revocations.read().unwrap_or_else(|e| e.into_inner()).get(fingerprint)
            && Arc::ptr_eq(t, &trust)
        {
            return revoked.clone();
        }
        let revoked = trust.check_not_revoked(chain).err().map(|e| e.to_string());
        let mut cache = self.revocations.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(fingerprint.to_owned(), (trust, revoked.clone()));
        revoked
    }

    /// The credential `provider` signs with now: its newest certificate that has not expired
    /// and that no CRL of the trust list revokes, so a revoked new certificate leaves the one
    /// it was to replace signing (`NoSigningCredential` saying what is wrong with the newest
    /// when none is usable).
    fn signing_credential(&self, provider: ProviderId, now: i64) -> Result<Arc<Credential>, ServiceError> {
        let creds = self.state().credentials.get(&provider).cloned().ok_or_else(|| {
            ServiceError::conflict(
                ConflictKind::NoSigningCredential,
                format!("provider {provider} has no signing certificate registered with vouch"),
            )
        })?;
        let mut newest_problem = None;
        for cred in creds.iter().rev() {
            let problem = if cred.not_after < now {
                format!("the signing certificate {} of provider {provider} has expired", cred.fingerprint)
            } else if let Some(why) = self.revocation(&cred.fingerprint, &cred.chain) {
                format!(
                    "the signing certificate {} of provider {provider} is revoked ({why}); register a new one",
                    cred.fingerprint
                )
            } else {
                return Ok(cred.clone());
            };
            newest_problem.get_or_insert(problem);
        }
        Err(ServiceError::conflict(
            ConflictKind::NoSigningCredential,
            newest_problem.unwrap_or_else(|| format!("provider {provider} has no usable signing certificate")),
        ))
    }

    /// Now, Unix seconds, by the registry's clock.
    pub fn now_secs(&self) -> i64 {
        self.registry.now().as_second()
    }

    /// The `iat` (and request `time`) window, seconds.
    pub fn freshness(&self) -> i64 {
        self.config.freshness
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    // ---- credentials ---------------------------------------------------------------------

    /// Registers a provider's SHAKEN certificate chain and the key it signs with. The chain
    /// must pass the strict SHAKEN lint, its SPC must be the provider's, it must chain to the
    /// trust list (when one is configured) and be valid now, and the key must be the
    /// certificate's. Without `x5u`, vouch serves the chain itself.
    pub async fn register_certificate(
        &self,
        p: &Principal,
        provider: ProviderId,
        chain_pem: &str,
        key: KeySource,
        x5u: Option<String>,
    ) -> Result<RegisteredCertificate, ServiceError> {
        require_self_voice(p, provider)?;
        let row = self.registry.provider_row(provider).ok_or_else(|| ServiceError::not_found("provider", provider))?;
        let Some(spc) = row.registration.spc.clone() else {
            return Err(invalid(
                "chain",
                format!("provider {provider} has no SPC registered; only voice providers sign"),
            ));
        };
        let chain = Certificate::chain_from_pem(chain_pem.as_bytes()).map_err(|e| invalid("chain", e.to_string()))?;
        let leaf = chain.first().ok_or_else(|| invalid("chain", "no certificate in the PEM"))?;
        let mut findings = Vec::new();
        for c in &chain {
            let report =
                vouch_shaken::lint_der(c.der(), LintMode::Strict).map_err(|e| invalid("chain", e.to_string()))?;
            findings.extend(
                report.failures().map(|f| format!("{}: {} ({}) on {}", f.rule, f.requirement, f.source, c.subject)),
            );
        }
        if !findings.is_empty() {
            return Err(ServiceError::Invalid(vouch_registry::Violations(
                findings.into_iter().map(|f| vouch_registry::FieldViolation::new("chain", f)).collect(),
            )));
        }
        let cert_spc = leaf.spc().map_err(|e| invalid("chain", e.to_string()))?;
        if cert_spc != spc.as_str() {
            return Err(invalid(
                "chain",
                format!("the certificate's SPC is {cert_spc}, but provider {provider} registered SPC {spc}"),
            ));
        }
        let now = self.now_secs();
        if !leaf.valid_at(now) {
            return Err(invalid(
                "chain",
                format!("{} is not valid now ({}..{})", leaf.subject, leaf.not_before, leaf.not_after),
            ));
        }
        let trust = self.trust();
        if !trust.anchors().is_empty() {
            trust
                .validate(&chain, now, self.config.require_crl)
                .map_err(|e| invalid("chain", format!("does not chain to the STI-PA trust list: {e}")))?;
        }
        let key_row = match &key {
            KeySource::Pem(pem) => {
                let k = SigningKey::from_pem(pem.as_bytes()).map_err(|e| invalid("privateKey", e.to_string()))?;
                SigningKeyRow::Pkcs8(k.to_pkcs8_der().map_err(|e| invalid("privateKey", e.to_string()))?)
            }
            KeySource::File(name) => {
                let ok = !name.is_empty()
                    && name.len() <= 128
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                    && !name.starts_with('.');
                if !ok {
                    return Err(invalid(
                        "keyFile",
                        "must be a file name (letters, digits, . _ -) in the provider's key directory (<key dir>/<provider id>/)",
                    ));
                }
                // Each provider's key files are in its own subdirectory.
                SigningKeyRow::File(format!("{provider}/{name}"))
            }
        };
        let signing_key = self
            .load_key(&key_row)
            .map_err(|e| invalid(if matches!(key, KeySource::File(_)) { "keyFile" } else { "privateKey" }, e))?;
        if Some(signing_key.public_key_point()) != leaf.p256_point.as_deref() {
            return Err(invalid("privateKey", "the key is not the certificate's (the public keys differ)"));
        }
        let fingerprint = hex(&leaf.fingerprint());
        let x5u = match x5u {
            Some(u) => {
                check_x5u(&u)?;
                u
            }
            None => format!("{}{fingerprint}.pem", self.served_prefix()),
        };
        if x5u.starts_with(&self.served_prefix()) && !x5u.ends_with(&format!("/certs/{fingerprint}.pem")) {
            return Err(invalid("x5u", "a URL under this server's /certs/ must be the certificate's own"));
        }
        // The PEM as vouch serves it: exactly the parsed certificates, re-encoded.
        let pem: String = chain.iter().map(Certificate::to_pem).collect();
        let mut w = self.registry.write_lock().await?;
        let mut tx = self.registry.begin(&mut w).await?;
        tx.append(
            p.actor(),
            EventBody::CertificateRegistered {
                provider_id: provider,
                fingerprint: fingerprint.clone(),
                spc: spc.clone(),
                chain_pem: pem.clone(),
                x5u: x5u.clone(),
            },
        )
        .await
        .map_err(store_conflict(ConflictKind::DuplicateReference, "this certificate is already registered"))?;
        tx.insert_signing_key(&fingerprint, &key_row).await?;
        let events = tx.commit().await?;
        self.registry.committed(&events).await?;
        let created = events.first().map(|e| e.time).unwrap_or_else(|| self.registry.now());
        let row =
            CertificateRow { fingerprint, provider_id: provider, spc: spc.to_string(), chain_pem: pem, x5u, created };
        self.install(&mut self.state_mut(), &row, Some(signing_key));
        Ok(RegisteredCertificate { not_after: leaf.not_after, signing: true, row })
    }

    /// A provider's certificates.
    pub async fn certificates(
        &self,
        p: &Principal,
        provider: ProviderId,
    ) -> Result<Vec<RegisteredCertificate>, ServiceError> {
        require_self_voice(p, provider)?;
        let now = self.now_secs();
        // The newest certificate that has not expired and is not revoked signs.
        let active = self.signing_credential(provider, now).ok().map(|c| c.fingerprint.clone());
        Ok(self
            .registry
            .store()
            .certificates()
            .await?
            .into_iter()
            .filter(|r| r.provider_id == provider)
            .map(|row| {
                let not_after = Certificate::chain_from_pem(row.chain_pem.as_bytes())
                    .ok()
                    .and_then(|c| c.first().map(|l| l.not_after))
                    .unwrap_or_default();
                RegisteredCertificate { signing: active.as_deref() == Some(row.fingerprint.as_str()), not_after, row }
            })
            .collect())
    }

    /// A chain vouch serves at its `x5u`: (PEM, seconds it stays valid).
    pub fn served_chain(&self, fingerprint: &str) -> Option<(Arc<str>, i64)> {
        let st = self.state();
        let (pem, not_after) = st.served.get(fingerprint)?;
        Some((pem.clone(), (*not_after - self.now_secs()).max(0)))
    }

    // ---- peers and blocks ----------------------------------------------------------------

    /// Registers a SIP peering source (an address or CIDR network) of a provider.
    pub async fn add_sip_peer(
        &self,
        p: &Principal,
        provider: ProviderId,
        address: &str,
        brand: Option<BrandId>,
        tdm: bool,
        verify_only: bool,
    ) -> Result<SipPeerRow, ServiceError> {
        require_self_voice(p, provider)?;
        let net = peer_net(address)?;
        let widest = if net.addr().is_ipv4() { 16 } else { 48 };
        if net.prefix_len() < widest {
            return Err(invalid(
                "address",
                format!("a peer network may be at most /{widest}; register the SBCs' addresses, not whole networks"),
            ));
        }
        if let Some(b) = brand {
            self.customer(provider, b)?;
        }
        let address = net.to_string();
        let mut w = self.registry.write_lock().await?;
        // The source address says which provider a call comes from: networks of different
        // providers must not overlap, and the same network is registered once.
        let overlaps = |x: &Peer| x.net.contains(&net) || net.contains(&x.net);
        if let Some(other) = self.state().peers.iter().find(|x| overlaps(x) && (x.provider != provider || x.net == net))
        {
            return Err(ServiceError::conflict(
                ConflictKind::DuplicateReference,
                format!("{address} overlaps {}, a SIP peer of provider {}", other.net, other.provider),
            ));
        }
        let mut tx = self.registry.begin(&mut w).await?;
        tx.append(
            p.actor(),
            EventBody::SipPeerAdded {
                provider_id: provider,
                address: address.clone(),
                brand_id: brand,
                tdm,
                verify_only,
            },
        )
        .await
        .map_err(store_conflict(ConflictKind::DuplicateReference, "the address is already a SIP peer"))?;
        let events = tx.commit().await?;
        self.registry.committed(&events).await?;
        let row = SipPeerRow {
            address,
            provider_id: provider,
            brand_id: brand,
            tdm,
            verify_only,
            created: events.first().map(|e| e.time).unwrap_or_else(|| self.registry.now()),
        };
        install_peer(&mut self.state_mut(), &row);
        Ok(row)
    }

    /// Removes a SIP peer.
    pub async fn remove_sip_peer(
        &self,
        p: &Principal,
        provider: ProviderId,
        address: &str,
    ) -> Result<(), ServiceError> {
        require_self_voice(p, provider)?;
        let net = peer_net(address)?;
        let mut w = self.registry.write_lock().await?;
        if !self.state().peers.iter().any(|x| x.net == net && x.provider == provider) {
            return Err(ServiceError::not_found("SIP peer", net));
        }
        let mut tx = self.registry.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::SipPeerRemoved { provider_id: provider, address: net.to_string() }).await?;
        self.registry.committed(&tx.commit().await?).await?;
        self.state_mut().peers.retain(|x| x.net != net);
        Ok(())
    }

    /// A provider's SIP peers.
    pub async fn sip_peers(&self, p: &Principal, provider: ProviderId) -> Result<Vec<SipPeerRow>, ServiceError> {
        require_self_voice(p, provider)?;
        Ok(self.registry.store().sip_peers().await?.into_iter().filter(|r| r.provider_id == provider).collect())
    }

    fn customer(&self, provider: ProviderId, brand: BrandId) -> Result<BrandFacts, ServiceError> {
        match self.registry.brand_facts(brand) {
            Some(b) if b.csp == provider => Ok(b),
            _ => Err(invalid("brandId", format!("{brand} is not a brand of provider {provider}"))),
        }
    }

    /// Registers a block of numbers as the provider's own (`brand` absent) or a customer's.
    /// Administrator only: a block earns A attestation, so the operator checks the holding
    /// (number assignment records) before registering it.
    pub async fn add_number_block(
        &self,
        p: &Principal,
        provider: ProviderId,
        first: TelephoneNumber,
        last: TelephoneNumber,
        brand: Option<BrandId>,
    ) -> Result<NumberBlockRow, ServiceError> {
        if !p.is_admin() {
            return Err(ServiceError::Forbidden(
                "number blocks give A attestation: only the administrator registers them, after checking who holds the numbers"
                    .into(),
            ));
        }
        let row = self.registry.provider_row(provider).ok_or_else(|| ServiceError::not_found("provider", provider))?;
        if !row.registration.roles.contains(&Role::Voice) {
            return Err(invalid("providerId", format!("provider {provider} is not a voice provider")));
        }
        if last < first {
            return Err(invalid("last", "must not be before first"));
        }
        if last.digits() - first.digits() >= 10_000_000 {
            return Err(invalid("last", "a block holds at most 10,000,000 numbers"));
        }
        if let Some(b) = brand {
            self.customer(provider, b)?;
        }
        let mut w = self.registry.write_lock().await?;
        if let Some(overlap) = self.block_overlapping(first.digits(), last.digits()) {
            return Err(ServiceError::conflict(
                ConflictKind::NumberHeld,
                format!("the block overlaps the block from +{overlap} of another registration"),
            ));
        }
        let mut tx = self.registry.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::NumberBlockRegistered { provider_id: provider, first, last, brand_id: brand })
            .await
            .map_err(store_conflict(ConflictKind::NumberHeld, "a block already starts at this number"))?;
        let events = tx.commit().await?;
        self.registry.committed(&events).await?;
        self.state_mut().blocks.insert(first.digits(), Block { last: last.digits(), provider, brand });
        Ok(NumberBlockRow {
            first,
            last,
            provider_id: provider,
            brand_id: brand,
            created: events.first().map(|e| e.time).unwrap_or_else(|| self.registry.now()),
        })
    }

    fn block_overlapping(&self, first: u64, last: u64) -> Option<u64> {
        let st = self.state();
        st.blocks.range(..=last).next_back().filter(|(_, b)| b.last >= first).map(|(f, _)| *f)
    }

    /// Removes a number block.
    pub async fn remove_number_block(
        &self,
        p: &Principal,
        provider: ProviderId,
        first: TelephoneNumber,
    ) -> Result<(), ServiceError> {
        require_self_voice(p, provider)?;
        let mut w = self.registry.write_lock().await?;
        if self.state().blocks.get(&first.digits()).is_none_or(|b| b.provider != provider) {
            return Err(ServiceError::not_found("number block", first));
        }
        let mut tx = self.registry.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::NumberBlockRemoved { provider_id: provider, first }).await?;
        self.registry.committed(&tx.commit().await?).await?;
        self.state_mut().blocks.remove(&first.digits());
        Ok(())
    }

    /// A provider's number blocks.
    pub async fn number_blocks(
        &self,
        p: &Principal,
        provider: ProviderId,
    ) -> Result<Vec<NumberBlockRow>, ServiceError> {
        require_self_voice(p, provider)?;
        Ok(self.registry.store().number_blocks().await?.into_iter().filter(|r| r.provider_id == provider).collect())
    }

    // ---- Robocall Mitigation Database ----------------------------------------------------

    /// Imports an RMD export (administrator only), replacing the snapshot, with one
    /// `rmd.imported` event naming what changed. An export with fewer than half the filings of
    /// the current snapshot (of at least [`RMD_SHRINK_FLOOR`]) is refused unless `allow_shrink`:
    /// a partial download would otherwise block every provider it leaves out.
    pub async fn import_rmd(&self, p: &Principal, bytes: &[u8], allow_shrink: bool) -> Result<RmdImport, ServiceError> {
        if !p.is_admin() {
            return Err(ServiceError::Forbidden(
                "only the administrator imports the Robocall Mitigation Database".into(),
            ));
        }
        let snapshot = RmdSnapshot::parse(bytes).map_err(|e| invalid("file", e.to_string()))?;
        if snapshot.filings.is_empty() {
            return Err(invalid("file", "the export has no usable filing; the current snapshot is kept"));
        }
        let sha256 = crate::sha256_hex(bytes);
        let rows: Vec<(String, String)> = snapshot
            .filings
            .iter()
            .map(|(frn, f)| {
                Ok((frn.to_string(), serde_json::to_string(f).map_err(|e| invalid("file", e.to_string()))?))
            })
            .collect::<Result<_, ServiceError>>()?;
        let mut w = self.registry.write_lock().await?;
        let old = self.state().rmd.clone().unwrap_or_default();
        let (had, has) = (old.len(), snapshot.filings.len());
        if !allow_shrink && had >= RMD_SHRINK_FLOOR && has < had / 2 {
            return Err(invalid(
                "file",
                format!(
                    "the export has {has} filings, fewer than half the {had} of the current snapshot; a partial \
                     download would block every provider it leaves out, so the current snapshot is kept (import \
                     again allowing it to shrink if the database really shrank)"
                ),
            ));
        }
        let changes = RmdChanges::between(&old, &snapshot.filings);
        let mut tx = self.registry.begin(&mut w).await?;
        tx.replace_rmd_filings(&rows).await?;
        tx.append(
            p.actor(),
            EventBody::RmdImported {
                filings: snapshot.filings.len() as u64,
                sha256,
                added: first_frns(&changes.added),
                removed: first_frns(&changes.removed),
                changed: first_frns(&changes.changed),
                totals: [&changes.added, &changes.removed, &changes.changed]
                    .iter()
                    .any(|l| l.len() > vouch_registry::RMD_EVENT_FRNS)
                    .then_some(vouch_registry::RmdChangeTotals {
                        added: changes.added.len() as u64,
                        removed: changes.removed.len() as u64,
                        changed: changes.changed.len() as u64,
                    }),
            },
        )
        .await?;
        self.registry.committed(&tx.commit().await?).await?;
        let filings = snapshot.filings.len() as u64;
        self.state_mut().rmd = Some(Arc::new(snapshot.filings));
        Ok(RmdImport {
            filings,
            rejected: snapshot.rejected.into_iter().map(|r| (r.line, r.reason)).collect(),
            changes,
        })
    }

    /// Whether `frn` is in the RMD snapshot; `None` when no snapshot was imported.
    pub fn rmd_listed(&self, frn: &Frn) -> Option<bool> {
        self.state().rmd.as_ref().map(|m| m.contains_key(frn))
    }

    /// Filings in the snapshot, when one was imported.
    pub fn rmd_size(&self) -> Option<usize> {
        self.state().rmd.as_ref().map(|m| m.len())
    }

    // ---- signing -------------------------------------------------------------------------

    /// Who holds `tn` in the registry: a campaign's brand, or a number block.
    /// Who holds `tn` as far as a signing by `provider` is concerned. A number can be both in a
    /// voice provider's block and in a 10DLC campaign (a texting-enabled landline: its voice
    /// provider and its messaging CSP differ), so the holder that concerns the signer wins:
    /// its own block (or one it registered for a customer), then its customer's campaign, and
    /// only then another provider's campaign or block. A campaign assignment by some DCA thus
    /// neither takes A from the block's provider nor gives it to another.
    fn holder(&self, tn: &Tn, provider: ProviderId) -> Option<NumberHolder> {
        let n = registry_number(tn)?;
        let campaign = self.registry.index().lookup(n).and_then(|a| {
            let slot = a.campaign;
            let brand = self.registry.brand_facts(slot.brand)?;
            Some(NumberHolder::Campaign { campaign: slot.id, status: slot.status, brand })
        });
        let block = self.block_of(n).map(|b| NumberHolder::Block {
            provider: b.provider,
            brand: b.brand.and_then(|id| self.registry.brand_facts(id)),
        });
        let concerns = |h: &Option<NumberHolder>| match h {
            Some(NumberHolder::Block { provider: p, .. }) => *p == provider,
            Some(NumberHolder::Campaign { brand, .. }) => brand.csp == provider,
            None => false,
        };
        if concerns(&block) || campaign.is_none() { block } else { campaign }
    }

    /// Signs a call for `provider`: the attestation the registry supports (never more than
    /// `requested`), `rcd.nam` for VETTED_VERIFIED brands, and a record of the `origid`.
    #[allow(clippy::too_many_arguments)]
    pub async fn sign(
        &self,
        provider: ProviderId,
        requested: Attestation,
        orig: Tn,
        dest: Vec<Tn>,
        iat: i64,
        origid: Option<String>,
        customer: Option<BrandId>,
    ) -> Result<SigningResponse, ServiceError> {
        let cred = self.signing_credential(provider, self.now_secs())?;
        self.sign_with(cred, provider, requested, orig, dest, iat, origid, customer).await
    }

    /// [`CallAuth::sign`] with the provider's signing credential already looked up.
    #[allow(clippy::too_many_arguments)]
    async fn sign_with(
        &self,
        cred: Arc<Credential>,
        provider: ProviderId,
        requested: Attestation,
        orig: Tn,
        dest: Vec<Tn>,
        iat: i64,
        origid: Option<String>,
        customer: Option<BrandId>,
    ) -> Result<SigningResponse, ServiceError> {
        let now = self.now_secs();
        self.check_iat(iat, now)?;
        let customer = match customer {
            Some(b) => Some(
                self.customer(provider, b)
                    .map_err(|_| invalid("customer", format!("{b} is not a brand of provider {provider}")))?,
            ),
            None => None,
        };
        let mut decision = decide(provider, customer.as_ref(), self.holder(&orig, provider).as_ref());
        // A number suspended by enforcement (its DCA, the administrator, a policy) is not
        // vouched for at A, whoever holds it.
        if registry_number(&orig).is_some_and(|n| self.registry.number_suspended(n)) {
            decision = decision.at_most_b("the number itself is suspended");
        }
        let decision = decision.capped_by(requested);
        // Generated origids sort by time (UUIDv7): the store's origid index grows at its end.
        let origid = origid.unwrap_or_else(|| self.new_origid());
        let claims = Claims {
            attest: Some(decision.attest),
            dest: Destination { tn: dest.clone(), uri: Vec::new() },
            iat,
            orig: Origin::Tn(orig.clone()),
            origid: Some(origid.clone()),
            rcd: decision.caller_name.clone().map(|nam| RichCallData { nam, other: Map::new() }),
            crn: None,
            div: None,
        };
        let header = PassportHeader { ppt: Some(PPT_SHAKEN.into()), x5u: cred.x5u.clone() };
        let token =
            cred.key.sign(&header, &claims).map_err(|e| ServiceError::invalid("signingRequest", e.to_string()))?;
        let identity = IdentityHeader::shaken(token, cred.x5u.clone()).to_string();
        let record = SignedCall {
            origid: origid.clone(),
            provider_id: provider,
            brand_id: decision.brand,
            campaign_id: decision.campaign,
            orig: orig.as_str().to_owned(),
            dest: dest.iter().map(Tn::as_str).collect::<Vec<_>>().join(","),
            attest: decision.attest.as_str().to_owned(),
            iat,
            created: self.registry.now(),
        };
        self.recorder.record(record).await;
        metrics::counter!("vouch_stir_signed_total", "attest" => decision.attest.as_str()).increment(1);
        Ok(SigningResponse { identity, attest: decision.attest, requested, reason: decision.reason, origid })
    }

    /// Writes every signed call sent so far (before shutting down, and in tests).
    pub async fn flush(&self) {
        self.recorder.flush().await;
    }

    /// Every call signed under `origid`, with those still queued written first (for traceback,
    /// which decides itself what its caller may see).
    pub async fn flushed_signed_calls(&self, origid: &str) -> Result<Vec<SignedCall>, ServiceError> {
        self.flush().await;
        Ok(self.registry.store().signed_calls(&origid.to_ascii_lowercase()).await?)
    }

    /// The calls signed under `origid` that the caller may see (the signing provider its own;
    /// the administrator all), newest first.
    pub async fn signed_calls(&self, p: &Principal, origid: &str) -> Result<Vec<SignedCall>, ServiceError> {
        let calls: Vec<SignedCall> = self
            .registry
            .store()
            .signed_calls(&origid.to_ascii_lowercase())
            .await?
            .into_iter()
            .filter(|c| p.is_admin() || p.provider() == Some(c.provider_id))
            .collect();
        if calls.is_empty() {
            return Err(ServiceError::not_found("signed call", origid));
        }
        Ok(calls)
    }

    /// Who signed a PASSporT, for traceback: the certificate at its `x5u` (one vouch holds, or
    /// fetched), its SPC, the provider registered with that SPC, the event that registered the
    /// certificate with vouch, and whether the chain and signature verify (for the `iat`).
    pub async fn signer_of(&self, passport: &vouch_shaken::Passport, x5u: &str) -> SignerFacts {
        let mut facts = SignerFacts::default();
        let chain = match self.chain(x5u).await {
            Ok(c) => c,
            Err(f) => {
                facts.problem = Some(f.desc.clone());
                return facts;
            }
        };
        let Some(leaf) = chain.first() else {
            facts.problem = Some("the x5u holds no certificate".into());
            return facts;
        };
        facts.fingerprint = Some(leaf.fingerprint().iter().map(|b| format!("{b:02x}")).collect());
        match leaf.spc() {
            Ok(spc) => {
                facts.provider = self.registry.provider_by_spc(spc).map(|(id, _)| id);
                facts.spc = Some(spc.to_string());
            }
            Err(e) => facts.problem = Some(e.to_string()),
        }
        if let Some(fp) = &facts.fingerprint {
            facts.certificate_event = self.registry.store().certificate_event(fp).await.ok().flatten();
        }
        let iat = passport.claims().iat;
        let verified = self.trusted_signer(x5u, &chain, iat, self.now_secs()).and_then(|signer| {
            let opts = VerifyOptions::at(iat);
            vouch_shaken::verify_with_signer(passport.clone(), &signer, &opts)
        });
        match verified {
            Ok(_) => facts.verified = true,
            Err(e) => {
                facts.problem.get_or_insert(e.to_string());
            }
        }
        facts
    }

    // ---- verification --------------------------------------------------------------------

    /// The chain at `info`: one vouch holds, or fetched (and parsed once per fetch).
    pub(crate) async fn chain(&self, info: &str) -> Result<Arc<Vec<Certificate>>, Failure> {
        if let Some(c) = self.state().local.get(info) {
            return Ok(c.clone());
        }
        let fetched = self
            .fetcher
            .fetch(info)
            .await
            .map_err(|e| Failure::unreachable_certificate(format!("x5u <{info}>: {e}")))?;
        if let Some((f, parsed)) = self.parsed.read().unwrap_or_else(|e| e.into_inner()).get(info)
            && Arc::ptr_eq(f, &fetched)
        {
            return Ok(parsed.clone());
        }
        let certs: Vec<Certificate> = fetched
            .certificates
            .iter()
            .map(|der| Certificate::from_der(der))
            .collect::<Result<_, _>>()
            .map_err(|e| Failure::from_shaken(&e))?;
        let certs = Arc::new(certs);
        let mut parsed = self.parsed.write().unwrap_or_else(|e| e.into_inner());
        if parsed.len() >= 10_000 {
            parsed.clear();
        }
        parsed.insert(info.to_owned(), (fetched, certs.clone()));
        Ok(certs)
    }

    /// Fetches the chains at `urls` at once (each distinct one once) when there are several, so
    /// that a request naming slow or dead repositories waits for one fetch budget, not one per
    /// URL; what follows reads them from the cache.
    async fn prefetch_chains<'a>(&self, urls: impl IntoIterator<Item = &'a str>) {
        let mut urls: Vec<&str> = urls.into_iter().collect();
        urls.sort_unstable();
        urls.dedup();
        if urls.len() > 1 {
            futures_util::future::join_all(urls.iter().map(|u| self.chain(u))).await;
        }
    }

    /// The chain at `info`, fetched (or held) and validated for a PASSporT issued at `iat`
    /// ([`CallAuth::chain`], [`CallAuth::trusted_signer`]); why not, as text.
    async fn validated_signer(&self, info: &str, iat: i64, now: i64) -> Result<Arc<TrustedSigner>, String> {
        let chain = self.chain(info).await.map_err(|f| f.desc)?;
        self.trusted_signer(info, &chain, iat, now).map_err(|e| e.to_string())
    }

    /// The chain at `x5u` validated for a PASSporT issued at `iat`: from the cache when the same
    /// chain validated recently for that time, else validated now (failures are not kept).
    pub(crate) fn trusted_signer(
        &self,
        x5u: &str,
        chain: &Arc<Vec<Certificate>>,
        iat: i64,
        now: i64,
    ) -> Result<Arc<TrustedSigner>, vouch_shaken::ShakenError> {
        if let Some((c, at, s)) = self.signers.read().unwrap_or_else(|e| e.into_inner()).get(x5u)
            && Arc::ptr_eq(c, chain)
            && now - at < SIGNER_TTL
            && s.covers(iat)
        {
            return Ok(s.clone());
        }
        let signer = Arc::new(TrustedSigner::validate(chain, &self.trust(), iat, self.config.require_crl)?);
        let mut cache = self.signers.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(x5u.to_owned(), (chain.clone(), now, signer.clone()));
        Ok(signer)
    }

    /// Verifies one Identity header for a call from `from` to `to`. The upstream provider (who
    /// handed the call over) and the signer are checked against the RMD; a PASSporT seen for
    /// another call is a replay.
    pub async fn verify(&self, call: &CallToVerify<'_>) -> VerifyOutcome {
        let mut details = Map::new();
        let mut out = VerifyOutcome {
            response: VerificationResponse { verstat: Verstat::NoValidation, failure: None, details: Map::new() },
            caller_name: None,
            refuse: false,
        };
        self.verify_into(call, &mut out, &mut details).await;
        metrics::counter!("vouch_stir_verified_total", "verstat" => out.response.verstat.as_str()).increment(1);
        out.response.details = details;
        out
    }

    /// The steps of [`CallAuth::verify`], stopping at the first that decides the outcome.
    async fn verify_into(&self, call: &CallToVerify<'_>, out: &mut VerifyOutcome, details: &mut Map<String, Value>) {
        let now = self.now_secs();
        // Upstream first: traffic handed over by a provider absent from the RMD is refused
        // whatever it carries.
        if let Some(f) = self.rmd_rule(&call.upstream, "upstream", details) {
            out.refuse = true;
            out.response.failure = Some(f);
            return;
        }
        let mut opts = VerifyOptions {
            now,
            freshness: self.config.freshness,
            require_crl: false,
            orig: call.from.clone(),
            dest: call.to.clone(),
        };
        let (header, passport) = match vouch_shaken::decode_identity(call.identity, &opts) {
            Ok(x) => x,
            Err(e) => {
                out.response.verstat = e.verstat();
                out.response.failure = Some(Failure::from_shaken(&e));
                return;
            }
        };
        // A diverted call (RFC 8946, ATIS-1000085): the SHAKEN PASSporT names the first target;
        // verified div PASSporTs lead from it to where the call goes now (the Request-URI a
        // forward retargeted, else To). They are looked at only when the SHAKEN PASSporT's
        // dest is not that target.
        let now_to: Vec<Tn> = call.retarget.clone().map_or_else(|| call.to.clone(), |r| vec![r]);
        let direct = now_to.iter().any(|t| t.among(&passport.claims().dest.tn));
        let mut diversions = DiversionChain::default();
        let mut div_problem = None;
        if !call.diversions.is_empty() && !opts.dest.is_empty() && !direct {
            let (verified, problem) = self.verified_diversions(&call.diversions, &opts).await;
            div_problem = problem;
            let mut targets = call.to.clone();
            if let Some(r) = &call.retarget
                && verified.iter().any(|d| r.among(&d.to))
            {
                targets.push(r.clone());
            }
            diversions = DiversionChain::link(&targets, verified);
            opts.dest = diversions.acceptable_destinations();
        }
        let signer = match self.chain(&header.info).await {
            Ok(chain) => self.trusted_signer(&header.info, &chain, passport.claims().iat, now),
            Err(f) => {
                out.response.failure = Some(f);
                return;
            }
        };
        match signer.and_then(|s| vouch_shaken::verify_with_signer(passport, &s, &opts)) {
            Err(e) => {
                out.response.verstat = e.verstat();
                let mut failure = Failure::from_shaken(&e);
                if let (vouch_shaken::ShakenError::NumberMismatch { claim: "dest.tn", .. }, Some(why)) =
                    (&e, &div_problem)
                {
                    failure.desc = format!("{}; a div PASSporT did not verify: {why}", failure.desc);
                }
                out.response.failure = Some(failure);
            }
            Ok(v) => {
                out.response.verstat = Verstat::Passed;
                let claims = v.passport.claims();
                // The forward's path from the SHAKEN PASSporT's target to the call's, in order.
                let path = match direct {
                    true => Vec::new(),
                    false => now_to
                        .iter()
                        .chain(&call.to)
                        .flat_map(|end| claims.dest.tn.iter().map(move |d| (d, end)))
                        .map(|(d, end)| diversions.path(d, end))
                        .find(|p| !p.is_empty())
                        .unwrap_or_default(),
                };
                if !path.is_empty() {
                    metrics::counter!("vouch_stir_diverted_total").increment(1);
                    let hops: Vec<Value> = path
                        .iter()
                        .map(|d| {
                            let mut hop = Map::new();
                            hop.insert("div".into(), d.from.as_str().into());
                            hop.insert("dest".into(), d.to.iter().map(|t| Value::from(t.as_str())).collect());
                            hop.insert("spc".into(), d.spc.clone().into());
                            if let Some((id, _)) = self.registry.provider_by_spc(&d.spc) {
                                hop.insert("signer".into(), id.to_string().into());
                            }
                            let holder = self.diversion_authority(d) == DivAuthority::Holder;
                            hop.insert("holder".into(), holder.into());
                            Value::Object(hop)
                        })
                        .collect();
                    details.insert("diversions".into(), hops.into());
                }
                details.insert("attest".into(), v.attest.as_str().into());
                if let Some(o) = &claims.origid {
                    details.insert("origid".into(), o.clone().into());
                }
                details.insert("spc".into(), v.spc.clone().into());
                let signer = self.registry.provider_by_spc(&v.spc);
                match &signer {
                    Some((id, _)) => {
                        details.insert("signer".into(), id.to_string().into());
                    }
                    None => {
                        details.insert("signerRmd".into(), "unknown-spc".into());
                    }
                }
                if !v.profile_warnings.is_empty() {
                    details.insert("profileWarnings".into(), v.profile_warnings.clone().into());
                }
                // A caller name is shown as verified only when the signer vouches for the caller
                // in full (A): at B or C the signer does not know who is calling, so a name it
                // signs says nothing (vouch signs one only at A itself).
                if let Some(rcd) = &claims.rcd
                    && v.attest == Attestation::A
                {
                    out.caller_name = Some(rcd.nam.clone());
                }
                // Keyed by what was signed: an ECDSA signature has two valid forms (s and n - s).
                // The SHAKEN PASSporT presented for another call is a replay, unless this leg is
                // a forward of it by the registered holders of the numbers it was diverted from:
                // each leg of a forwarded call is its own call, and its last div PASSporT (which
                // only that leg carries) is then what must not be seen again. A div by a signer
                // the registry cannot vouch for does not make a PASSporT new: anyone with a
                // certificate could mint one per call.
                let expiry = |p: &Passport| p.claims().iat.saturating_add(self.config.freshness);
                let shaken_seen =
                    self.replay.check(v.passport.signing_input().as_bytes(), call.call_id, expiry(&v.passport), now);
                let by_holders =
                    !path.is_empty() && path.iter().all(|d| self.diversion_authority(d) == DivAuthority::Holder);
                // A leg is its last div PASSporT, not its Call-ID (which the caller chooses):
                // a new div under the same Call-ID is a new leg as much as under another. The
                // leg is remembered only once accepted, so a refused one sent again is refused
                // again.
                let seen = match path.last() {
                    None => shaken_seen,
                    Some(last) => {
                        let input = last.passport.signing_input().as_bytes();
                        let judged = match (shaken_seen, self.replay.peek(input, call.call_id, now)) {
                            (_, Seen::Replay) => Seen::Replay,
                            // This leg, accepted before for this call (a retransmission).
                            (_, Seen::SameCall) => Seen::SameCall,
                            // The PASSporT's first presentation.
                            (Seen::First, _) => Seen::First,
                            // A new leg of a PASSporT presented before: a holder may forward a
                            // call it received (find-me, hunt groups) on at most
                            // MAX_FORWARDED_LEGS legs; anyone else's div makes nothing new.
                            (Seen::Replay | Seen::SameCall, _) if by_holders => {
                                let digest = vouch_callauth::atis::hex_digest(input);
                                let expires = expiry(&v.passport);
                                self.take_slot(&v.passport, "forwarded-leg", MAX_FORWARDED_LEGS, &digest, expires, now)
                            }
                            (Seen::Replay | Seen::SameCall, _) => Seen::Replay,
                            (Seen::Full, _) => Seen::Full,
                        };
                        match judged {
                            Seen::Replay => Seen::Replay,
                            // Recorded now; one presented meanwhile for another call wins.
                            ok => worst(ok, self.replay.check(input, call.call_id, expiry(&last.passport), now)),
                        }
                    }
                };
                match seen {
                    Seen::Replay => {
                        metrics::counter!("vouch_stir_replays_total").increment(1);
                        details.insert("replay".into(), true.into());
                        if self.config.replay == Enforcement::Block {
                            out.response.verstat = Verstat::Failed;
                            out.response.failure = Some(Failure {
                                case: "REPLAY",
                                code: 438,
                                text: "Invalid Identity Header",
                                desc: "this PASSporT was already presented for another call".into(),
                            });
                            out.caller_name = None;
                        }
                    }
                    Seen::Full => {
                        metrics::counter!("vouch_stir_replay_cache_full_total").increment(1);
                    }
                    Seen::First | Seen::SameCall => {}
                }
                if out.response.failure.is_none()
                    && let Some((id, _)) = signer
                    && let Some(f) = self.rmd_rule(&Upstream::Provider(id), "signer", details)
                {
                    out.refuse = true;
                    out.response.failure = Some(f);
                    out.caller_name = None;
                }
                // Only a PASSporT that passes gives a caller name.
                if let Some(name) = &out.caller_name {
                    details.insert("callerName".into(), name.clone().into());
                }
            }
        }
    }

    /// The div PASSporTs of `headers` (at most [`MAX_DIVERSIONS`]) that verify, each with its
    /// own signer's chain (fetched at once), fresh, and for the call's caller; and the first
    /// failure of those that do not.
    async fn verified_diversions(&self, headers: &[&str], opts: &VerifyOptions) -> (Vec<Diversion>, Option<String>) {
        let decoded: Vec<_> =
            headers.iter().take(MAX_DIVERSIONS).map(|h| vouch_shaken::decode_div_identity(h, opts)).collect();
        self.prefetch_chains(decoded.iter().filter_map(|d| d.as_ref().ok()).map(|(h, _)| h.info.as_str())).await;
        let mut verified = Vec::new();
        let mut problem = None;
        for d in decoded {
            let result = match d {
                Err(e) => Err(e.to_string()),
                Ok((header, passport)) => self
                    .validated_signer(&header.info, passport.claims().iat, opts.now)
                    .await
                    .and_then(|s| vouch_shaken::verify_div_with_signer(passport, &s, opts).map_err(|e| e.to_string())),
            };
            // SHAKEN certificates name a provider, not numbers: that the signer may divert the
            // number is the registry's word. A number it knows to be another provider's is
            // not this signer's to divert (a provider replaying someone's PASSporT to a number
            // of its choosing within the freshness window would otherwise pass).
            let result = result.and_then(|d| match self.diversion_authority(&d) {
                DivAuthority::Other => Err(format!(
                    "the registry holds {} for another provider than the div's signer (SPC {}), or it is suspended",
                    d.from, d.spc
                )),
                DivAuthority::Holder | DivAuthority::Unknown => Ok(d),
            });
            match result {
                Ok(d) => verified.push(d),
                Err(e) => {
                    problem.get_or_insert(e);
                }
            }
        }
        (verified, problem)
    }

    /// Takes one of the `slots` numbered places named `label` that a SHAKEN PASSporT has in
    /// the replay cache (shared between nodes like any presentation) for `holder`: `First` or
    /// `SameCall` when one was free (or `holder` had one already), `Replay` when all are
    /// others'. Bounds what one PASSporT may be used for: forwarded legs taken on, forwards
    /// signed.
    fn take_slot(&self, shaken: &Passport, label: &str, slots: usize, holder: &str, expires: i64, now: i64) -> Seen {
        let mut key = shaken.signing_input().as_bytes().to_vec();
        key.push(b'#');
        key.extend_from_slice(label.as_bytes());
        key.push(b'-');
        let base = key.len();
        for slot in 0..slots {
            key.truncate(base);
            key.extend_from_slice(slot.to_string().as_bytes());
            match self.replay.check(&key, Some(holder), expires, now) {
                Seen::Replay => continue,
                other => return other,
            }
        }
        Seen::Replay
    }

    /// What the registry says of a verified diversion's signer and its `div` number.
    fn diversion_authority(&self, d: &Diversion) -> DivAuthority {
        match self.registry.provider_by_spc(&d.spc) {
            Some((signer, _)) => self.voice_holding(&d.from, signer),
            None => match claim_number(&d.from).and_then(|n| self.block_of(n)) {
                Some(_) => DivAuthority::Other,
                None => DivAuthority::Unknown,
            },
        }
    }

    /// Whether `provider` holds `tn` for voice: a number block of its own (the numbers an
    /// administrator registered for it; a 10DLC campaign says who texts from a number, not
    /// who carries its calls), not suspended.
    fn voice_holding(&self, tn: &Tn, provider: ProviderId) -> DivAuthority {
        let Some(n) = claim_number(tn) else { return DivAuthority::Unknown };
        match self.block_of(n) {
            None => DivAuthority::Unknown,
            Some(b) if b.provider == provider && !self.registry.number_suspended(n) => DivAuthority::Holder,
            Some(_) => DivAuthority::Other,
        }
    }

    /// The number block holding `n`, if any.
    fn block_of(&self, n: TelephoneNumber) -> Option<Block> {
        let st = self.state();
        st.blocks.range(..=n.digits()).next_back().filter(|(_, b)| b.last >= n.digits()).map(|(_, b)| b.clone())
    }

    /// Applies the RMD rule to a provider: the failure to refuse with (policy block), or
    /// `None` (listed, flagged, or no snapshot). Notes the standing in `details`.
    fn rmd_rule(&self, who: &Upstream, role: &str, details: &mut Map<String, Value>) -> Option<Failure> {
        let (label, frn) = match who {
            Upstream::None => return None,
            Upstream::Frn(f) => (format!("FRN {f}"), Some(f.clone())),
            Upstream::Provider(id) => {
                let frn = self.registry.provider_frn(*id);
                (format!("provider {id}"), frn)
            }
        };
        let listed = match &frn {
            Some(f) => self.rmd_listed(f)?,
            None => self.state().rmd.as_ref().map(|_| false)?,
        };
        details.insert(format!("{role}Rmd"), if listed { "listed" } else { "absent" }.into());
        if listed {
            return None;
        }
        metrics::counter!("vouch_stir_rmd_absent_total", "role" => role.to_owned()).increment(1);
        let desc = format!(
            "the {role} ({label}{}) is not in the Robocall Mitigation Database; 47 CFR 64.6305(g) requires refusing its traffic",
            frn.as_ref().map(|_| String::new()).unwrap_or_else(|| ", no FRN registered".into())
        );
        match self.config.rmd {
            Enforcement::Block => Some(Failure { case: "RMD", code: 603, text: "Decline", desc }),
            Enforcement::Flag => {
                // Both the upstream and the signer may be absent: keep both.
                let flag = match details.get("rmdFlag").and_then(Value::as_str) {
                    Some(earlier) => format!("{earlier}; {desc}"),
                    None => desc,
                };
                details.insert("rmdFlag".into(), flag.into());
                None
            }
        }
    }

    // ---- SIP -----------------------------------------------------------------------------

    /// The peer a source address belongs to: (provider, customer brand).
    /// Whether `addr` is a registered SIP peer (the TCP listener serves only peers).
    pub fn is_peer(&self, addr: IpAddr) -> bool {
        self.peer_of(addr).is_some()
    }

    fn peer_of(&self, addr: IpAddr) -> Option<PeerOf> {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        self.state().peers.iter().find(|p| p.net.contains(&addr)).map(|p| PeerOf {
            provider: p.provider,
            brand: p.brand,
            tdm: p.tdm,
            verify_only: p.verify_only,
        })
    }

    /// Answers one SIP message from `source` (stateless): `None` when nothing is to be sent
    /// (responses, ACK, CANCEL, bytes that cannot be answered). The topmost Via records the
    /// source (`received`, `rport`); [`SipAnswer::to`] is where a UDP answer goes.
    pub async fn handle_sip(&self, source: SocketAddr, bytes: &[u8]) -> Option<SipAnswer> {
        let mut req = match SipMessage::parse(bytes) {
            Ok(m) => m,
            Err(e) => return self.refuse_unparsed(source, bytes, &e),
        };
        let method = match &req.start {
            StartLine::Request { method, .. } => method.clone(),
            StartLine::Response { .. } => return None,
        };
        if let Err(e) = req.check_request() {
            return self.refuse_unparsed(source, bytes, &e);
        }
        req.stamp_via(source);
        metrics::counter!("vouch_sip_requests_total", "method" => sip_method_label(&method)).increment(1);
        let resp = match method.as_str() {
            // RFC 3261 section 8.2.7: a stateless UAS sends nothing for ACK and ignores CANCEL.
            "ACK" | "CANCEL" => return None,
            "OPTIONS" | "INVITE" => match sip_header_checks(&req) {
                Some(refusal) => refusal,
                None if method == "OPTIONS" => {
                    Response::new(200, "OK").with("Allow", SIP_ALLOW).with("Accept", "application/sdp")
                }
                None => match self.peer_of(source.ip()) {
                    None => Response::new(403, "Forbidden").with(
                        "Reason",
                        format!(
                            "SIP;cause=403;text={}",
                            redirect::quoted(&format!("{} is not a registered SIP peer", source.ip()))
                        ),
                    ),
                    Some(peer) => {
                        // A retransmission gets the first answer again (see RecentAnswers).
                        let key = (self.to_tag(&req), source);
                        match self.recent_invites.begin(&key, self.now_secs()) {
                            Recency::Answered(bytes) => {
                                metrics::counter!("vouch_sip_retransmissions_total", "answer" => "again").increment(1);
                                return Some(SipAnswer { bytes: bytes.to_vec(), to: req.reply_address(source) });
                            }
                            Recency::InProgress => {
                                metrics::counter!("vouch_sip_retransmissions_total", "answer" => "dropped")
                                    .increment(1);
                                return None;
                            }
                            Recency::New => {}
                        }
                        let resp = self.invite(peer, &req).await;
                        let answer = self.sip_answer_tagged(resp, &req, source, &key.0);
                        self.recent_invites.put(key, Arc::from(answer.bytes.as_slice()), self.now_secs());
                        return Some(answer);
                    }
                },
            },
            m if SIP_METHODS.contains(&m) => Response::new(405, "Method Not Allowed").with("Allow", SIP_ALLOW),
            _ => Response::new(501, "Not Implemented").with("Allow", SIP_ALLOW),
        };
        Some(self.sip_answer(resp, &req, source))
    }

    /// The answer to bytes from `source` that are not a usable request (`error` says why):
    /// `505` for another SIP version, else `400` with a Warning, when the head has what a
    /// response needs (every Via, From, To, Call-ID, CSeq); `None` otherwise, and for an ACK.
    /// Also for a stream that cannot be framed (no Content-Length over TCP).
    pub fn refuse_unparsed(&self, source: SocketAddr, bytes: &[u8], error: &SipError) -> Option<SipAnswer> {
        metrics::counter!("vouch_sip_malformed_total").increment(1);
        let mut m = vouch_sip::salvage_request(bytes)?;
        // Nothing for ACK, and CANCEL is ignored however it is written (section 8.2.7).
        if matches!(m.method(), Some("ACK" | "CANCEL")) {
            return None;
        }
        m.stamp_via(source);
        let resp = match error {
            SipError::Version(_) => {
                Response::new(505, "Version Not Supported").with("Warning", sip_warning(&error.to_string()))
            }
            _ => bad_request(&error.to_string()),
        };
        Some(self.sip_answer(resp, &m, source))
    }

    /// `resp` as sent to `req` (a Via-stamped request from `source`), counted.
    fn sip_answer(&self, resp: Response, req: &SipMessage, source: SocketAddr) -> SipAnswer {
        self.sip_answer_tagged(resp, req, source, &self.to_tag(req))
    }

    /// [`CallAuth::sip_answer`] with the To tag already made.
    fn sip_answer_tagged(&self, resp: Response, req: &SipMessage, source: SocketAddr, tag: &str) -> SipAnswer {
        metrics::counter!("vouch_sip_responses_total", "code" => resp.code.to_string()).increment(1);
        SipAnswer { bytes: resp.to_request(req, tag), to: req.reply_address(source) }
    }

    /// The To tag of a response: the same for the same request, retransmissions included and
    /// on any node of the store, as a stateless server must make it (RFC 3261 section 8.2.7);
    /// unpredictable to others (a keyed MAC of Call-ID, CSeq, From tag and Via branch).
    fn to_tag(&self, req: &SipMessage) -> String {
        let param = |header: &str, name: &str| {
            req.header(header).and_then(|v| vouch_sip::header_param(v, name)).flatten().unwrap_or_default()
        };
        let mut mac = aws_lc_rs::hmac::Context::with_key(&self.sip_tags);
        for part in [
            req.header("Call-ID").unwrap_or_default(),
            req.header("CSeq").unwrap_or_default(),
            param("From", "tag"),
            param("Via", "branch"),
        ] {
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part.as_bytes());
        }
        format!("vouch{}", hex(&mac.sign().as_ref()[..8]))
    }

    /// The answer to an INVITE from a registered peer: (provider, the brand of a customer
    /// trunk, whether a TDM gateway).
    async fn invite(&self, peer: PeerOf, req: &SipMessage) -> Response {
        let PeerOf { provider, brand, tdm, verify_only } = peer;
        let from =
            req.header("P-Asserted-Identity").or_else(|| req.header("From")).and_then(vouch_sip::telephone_number);
        let to = req.header("To").and_then(vouch_sip::telephone_number).or_else(|| match &req.start {
            StartLine::Request { uri, .. } => vouch_sip::telephone_number(uri),
            StartLine::Response { .. } => None,
        });
        let from = from.and_then(|d| Tn::from_canonical(&d).ok());
        let to = to.and_then(|d| Tn::from_canonical(&d).ok());
        // Where the request goes now: a forwarding provider retargets by the Request-URI.
        let target = match &req.start {
            StartLine::Request { uri, .. } => {
                vouch_sip::telephone_number(uri).and_then(|d| Tn::from_canonical(&d).ok())
            }
            StartLine::Response { .. } => None,
        };
        let identities: Vec<&str> = req.headers_named("Identity").collect();
        if identities.is_empty() && tdm {
            return self.verify_out_of_band(provider, req, from, to).await;
        }
        if identities.is_empty() && verify_only {
            // A terminating SBC asking about a call that came unsigned: nothing to verify, and
            // not this provider's call to sign.
            return self.unsigned_answer(req);
        }
        if identities.is_empty() {
            return self.sign_invite(provider, brand, req, from, to).await;
        }
        if let Some(answer) =
            self.sign_diversion(peer, req, &identities, target.as_ref().or(to.as_ref()), from.as_ref()).await
        {
            return answer;
        }
        // The diversion headers (RFC 8946), in order, for a call forwarded on the way here.
        // (One header alone is the SHAKEN one, or nothing to follow.)
        let diversions = if identities.len() > 1 { of_type(&identities, PPT_DIV, MAX_DIVERSIONS) } else { Vec::new() };
        // The SHAKEN ones among several (div, rcd…), at most MAX_SHAKEN_IDENTITIES, in order:
        // the first that verifies decides (RFC 9410 section 5: one with an error does not fail
        // the call when another verifies); when none does, the first one's failure is
        // reported. No SHAKEN one: the first, to report why it fails. One header (the usual
        // case) is parsed once, by the verification itself.
        let candidates: Vec<&str> = match identities.as_slice() {
            [one] => vec![*one],
            several => {
                let shaken = of_type(several, PPT_SHAKEN, MAX_SHAKEN_IDENTITIES);
                if shaken.is_empty() { vec![several[0]] } else { shaken }
            }
        };
        let Some(from_tn) = from else {
            return bad_request("the calling party (P-Asserted-Identity or From) is not a telephone number");
        };
        // Several headers: their certificate chains are fetched at once, so that an INVITE
        // whose first headers point at slow or dead repositories waits for one fetch budget,
        // not one per header. The verification below then reads them from the cache, in order.
        if candidates.len() + diversions.len() > 1 {
            let headers: Vec<IdentityHeader> =
                candidates.iter().chain(&diversions).filter_map(|v| IdentityHeader::parse(v).ok()).collect();
            self.prefetch_chains(headers.iter().map(|h| h.info.as_str())).await;
        }
        let mut first: Option<VerifyOutcome> = None;
        for identity in candidates {
            let call = CallToVerify {
                identity,
                from: Some(from_tn.clone()),
                to: to.iter().cloned().collect(),
                call_id: req.header("Call-ID"),
                upstream: Upstream::Provider(provider),
                diversions: diversions.clone(),
                retarget: target.clone().filter(|t| !to.as_ref().is_some_and(|to| to.same_number(t))),
            };
            let outcome = self.verify(&call).await;
            // Passed, or refused by the RMD rule (which no other header changes).
            if outcome.response.failure.is_none() || outcome.refuse {
                return self.answer(req, &outcome);
            }
            first.get_or_insert(outcome);
        }
        match first {
            Some(outcome) => self.answer(req, &outcome),
            None => bad_request("no Identity header to verify"),
        }
    }

    /// The redirect server's answer to a verified INVITE. A call the RMD rule only flags
    /// (`--rmd-policy flag`) is passed on with `Warning: 399 vouch "RMD flag: …"` on the 302.
    fn answer(&self, req: &SipMessage, outcome: &VerifyOutcome) -> Response {
        let failure = outcome.response.failure.as_ref();
        let resp = match failure {
            Some(f) if outcome.refuse || self.config.on_failure == FailurePolicy::Reject => redirect::refused(f),
            _ => redirect::verified(req, outcome.response.verstat, outcome.caller_name.as_deref(), failure),
        };
        match outcome.response.details.get("rmdFlag").and_then(Value::as_str) {
            Some(flag) => resp.with("Warning", sip_warning(&format!("RMD flag: {flag}"))),
            None => resp,
        }
    }

    /// An INVITE from a TDM gateway arrives without Identity: the PASSporTs published to this
    /// node's Call Placement Service for the call (under the gateway's provider's SPC) are
    /// verified as if they had come in the INVITE. One that fails (junk, the PASSporT of an
    /// earlier call between the same numbers) is not the call's. Of those that verify, one
    /// signer's newest decides; PASSporTs of several signers make the call ambiguous
    /// ([`vouch_cps::verdict`]): no caller name, and the weakest attestation decides. Without
    /// one that verifies, or with sealed ones only (privacy mode: the provider opens those
    /// itself), the call goes on with No-TN-Validation.
    ///
    /// The work is bounded by what a record holds: at most 40 items (10 of each of 4
    /// publishers), each distinct one verified once, their chains fetched at once (a publish
    /// fetched them already, so they are usually cached) and validated once per chain.
    async fn verify_out_of_band(
        &self,
        provider: ProviderId,
        req: &SipMessage,
        from: Option<Tn>,
        to: Option<Tn>,
    ) -> Response {
        let (Some(orig), Some(dest)) = (from, to) else {
            return bad_request(
                "the calling (P-Asserted-Identity or From) and called (To) parties must be telephone numbers",
            );
        };
        let spc = self.registry.provider_row(provider).and_then(|r| r.registration.spc);
        let cps = self.cps.get().and_then(std::sync::Weak::upgrade);
        let held = match (&cps, &spc) {
            (Some(cps), Some(spc)) => cps.held(spc.as_str(), &dest, &orig),
            _ => Vec::new(),
        };
        let passports = Self::out_of_band_passports(&held);
        self.prefetch_chains(passports.iter().map(|p| p.header().x5u.as_str())).await;
        let tried = passports.len();
        // Each verified, newest first: (signer's SPC, attestation, outcome).
        let mut verified: Vec<(String, Attestation, VerifyOutcome)> = Vec::new();
        for passport in passports {
            let identity = format!("{};info=<{}>;alg=ES256;ppt=shaken", passport.as_str(), passport.header().x5u);
            let call = CallToVerify {
                identity: &identity,
                from: Some(orig.clone()),
                to: vec![dest.clone()],
                call_id: req.header("Call-ID"),
                upstream: Upstream::None,
                diversions: Vec::new(),
                retarget: None,
            };
            let outcome = self.verify(&call).await;
            // A PASSporT that verified but whose signer the RMD rule refuses is the signer's.
            if outcome.response.verstat == Verstat::Passed && (outcome.response.failure.is_none() || outcome.refuse) {
                let details = &outcome.response.details;
                let signer = details.get("spc").and_then(Value::as_str).unwrap_or_default().to_owned();
                let attest = details.get("attest").and_then(Value::as_str).and_then(|a| a.parse().ok());
                if let Some(attest) = attest {
                    verified.push((signer, attest, outcome));
                }
            }
        }
        let candidates: Vec<vouch_cps::verdict::Candidate<'_>> = verified
            .iter()
            .map(|(signer, attest, outcome)| vouch_cps::verdict::Candidate {
                signer,
                attest: *attest,
                refused: outcome.refuse,
            })
            .collect();
        let Some(verdict) = vouch_cps::verdict::decide(&candidates) else {
            metrics::counter!("vouch_cps_sip_lookups_total", "found" => if tried == 0 { "none" } else { "failed" })
                .increment(1);
            return redirect::verified(req, Verstat::NoValidation, None, None);
        };
        let mut outcome = verified.swap_remove(verdict.index).2;
        if verdict.ambiguous {
            // Several signers vouch for the call: none of their caller names is shown.
            outcome.caller_name = None;
            outcome.response.details.remove("callerName");
            outcome.response.details.insert("ambiguous".into(), true.into());
        }
        let found = if verdict.ambiguous { "ambiguous" } else { "verified" };
        metrics::counter!("vouch_cps_sip_lookups_total", "found" => found).increment(1);
        self.answer(req, &outcome)
    }

    /// The PASSporTs among the items a CPS holds for a call, newest first, each distinct one once
    /// (a publisher's re-publish, a gateway forwarding what the originating provider published):
    /// sealed items and what does not decode are left out.
    fn out_of_band_passports(held: &[String]) -> Vec<vouch_shaken::Passport> {
        let mut seen = std::collections::HashSet::new();
        held.iter()
            .rev()
            .filter(|p| seen.insert(p.as_str()))
            .filter_map(|p| vouch_shaken::Passport::decode(p).ok())
            .collect()
    }

    /// Connects the Call Placement Service whose records INVITEs from TDM gateways are
    /// verified with.
    pub fn attach_cps(&self, cps: &Arc<crate::Cps>) {
        let _ = self.cps.set(Arc::downgrade(cps));
    }

    /// The answer to an INVITE without Identity that vouch does not sign: 428 with
    /// `--require-identity`, else a 302 marked `verstat=No-TN-Validation`.
    fn unsigned_answer(&self, req: &SipMessage) -> Response {
        if self.config.require_identity {
            Response::new(428, "Use Identity Header")
        } else {
            redirect::verified(req, Verstat::NoValidation, None, None)
        }
    }

    /// Signs a diversion (RFC 8946, ATIS-1000085) when a provider forwards a signed call: the
    /// INVITE comes from one of the provider's own SBCs (not a customer trunk, not a TDM
    /// gateway), says it was retargeted (a Diversion, RFC 5806, or History-Info, RFC 7044,
    /// entry naming the number it was sent to), carries the call's SHAKEN PASSporT, which
    /// verifies for the caller (and the div ones of earlier forwards, followed when they
    /// verify), its Request-URI is an E.164 number the call was not yet sent to, and the
    /// number it was last sent to is one of the provider's number blocks. Only the holder of
    /// a number diverts its calls. The answer is a 302 carrying the new `ppt=div` Identity
    /// header, which the SBC adds to those the call has. `None`: not a forward of this
    /// provider's, to be verified.
    async fn sign_diversion(
        &self,
        peer: PeerOf,
        req: &SipMessage,
        identities: &[&str],
        target: Option<&Tn>,
        caller: Option<&Tn>,
    ) -> Option<Response> {
        if peer.verify_only || peer.tdm || peer.brand.is_some() {
            return None;
        }
        // Evidence of a retarget first: ordinary calls stop here, before any decoding.
        let retargeted_from: Vec<Tn> = ["Diversion", "History-Info"]
            .iter()
            .flat_map(|name| req.headers_named(name))
            .flat_map(|v| v.split(','))
            .filter_map(vouch_sip::telephone_number)
            .filter_map(|d| Tn::from_canonical(&d).ok())
            .take(32)
            .collect();
        if retargeted_from.is_empty() {
            return None;
        }
        let target = target?;
        let shaken = of_type(identities, PPT_SHAKEN, 1).into_iter().next()?;
        let divs = of_type(identities, PPT_DIV, MAX_DIVERSIONS);
        let forward = Forward { identity: shaken, diversions: &divs, caller, target, from: &retargeted_from };
        match self.sign_forward(peer.provider, &forward).await {
            Ok(s) => Some(redirect::signed(req, &s.identity)),
            Err(e) => {
                // Not a forward vouch signs (not verified, not held, already sent there, no
                // budget left, no certificate): the call is verified as it stands.
                tracing::debug!(error = %e, provider = %peer.provider, "no diversion signed");
                None
            }
        }
    }

    /// Signs a forward's div PASSporT (RFC 8946) for `provider`, over the call's SHAKEN
    /// PASSporT, which must verify (chain, signature, freshness, and `orig` the caller when
    /// known); earlier div PASSporTs count when they verify. The number diverted from must be
    /// where the call was last sent (the SHAKEN `dest`, followed through those divs), one of
    /// `forward.from`, and in one of the provider's number blocks (only the holder of a
    /// number diverts its calls); the target must be an E.164 number the call was not sent to.
    /// One PASSporT is forwarded at most [`MAX_FORWARDS_SIGNED`] times (to as many targets;
    /// asking again for the same target is answered again), counted in the replay cache that
    /// nodes share: a holder that received one PASSporT cannot fan it out to any number of
    /// victims. Recorded under the call's `origid` (when a UUID) with attest `div`.
    pub async fn sign_forward(
        &self,
        provider: ProviderId,
        forward: &Forward<'_>,
    ) -> Result<DivSigningResponse, ServiceError> {
        let target = forward.target;
        if !is_e164(target) {
            return Err(invalid("dest.tn", format!("{target} is not an E.164 number to forward to")));
        }
        let not_held = || {
            invalid(
                "div.tn",
                format!(
                    "the call was not last sent to that number, or it is not in one of provider {provider}'s blocks: only a number's holder diverts its calls"
                ),
            )
        };
        // The registry first (cheap): a call diverted upstream, from a number this provider
        // does not hold, is not its forward; no signature is checked for it here.
        if !forward.from.iter().any(|f| self.voice_holding(f, provider) == DivAuthority::Holder) {
            return Err(not_held());
        }
        let now = self.now_secs();
        let opts = VerifyOptions {
            now,
            freshness: self.config.freshness,
            require_crl: false,
            orig: forward.caller.cloned(),
            dest: Vec::new(),
        };
        let refused = |e: &dyn std::fmt::Display| invalid("identity", format!("the call's SHAKEN PASSporT: {e}"));
        let (header, shaken) = vouch_shaken::decode_identity(forward.identity, &opts).map_err(|e| refused(&e))?;
        let signer = self.validated_signer(&header.info, shaken.claims().iat, now).await.map_err(|e| refused(&e))?;
        let shaken = vouch_shaken::verify_with_signer(shaken, &signer, &opts).map_err(|e| refused(&e))?.passport;
        let Origin::Tn(orig) = shaken.claims().orig.clone() else {
            return Err(refused(&"orig is not a telephone number"));
        };
        let (divs, _) = self.verified_diversions(forward.diversions, &opts).await;
        let last = vouch_shaken::last_sent(&shaken.claims().dest.tn, &divs);
        if target.among(&last) {
            return Err(invalid("dest.tn", format!("the call was sent to {target} already")));
        }
        let from = last
            .into_iter()
            .find(|d| d.among(forward.from) && self.voice_holding(d, provider) == DivAuthority::Holder)
            .ok_or_else(not_held)?;
        let cred = self.signing_credential(provider, now)?;
        // The budget: one slot per target, MAX_FORWARDS_SIGNED of them per PASSporT.
        let expires = shaken.claims().iat.saturating_add(self.config.freshness);
        let asker = format!("{provider}>{target}");
        let slot = self.take_slot(&shaken, "forward-signed", MAX_FORWARDS_SIGNED, &asker, expires, now);
        if matches!(slot, Seen::Replay) {
            metrics::counter!("vouch_stir_forwards_refused_total").increment(1);
            return Err(ServiceError::Forbidden(format!(
                "this PASSporT was forwarded to {MAX_FORWARDS_SIGNED} other numbers already"
            )));
        }
        let claims = Claims {
            attest: None,
            dest: Destination { tn: vec![target.clone()], uri: Vec::new() },
            iat: now,
            orig: Origin::Tn(orig.clone()),
            origid: None,
            rcd: None,
            crn: None,
            div: Some(Origin::Tn(from.clone())),
        };
        let header = PassportHeader { ppt: Some(PPT_DIV.into()), x5u: cred.x5u.clone() };
        let token =
            cred.key.sign(&header, &claims).map_err(|e| ServiceError::invalid("signingRequest", e.to_string()))?;
        let identity = IdentityHeader::div(token, cred.x5u.clone()).to_string();
        // Recorded under the call's origid: a traceback from the original call finds the
        // forward, who made it and where it went.
        let origid = shaken
            .claims()
            .origid
            .as_deref()
            .filter(|o| vouch_callauth::atis::is_uuid(o))
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| self.new_origid());
        self.recorder
            .record(SignedCall {
                origid: origid.clone(),
                provider_id: provider,
                brand_id: None,
                campaign_id: None,
                orig: orig.as_str().to_owned(),
                dest: target.as_str().to_owned(),
                attest: "div".into(),
                iat: now,
                created: self.registry.now(),
            })
            .await;
        metrics::counter!("vouch_stir_diversions_signed_total").increment(1);
        tracing::debug!(%provider, %from, %target, "signed a diversion");
        Ok(DivSigningResponse { identity, origid })
    }

    /// A signing request's `iat` must be within the freshness window of the signer's clock.
    fn check_iat(&self, iat: i64, now: i64) -> Result<(), ServiceError> {
        if iat.saturating_sub(now).saturating_abs() > self.config.freshness {
            return Err(invalid(
                "iat",
                format!("{iat} is more than {} s from the signer's clock ({now})", self.config.freshness),
            ));
        }
        Ok(())
    }

    /// A new origid: a UUIDv7, which sorts by time, so the store's origid index grows at its end.
    fn new_origid(&self) -> String {
        let unix_ms = u64::try_from(self.registry.now().as_millisecond()).unwrap_or(0);
        uuid_v7(unix_ms, rand::random())
    }

    async fn sign_invite(
        &self,
        provider: ProviderId,
        brand: Option<BrandId>,
        req: &SipMessage,
        from: Option<Tn>,
        to: Option<Tn>,
    ) -> Response {
        // No certificate, or one that expired or was revoked: as if the provider could not sign.
        let now = self.now_secs();
        let cred = match self.signing_credential(provider, now) {
            Ok(cred) => cred,
            Err(e) => {
                tracing::debug!(error = %e, %provider, "cannot sign an INVITE");
                return self.unsigned_answer(req);
            }
        };
        let (Some(orig), Some(dest)) = (from, to) else {
            return bad_request(
                "the calling (P-Asserted-Identity or From) and called (To) parties must be telephone numbers to sign",
            );
        };
        match self.sign_with(cred, provider, Attestation::A, orig, vec![dest], now, None, brand).await {
            Ok(s) => redirect::signed(req, &s.identity),
            Err(e) => {
                tracing::warn!(error = %e, %provider, "cannot sign an INVITE");
                Response::new(500, "Server Internal Error")
                    .with("Reason", format!("SIP;cause=500;text={}", redirect::quoted(&e.to_string())))
            }
        }
    }
}

/// How many forwards vouch signs over one SHAKEN PASSporT (to as many targets).
const MAX_FORWARDS_SIGNED: usize = 5;

/// A forward to sign ([`CallAuth::sign_forward`]).
#[derive(Debug, Clone, Copy)]
pub struct Forward<'a> {
    /// The call's SHAKEN Identity header value.
    pub identity: &'a str,
    /// The div Identity header values of earlier forwards.
    pub diversions: &'a [&'a str],
    /// The call's calling number (P-Asserted-Identity or From), when known: the PASSporT's
    /// `orig` must be it.
    pub caller: Option<&'a Tn>,
    /// The new target.
    pub target: &'a Tn,
    /// The numbers the forwarder says the call was diverted from (Diversion, History-Info, or
    /// the request's `div.tn`).
    pub from: &'a [Tn],
}

/// Whether `tn` is a number a call can be forwarded to: E.164, 8 to 15 digits not starting
/// with 0; a +1 number is 11 digits with area code and exchange starting 2 to 9. (Requests
/// are canonical by now: a national ten-digit number was given its 1 as it was parsed.)
fn is_e164(tn: &Tn) -> bool {
    let d = tn.as_str().as_bytes();
    if !(8..=15).contains(&d.len()) || d[0] == b'0' || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    d[0] != b'1' || (d.len() == 11 && (b'2'..=b'9').contains(&d[1]) && (b'2'..=b'9').contains(&d[4]))
}

/// How many forwarded legs one SHAKEN PASSporT may have besides its first call, when every
/// forward is by the registered holder of the number it diverted.
const MAX_FORWARDED_LEGS: usize = 8;

/// Of two replay-cache answers, the one that decides: a replay, else a full cache, else the
/// first.
fn worst(a: Seen, b: Seen) -> Seen {
    match (a, b) {
        (Seen::Replay, _) | (_, Seen::Replay) => Seen::Replay,
        (Seen::Full, _) | (_, Seen::Full) => Seen::Full,
        (first, _) => first,
    }
}

/// What the registry says of who may divert a number ([`CallAuth::diversion_authority`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DivAuthority {
    /// The signer holds the number (a number block of its own, not suspended).
    Holder,
    /// The registry knows no holder of the number.
    Unknown,
    /// Another provider holds it, or it is suspended.
    Other,
}

/// Who handed a call over to the verifying provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// Not known.
    None,
    /// A provider registered with vouch.
    Provider(ProviderId),
    /// A provider named by FRN only.
    Frn(Frn),
}

/// A call whose Identity header is to be verified.
#[derive(Debug, Clone)]
pub struct CallToVerify<'a> {
    /// The Identity header value.
    pub identity: &'a str,
    /// The call's calling number.
    pub from: Option<Tn>,
    /// The call's called numbers (one over SIP; an ATIS-1000082 request may list several):
    /// the PASSporT's `dest` must hold one of them. Empty: not compared.
    pub to: Vec<Tn>,
    /// The call's id (SIP Call-ID), for replay detection.
    pub call_id: Option<&'a str>,
    /// The call's diversion Identity headers (RFC 8946, `ppt=div`), which lead from the SHAKEN
    /// PASSporT's `dest` to `to` when the call was forwarded; only the first
    /// [`MAX_DIVERSIONS`] are read.
    pub diversions: Vec<&'a str>,
    /// Where the call is being sent when that is not `to` (SIP retargets by the
    /// Request-URI and leaves To alone): the last diversion may lead there.
    pub retarget: Option<Tn>,
    /// Who handed the call over.
    pub upstream: Upstream,
}

/// Who signed a PASSporT ([`CallAuth::signer_of`]).
#[derive(Debug, Clone, Default)]
pub struct SignerFacts {
    /// The SPC of the signing certificate's TNAuthList.
    pub spc: Option<String>,
    /// Hex SHA-256 of the signing certificate.
    pub fingerprint: Option<String>,
    /// The provider registered with that SPC.
    pub provider: Option<ProviderId>,
    /// The `certificate.registered` event, when the certificate was registered with vouch.
    pub certificate_event: Option<u64>,
    /// Whether the chain reached a trust anchor and the signature verified (at the `iat`).
    pub verified: bool,
    /// Why not, or what could not be learned.
    pub problem: Option<String>,
}

/// What verification concluded.
#[derive(Debug, Clone)]
pub struct VerifyOutcome {
    /// The ATIS-1000082 verification response.
    pub response: VerificationResponse,
    /// The verified caller name (`rcd.nam`) to display.
    pub caller_name: Option<String>,
    /// The call must be refused whatever the failure policy (the RMD rule).
    pub refuse: bool,
}

/// The first `max` of the Identity header values whose `ppt` parameter is `ppt`, in order.
fn of_type<'a>(identities: &[&'a str], ppt: &str, max: usize) -> Vec<&'a str> {
    identities
        .iter()
        .filter(|v| IdentityHeader::parse(v).is_ok_and(|h| h.ppt.as_deref() == Some(ppt)))
        .take(max)
        .copied()
        .collect()
}

fn install_peer(st: &mut VoiceState, p: &SipPeerRow) {
    let Ok(net) = p.address.parse::<IpNet>() else {
        tracing::warn!(address = %p.address, "a stored SIP peer does not parse; skipped");
        return;
    };
    st.peers.retain(|x| x.net != net);
    st.peers.push(Peer { net, provider: p.provider_id, brand: p.brand_id, tdm: p.tdm, verify_only: p.verify_only });
    st.peers.sort_by_key(|x| std::cmp::Reverse(x.net.prefix_len()));
}

/// The rules of `x5u` every verifier applies whatever its network (docs/X5U.md): an
/// absolute `https` URL with a host, without userinfo, query or fragment, of at most 2048
/// bytes; any other is refused everywhere (ATIS-1000082 E8). Which addresses and ports a
/// verifier reaches is its own policy, so every network is allowed here.
fn check_x5u(u: &str) -> Result<(), ServiceError> {
    if u.contains(char::is_whitespace) {
        return Err(invalid("x5u", "must be an https URL without white space"));
    }
    // 0.0.0.0/0 and ::/0.
    let anywhere = FetchPolicy {
        allow: vec![IpNet::V4(ipnet::Ipv4Net::default()), IpNet::V6(ipnet::Ipv6Net::default())],
        ..FetchPolicy::default()
    };
    vouch_certfetch::check_x5u_url(u, &anywhere)
        .map(|_| ())
        .map_err(|e| invalid("x5u", format!("{e}; verifiers refuse such an x5u (docs/X5U.md)")))
}

fn bad_request(why: &str) -> Response {
    Response::new(400, "Bad Request").with("Warning", sip_warning(why))
}

/// A `Warning` header value of vouch's (RFC 3261 section 20.43, code 399).
fn sip_warning(why: &str) -> String {
    format!("399 vouch {}", redirect::quoted(why))
}

/// Snapshots at least this large are not replaced by one less than half their size unless the
/// import allows it ([`CallAuth::import_rmd`]).
pub const RMD_SHRINK_FLOOR: usize = 20;

/// The FRNs an `rmd.imported` event lists: the first [`vouch_registry::RMD_EVENT_FRNS`].
fn first_frns(frns: &[Frn]) -> Vec<Frn> {
    frns.iter().take(vouch_registry::RMD_EVENT_FRNS).cloned().collect()
}

/// Most SHAKEN Identity headers of one INVITE that are tried (each may need an x5u fetch).
const MAX_SHAKEN_IDENTITIES: usize = 4;

/// The methods this server accepts, as its `Allow` header lists them.
const SIP_ALLOW: &str = "INVITE, ACK, OPTIONS, CANCEL";

/// SIP methods defined by RFC 3261 and its extensions: these get `405 Method Not Allowed`,
/// any other `501 Not Implemented` (RFC 3261 sections 8.2.1, 21.5.2).
const SIP_METHODS: &[&str] =
    &["BYE", "REGISTER", "PRACK", "UPDATE", "INFO", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"];

/// RFC 3261 section 8.2.2: a Request-URI scheme other than sip, sips or tel gets `416`, and
/// an extension the request requires (`Require`; this server supports none) gets `420` with
/// `Unsupported` naming it.
fn sip_header_checks(req: &SipMessage) -> Option<Response> {
    if let StartLine::Request { uri, .. } = &req.start {
        let scheme = uri.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
        if !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
            return Some(Response::new(416, "Unsupported URI Scheme"));
        }
    }
    let required: Vec<&str> =
        req.headers_named("Require").flat_map(|v| v.split(',')).map(str::trim).filter(|t| !t.is_empty()).collect();
    if !required.is_empty() {
        return Some(Response::new(420, "Bad Extension").with("Unsupported", required.join(", ")));
    }
    None
}

/// What the SIP server sends back for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAnswer {
    /// The response.
    pub bytes: Vec<u8>,
    /// Where it goes over UDP (RFC 3261 section 18.2.2); over TCP it goes back on the
    /// connection.
    pub to: SocketAddr,
}

fn sip_method_label(m: &str) -> &'static str {
    match m {
        "INVITE" => "INVITE",
        "OPTIONS" => "OPTIONS",
        "ACK" => "ACK",
        "CANCEL" => "CANCEL",
        "BYE" => "BYE",
        _ => "other",
    }
}

/// On a shared database, every [`crate::FOLLOW_INTERVAL`]: the PASSporTs this node saw first
/// written as one batch, and the other nodes' batches read and taken into the replay cache, so
/// that a PASSporT replayed through another node for another call is caught there (unless both
/// nodes see it within the same quarter second or so; `vouch_stir_replays_late_total` counts
/// those). Ends with the call authentication service.
async fn share_presentations(auth: std::sync::Weak<CallAuth>) {
    let mut applied: std::collections::HashMap<(String, i64), i64> = std::collections::HashMap::new();
    let mut unsent: Vec<vouch_callauth::Presentation> = Vec::new();
    let mut passes = crate::follow::Passes::new(auth);
    while let Some((me, pass)) = passes.next().await {
        // Batches are numbered by pass: increasing, so each (node, batch) is written once.
        let batch = pass as i64;
        let (store, now) = (me.registry.store(), me.registry.now());
        unsent.extend(me.replay.take_presented());
        if !unsent.is_empty() {
            let bytes = vouch_callauth::encode_presentations(&unsent);
            match store.put_presentations(me.registry.node(), batch, now, &bytes).await {
                Ok(()) => unsent.clear(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot share this node's PASSporT presentations");
                    // Kept for the next pass, within the cache's size.
                    let keep = unsent.len().min(me.config.replay_capacity);
                    unsent.drain(..unsent.len() - keep);
                }
            }
        }
        match store.others_presentation_batches(me.registry.node(), now - crate::follow::REREAD).await {
            Ok(batches) => {
                for (other, n) in batches {
                    if applied.contains_key(&(other.clone(), n)) {
                        continue;
                    }
                    let bytes = match store.presentation_batch(&other, n).await {
                        Ok(Some(b)) => b,
                        Ok(None) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read another node's PASSporT presentations");
                            break;
                        }
                    };
                    applied.insert((other, n), now.as_second());
                    let Some(ps) = vouch_callauth::decode_presentations(&bytes) else {
                        tracing::warn!("a batch of another node's presentations does not decode");
                        continue;
                    };
                    let late = me.replay.apply_others(&ps, now.as_second());
                    if late > 0 {
                        metrics::counter!("vouch_stir_replays_late_total").increment(late as u64);
                    }
                }
                let horizon = (now - crate::follow::REREAD).as_second() - 60;
                applied.retain(|_, at| *at >= horizon);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the other nodes' PASSporT presentations"),
        }
        // About once a minute, the batches whose PASSporTs are all stale: a PASSporT is fresh
        // for at most twice the window after the batch that saw it.
        if pass % 240 == 0 {
            let keep = jiff::SignedDuration::from_secs(2 * me.config.freshness.max(1) + 60);
            if let Err(e) = store.purge_presentations(now - keep).await {
                tracing::warn!(error = %e, "cannot delete old PASSporT presentations");
            }
        }
    }
}
