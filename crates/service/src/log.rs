//! The transparency log: registry events integrated into an RFC 6962 tree in batches, kept as
//! C2SP tiles, with a signed checkpoint after each batch (docs/TRANSPARENCY-LOG.md).
//!
//! Leaf `i` is the event with sequence number `i + 1`, in its *log form*: its canonical bytes,
//! except that a brand's confidential fields, and the messages of its vetting reasons (which
//! quote them), are replaced by salted SHA-256 commitments. The
//! log form is a pure function of the event and the log's sealing secret, so integrating the
//! same events again always gives the same tree: a crash between a write and its integration
//! loses nothing (the events are durable; integration resumes from the last checkpoint) and
//! can never produce two trees of one size.

use std::sync::{Arc, RwLock};

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use vouch_registry::BrandId;
use vouch_store::{CheckpointRow, LogKeys, TileRow};
use vouch_tlog::proof::{consistency_proof, inclusion_proof, tree_root};
use vouch_tlog::tile::{ExpandedTile, MemoryTiles, TILE_WIDTH, TileId, encode_bundle, locate, parse_hash_tile};
use vouch_tlog::{Checkpoint, Hash, NoteSigner, NoteVerifier, TlogError, TreeEdge, leaf_hash};

use crate::{Principal, Registry, ServiceError};

/// Brand fields that never appear in the clear in the log: the tax id and everything that
/// identifies or reaches a person.
pub const SEALED_BRAND_FIELDS: &[&str] = &[
    "ein",
    "firstName",
    "lastName",
    "phone",
    "mobilePhone",
    "street",
    "city",
    "postalCode",
    "email",
    "businessContactEmail",
    "ipAddress",
    "altBusinessId",
    "referenceId",
];

/// The fields of each vetting reason of a `brand.vetted` event that never appear in the clear
/// in the log: the texts, which may quote a sealed value (an EIN, an e-mail address, an
/// alternative business id, a sole proprietor's name matched against a sanctions list). The
/// reason's `code`, `severity`, `field` and `points` stay in the clear.
pub const SEALED_REASON_FIELDS: &[&str] = &["message", "fix"];

/// How long the sequencer lease lasts unless renewed (each pass and each checkpoint renews it).
const LEASE_US: i64 = 5_000_000;

/// Events integrated per transaction (and per checkpoint) when catching up.
const BATCH: u64 = 65_536;
/// Expanded tiles kept in memory (16 KiB each at most).
const TILE_CACHE: usize = 8_192;

/// A batch's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integrated {
    /// Leaves added.
    pub added: u64,
    /// The tree size now.
    pub size: u64,
}

/// An inclusion proof as the API returns it.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    /// The event's sequence number.
    pub seq: u64,
    /// Its leaf index (`seq - 1`).
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The entry (the event's log form).
    pub entry: Vec<u8>,
    /// Its leaf hash.
    pub leaf: Hash,
    /// The proof, leaf side first.
    pub proof: Vec<Hash>,
    /// The tree head at `size`.
    pub root: Hash,
}

/// Why an inclusion proof was not given.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// No such event: events are numbered from 1 (leaf `i` is event `i + 1`) up to the last the
    /// registry committed.
    #[error("there is no event {seq}: events are numbered from 1 (leaf i is event i + 1) to the last committed")]
    NoSuchEvent {
        /// The event asked for.
        seq: u64,
    },
    /// The event is not in the tree of the size asked for, and never will be: a tree of a given
    /// size never changes.
    #[error(
        "event {seq} is not in the tree of size {size}, and never will be (a tree of a given size never \
         changes): ask for a larger size, or leave size out for the newest tree"
    )]
    NotInTree {
        /// The event asked for.
        seq: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// The event is not integrated yet: the newest tree is smaller. Asking again later works.
    #[error("event {seq} is not in the newest tree (size {size}) yet: retry")]
    NotYetIntegrated {
        /// The event asked for.
        seq: u64,
        /// The newest tree's size.
        size: u64,
    },
    /// Anything else: an unknown certificate, a size past the tree, the store.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<ProofError> for ServiceError {
    fn from(e: ProofError) -> Self {
        match e {
            ProofError::NoSuchEvent { .. } => ServiceError::invalid("event", e.to_string()),
            ProofError::NotInTree { .. } => ServiceError::invalid("size", e.to_string()),
            ProofError::NotYetIntegrated { .. } => {
                ServiceError::Conflict { kind: crate::ConflictKind::LogState, detail: e.to_string() }
            }
            ProofError::Service(e) => e,
        }
    }
}

/// An inclusion proof as JSON: `GET /v1/log/proofs/inclusion` and the evidence of a trace.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProofView {
    /// Its leaf index (event - 1).
    pub leaf_index: u64,
    /// The tree size proved against.
    pub tree_size: u64,
    /// The entry (the event's log form), base64.
    pub entry: String,
    /// SHA-256(0x00 || entry), base64.
    pub leaf_hash: String,
    /// The proof, leaf side first, base64 hashes.
    pub proof: Vec<String>,
    /// The tree head at `treeSize`, base64.
    pub root: String,
}

impl From<&InclusionProof> for ProofView {
    fn from(p: &InclusionProof) -> Self {
        Self {
            leaf_index: p.index,
            tree_size: p.size,
            entry: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &p.entry),
            leaf_hash: p.leaf.to_base64(),
            proof: p.proof.iter().map(|h| h.to_base64()).collect(),
            root: p.root.to_base64(),
        }
    }
}

/// One sealed field's opening.
#[derive(Debug, Clone)]
pub struct Opening {
    /// The field.
    pub field: String,
    /// The salt (16 bytes).
    pub salt: Vec<u8>,
    /// The value, as JSON.
    pub value: Value,
    /// The commitment in the entry: SHA-256(salt || canonical JSON of the value).
    pub commitment: Hash,
}

struct Head {
    edge: TreeEdge,
    checkpoint: Option<CheckpointRow>,
}

/// The log: the signer, the tree's right edge and a cache of tiles.
pub struct TransparencyLog {
    registry: Arc<Registry>,
    origin: String,
    signer: NoteSigner,
    sealing: hmac::Key,
    head: RwLock<Head>,
    /// Expanded tiles read or written so far (at most [`TILE_CACHE`]).
    tiles: RwLock<MemoryTiles>,
    sequencer: tokio::sync::Mutex<()>,
    /// Why integration stopped, if it did (stored tiles that do not match the checkpoint).
    halted: RwLock<Option<String>>,
    /// Whether this node held the sequencer lease at its last pass.
    leading: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for TransparencyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransparencyLog").field("origin", &self.origin).finish_non_exhaustive()
    }
}

/// A name for this process in the sequencer lease: host, process id and a random suffix.
fn log_error(e: TlogError) -> ServiceError {
    ServiceError::Store(vouch_store::StoreError::Corrupt { table: "log_tiles", detail: e.to_string() })
}

impl TransparencyLog {
    /// Opens the log: its keys (created with `origin` at first start), the newest checkpoint and
    /// the tree's right edge, checked against that checkpoint.
    pub async fn open(registry: Arc<Registry>, origin: &str) -> Result<Arc<Self>, ServiceError> {
        let store = &registry.store;
        let keys = match store.log_keys().await? {
            Some(k) => k,
            None => {
                let (_, pkcs8) =
                    NoteSigner::generate(origin).map_err(|e| ServiceError::invalid("origin", e.to_string()))?;
                let mut sealing = [0u8; 32];
                aws_lc_rs::rand::fill(&mut sealing).map_err(|_| ServiceError::invalid("origin", "no randomness"))?;
                let fresh = LogKeys { origin: origin.to_string(), signing: pkcs8, sealing: sealing.to_vec() };
                store.create_log_keys(fresh, registry.clock.now().as_microsecond()).await?
            }
        };
        let signer = NoteSigner::from_pkcs8(&keys.origin, &keys.signing).map_err(log_error)?;
        let log = Arc::new(Self {
            origin: keys.origin.clone(),
            signer,
            sealing: hmac::Key::new(hmac::HMAC_SHA256, &keys.sealing),
            head: RwLock::new(Head { edge: TreeEdge::new(), checkpoint: None }),
            tiles: RwLock::new(MemoryTiles::default()),
            sequencer: tokio::sync::Mutex::new(()),
            halted: RwLock::new(None),
            leading: std::sync::atomic::AtomicBool::new(false),
            registry,
        });
        if let Some(cp) = log.registry.store.log_head().await? {
            log.load_head(cp).await?;
        }
        Ok(log)
    }

    /// Makes `cp` the head: the tree's right edge is read from the stored tiles and checked
    /// against the checkpoint's root (a mismatch halts the log).
    async fn load_head(&self, cp: CheckpointRow) -> Result<(), ServiceError> {
        let mut rows = Vec::new();
        for (id, width) in TreeEdge::edge_tiles(cp.size) {
            // A tile that is missing or does not parse leaves a short row: the check below
            // then halts the log instead of growing a wrong tree.
            if width == 0 {
                rows.push(Vec::new());
                continue;
            }
            let hashes = match self.tile_at_least(id, width).await {
                Ok(t) => t.and_then(|t| t.first().cloned()).unwrap_or_default(),
                Err(ServiceError::Store(vouch_store::StoreError::Corrupt { .. })) => Vec::new(),
                Err(e) => return Err(e),
            };
            rows.push(hashes.into_iter().take(width).collect());
        }
        match TreeEdge::from_rows(cp.size, rows) {
            Ok(edge) if edge.root().0.as_slice() == cp.root.as_slice() => {
                self.head_mut().edge = edge;
            }
            Ok(_) | Err(_) => {
                let why = format!(
                    "the stored tiles at the tree's right edge do not give the root of checkpoint {}; \
                     the log will not grow until this is investigated",
                    cp.size
                );
                tracing::error!("{why}");
                metrics::gauge!("vouch_log_halted").set(1.0);
                *self.halted.write().unwrap_or_else(|e| e.into_inner()) = Some(why);
            }
        }
        self.head_mut().checkpoint = Some(cp);
        Ok(())
    }

    /// On a node that is not the sequencer: takes the newest checkpoint another node signed
    /// as the head. Tiles cached before are dropped (partial ones may have grown since).
    async fn follow_head(&self) -> Result<(), ServiceError> {
        let Some(cp) = self.registry.store.log_head().await? else { return Ok(()) };
        if self.head().checkpoint.as_ref().is_some_and(|c| c.size == cp.size && c.root == cp.root) {
            return Ok(());
        }
        *self.tiles.write().unwrap_or_else(|e| e.into_inner()) = MemoryTiles::default();
        self.load_head(cp).await
    }

    /// This node's name in the sequencer lease.
    pub fn node(&self) -> &str {
        self.registry.node()
    }

    /// Whether this node is the log's sequencer (holds the lease) as of its last pass.
    pub fn is_sequencer(&self) -> bool {
        self.leading.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Gives the sequencer lease up (a node that stops), so that another node takes over at
    /// once instead of when the lease expires.
    pub async fn release(&self) -> Result<(), ServiceError> {
        let _one = self.sequencer.lock().await;
        self.leading.store(false, std::sync::atomic::Ordering::Release);
        Ok(self.registry.store.log_release(self.registry.node()).await?)
    }

    fn head_mut(&self) -> std::sync::RwLockWriteGuard<'_, Head> {
        self.head.write().unwrap_or_else(|e| e.into_inner())
    }

    fn head(&self) -> std::sync::RwLockReadGuard<'_, Head> {
        self.head.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The log's origin line (and key name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The note verifier key that checks checkpoints.
    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// The newest signed checkpoint.
    pub fn checkpoint(&self) -> Option<CheckpointRow> {
        self.head().checkpoint.clone()
    }

    /// The tree size of the newest checkpoint.
    pub fn size(&self) -> u64 {
        self.head().checkpoint.as_ref().map_or(0, |c| c.size)
    }

    /// Signed checkpoints, newest first: at most `limit`, sizes below `before` when given.
    pub async fn checkpoints(&self, before: Option<u64>, limit: u32) -> Result<Vec<CheckpointRow>, ServiceError> {
        Ok(self.registry.store.log_checkpoints(before, limit).await?)
    }

    /// Why the log stopped growing, if it did.
    pub fn halted(&self) -> Option<String> {
        self.halted.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Integrates every event not yet in the tree, in batches, each committed with its signed
    /// checkpoint. With nothing new and a checkpoint already signed, does nothing.
    ///
    /// Only the holder of the sequencer lease integrates (several nodes may share the
    /// database): each pass takes or renews it, and each checkpoint's transaction renews it
    /// again or fails. A node without the lease takes the newest checkpoint as its head.
    pub async fn integrate(&self) -> Result<Integrated, ServiceError> {
        use std::sync::atomic::Ordering;
        let _one = self.sequencer.lock().await;
        let store = &self.registry.store;
        let now_us = self.registry.clock.now().as_microsecond();
        if !store.log_lease(self.registry.node(), now_us, LEASE_US).await? {
            if self.leading.swap(false, Ordering::AcqRel) {
                tracing::warn!(node = %self.registry.node(), "transparency log: another node holds the sequencer lease now");
            }
            self.follow_head().await?;
            return Ok(Integrated { added: 0, size: self.size() });
        }
        if !self.leading.swap(true, Ordering::AcqRel) {
            // Another node may have grown the tree since this one last looked.
            self.follow_head().await?;
            if store.is_shared() {
                tracing::info!(node = %self.registry.node(), size = self.size(), "transparency log: this node is the sequencer");
            }
        }
        metrics::gauge!("vouch_log_sequencer").set(1.0);
        let mut added = 0;
        loop {
            if let Some(why) = self.halted() {
                return Err(ServiceError::Conflict { kind: crate::ConflictKind::LogState, detail: why });
            }
            let (mut edge, has_checkpoint) = {
                let h = self.head();
                (h.edge.clone(), h.checkpoint.is_some())
            };
            let size = edge.size();
            let last = store.last_seq().await?;
            if last <= size && has_checkpoint {
                return Ok(Integrated { added, size });
            }
            let upto = last.min(size + BATCH);
            let events = store.events_between(size + 1, upto).await?;
            let mut leaves = Vec::with_capacity(events.len());
            for (i, (seq, kind, canonical)) in events.iter().enumerate() {
                if *seq != size + 1 + i as u64 {
                    return Err(log_error(TlogError::OutOfRange(format!("event {} is missing", size + 1 + i as u64))));
                }
                leaves.push(leaf_hash(&self.log_form(*seq, kind, canonical)?));
            }
            let updates = edge.append(leaves);
            let root = edge.root();
            let cp = Checkpoint { origin: self.origin.clone(), size: edge.size(), root, extensions: Vec::new() };
            let note = self.signer.sign(&cp.to_text()).map_err(log_error)?;
            let row = CheckpointRow {
                size: edge.size(),
                root: root.0.to_vec(),
                note,
                ts_us: self.registry.clock.now().as_microsecond(),
            };
            let tiles: Vec<TileRow> = updates
                .iter()
                .map(|t| TileRow { level: t.id.level, index: t.id.index, hashes: t.to_bytes() })
                .collect();
            if let Err(e) = store.log_commit(&tiles, &row, self.registry.node(), row.ts_us, LEASE_US).await {
                // Lost the lease meanwhile (or the database failed): the next pass finds out
                // which, and follows the new sequencer's tree if it must.
                self.leading.store(false, Ordering::Release);
                metrics::gauge!("vouch_log_sequencer").set(0.0);
                return Err(e.into());
            }
            {
                let mut cache = self.tiles.write().unwrap_or_else(|e| e.into_inner());
                for t in &updates {
                    put_wider(&mut cache, t.id, &t.hashes);
                }
            }
            added += edge.size() - size;
            metrics::counter!("vouch_log_leaves_total").increment(edge.size() - size);
            metrics::gauge!("vouch_log_tree_size").set(edge.size() as f64);
            let mut h = self.head_mut();
            h.edge = edge;
            h.checkpoint = Some(row);
        }
    }

    /// The log form of an event: its canonical bytes, with a brand's confidential fields and
    /// the texts of its vetting reasons replaced by commitments (`body.sealed`).
    pub fn log_form(&self, seq: u64, kind: &str, canonical: &str) -> Result<Vec<u8>, ServiceError> {
        if !has_sealed_fields(kind) {
            return Ok(canonical.as_bytes().to_vec());
        }
        let mut v: Value = serde_json::from_str(canonical)
            .map_err(|e| log_error(TlogError::OutOfRange(format!("event {seq} does not parse: {e}"))))?;
        let sealed: Map<String, Value> = self
            .seal(seq, kind, &mut v)
            .into_iter()
            .map(|o| (o.field, Value::String(o.commitment.to_base64())))
            .collect();
        if !sealed.is_empty()
            && let Some(body) = v.get_mut("body").and_then(Value::as_object_mut)
        {
            body.insert("sealed".into(), Value::Object(sealed));
        }
        vouch_canonical_json::to_canonical_json(&v)
            .map_err(|e| log_error(TlogError::OutOfRange(format!("event {seq} does not encode: {e}"))))
    }

    /// Takes an event's confidential values out of `event` (see [`take_sealed`]) and returns
    /// their openings.
    fn seal(&self, seq: u64, kind: &str, event: &mut Value) -> Vec<Opening> {
        take_sealed(kind, event)
            .into_iter()
            .map(|(field, value)| {
                let salt = self.salt(seq, &field);
                let commitment = commit(&salt, &value);
                Opening { field, salt, value, commitment }
            })
            .collect()
    }

    /// Whether event `seq` (a `brand.vetted` one, in the tree) was integrated in its canonical
    /// form, by a vouch that did not seal vetting reasons yet: its stored leaf hash is that of
    /// the canonical bytes. The tree never changes, so such an entry is served as integrated.
    async fn integrated_unsealed(&self, seq: u64, kind: &str, canonical: &str) -> Result<bool, ServiceError> {
        if kind != "brand.vetted" || seq == 0 {
            return Ok(false);
        }
        Ok(self.stored_leaf(seq - 1).await? == Some(leaf_hash(canonical.as_bytes())))
    }

    /// The entry of event `seq` (in the tree) as the tree holds it: its log form, or, for a
    /// `brand.vetted` event integrated before vetting reasons were sealed, its canonical bytes.
    async fn served_form(&self, seq: u64, kind: &str, canonical: &str) -> Result<Vec<u8>, ServiceError> {
        let form = self.log_form(seq, kind, canonical)?;
        if form != canonical.as_bytes() && self.integrated_unsealed(seq, kind, canonical).await? {
            return Ok(canonical.as_bytes().to_vec());
        }
        Ok(form)
    }

    /// The leaf hash stored for leaf `index` (level-0 tiles), if the store has it.
    async fn stored_leaf(&self, index: u64) -> Result<Option<Hash>, ServiceError> {
        let id = TileId { level: 0, index: index / TILE_WIDTH as u64 };
        let pos = (index % TILE_WIDTH as u64) as usize;
        let Some(tile) = self.tile_at_least(id, pos + 1).await? else { return Ok(None) };
        Ok(tile.first().and_then(|row| row.get(pos)).copied())
    }

    /// The stored event `seq`: its kind and canonical text.
    async fn stored_event(&self, seq: u64) -> Result<Option<(String, String)>, ServiceError> {
        let events = self.registry.store.events_between(seq, seq).await?;
        Ok(events.into_iter().next().map(|(_, kind, canonical)| (kind, canonical)))
    }

    /// The salt of one sealed field of one event: HMAC-SHA256(sealing secret, "vouch log seal" ||
    /// seq || field), first 16 bytes.
    fn salt(&self, seq: u64, field: &str) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.sealing);
        ctx.update(b"vouch log seal\0");
        ctx.update(&seq.to_be_bytes());
        ctx.update(field.as_bytes());
        ctx.sign().as_ref()[..16].to_vec()
    }

    /// The openings of an event's sealed fields, for a caller who may see the brand.
    pub async fn openings(&self, p: &Principal, seq: u64) -> Result<Vec<Opening>, ServiceError> {
        let not_found = || ServiceError::not_found("event", seq);
        if seq > self.size() {
            return Err(not_found());
        }
        let (kind, canonical) = self.stored_event(seq).await?.ok_or_else(not_found)?;
        if !has_sealed_fields(&kind) {
            return Ok(Vec::new());
        }
        let mut v: Value = serde_json::from_str(&canonical).map_err(|_| not_found())?;
        let brand_id: BrandId =
            v.pointer("/body/brandId").and_then(Value::as_str).and_then(|s| s.parse().ok()).ok_or_else(not_found)?;
        // Whoever may read the brand through the API may open its commitments.
        self.registry.brand(p, brand_id).await.map_err(|_| not_found())?;
        if self.integrated_unsealed(seq, &kind, &canonical).await? {
            return Ok(Vec::new());
        }
        Ok(self.seal(seq, &kind, &mut v))
    }

    /// The entry (log form) of event `seq`, if it is in the tree.
    pub async fn entry(&self, seq: u64) -> Result<Vec<u8>, ServiceError> {
        if seq == 0 || seq > self.size() {
            return Err(ServiceError::not_found("log entry", seq));
        }
        let (kind, canonical) =
            self.stored_event(seq).await?.ok_or_else(|| ServiceError::not_found("log entry", seq))?;
        self.served_form(seq, &kind, &canonical).await
    }

    /// An entry bundle: entries `256·index ..` (`width` of them), all inside the tree.
    pub async fn entry_bundle(&self, index: u64, width: u16) -> Result<Option<Vec<u8>>, ServiceError> {
        let size = self.size();
        let Some(first) = index.checked_mul(TILE_WIDTH as u64) else { return Ok(None) };
        let Some(end) = first.checked_add(u64::from(width)) else { return Ok(None) };
        if end > size {
            return Ok(None);
        }
        let events = self.registry.store.events_between(first + 1, end).await?;
        if events.len() as u64 != end - first {
            return Err(log_error(TlogError::OutOfRange(format!("events {} to {end} are missing", first + 1))));
        }
        let mut entries = Vec::with_capacity(events.len());
        for (seq, kind, canonical) in &events {
            entries.push(self.served_form(*seq, kind, canonical).await?);
        }
        Ok(Some(encode_bundle(&entries).map_err(log_error)?))
    }

    /// A hash tile's bytes: the full tile, or the first `width` hashes of one (which the tree
    /// must have).
    pub async fn hash_tile(&self, id: TileId, width: u16) -> Result<Option<Vec<u8>>, ServiceError> {
        let w = usize::from(width);
        let Some(tile) = self.tile_at_least(id, w).await? else { return Ok(None) };
        let Some(row) = tile.first().filter(|row| row.len() >= w) else { return Ok(None) };
        Ok(Some(row[..w].iter().flat_map(|h| h.0).collect()))
    }

    /// An expanded tile whose bottom row holds at least `width` hashes if the store has one
    /// that wide: from the cache when it holds one that wide, else from the store.
    async fn tile_at_least(&self, id: TileId, width: usize) -> Result<Option<ExpandedTile>, ServiceError> {
        if let Some(t) = self.tiles.read().unwrap_or_else(|e| e.into_inner()).get(id)
            && tile_width(&t) >= width
        {
            return Ok(Some(t));
        }
        self.load_tile(id).await
    }

    /// Reads a tile from the store into the cache (never over a wider one: the store may
    /// have been read before the sequencer cached a newer version) and returns the wider of
    /// the two.
    async fn load_tile(&self, id: TileId) -> Result<Option<ExpandedTile>, ServiceError> {
        let Some(bytes) = self.registry.store.log_tile(id.level, id.index).await? else { return Ok(None) };
        let hashes = parse_hash_tile(&bytes).map_err(log_error)?;
        let mut cache = self.tiles.write().unwrap_or_else(|e| e.into_inner());
        if cache.0.len() >= TILE_CACHE && !cache.0.contains_key(&id) {
            cache.0.clear();
        }
        Ok(Some(put_wider(&mut cache, id, &hashes)))
    }

    /// Runs a proof generator, loading the tiles it misses.
    async fn with_nodes<T>(&self, f: impl Fn(&MemoryTiles) -> Result<T, TlogError>) -> Result<T, ServiceError> {
        let mut last = None;
        for _ in 0..128 {
            let missing = {
                let cache = self.tiles.read().unwrap_or_else(|e| e.into_inner());
                match f(&cache) {
                    Ok(v) => return Ok(v),
                    Err(TlogError::MissingNode(id)) => id,
                    Err(e) => return Err(log_error(e)),
                }
            };
            // The store's tile did not have it either: the tree is short of a node.
            if last == Some(missing) {
                return Err(log_error(TlogError::MissingNode(missing)));
            }
            last = Some(missing);
            let (tile, _, _) = locate(missing);
            if self.load_tile(tile).await?.is_none() {
                return Err(log_error(TlogError::MissingNode(missing)));
            }
        }
        Err(log_error(TlogError::OutOfRange("too many tiles for one proof".into())))
    }

    fn check_size(&self, size: Option<u64>) -> Result<u64, ServiceError> {
        let current = self.size();
        match size {
            None => Ok(current),
            Some(s) if s <= current => Ok(s),
            Some(s) => Err(ServiceError::invalid("size", format!("the tree has {current} entries, not {s}"))),
        }
    }

    /// The inclusion proof of event `seq` in the tree of `size` (default: the newest).
    pub async fn prove_event(&self, seq: u64, size: Option<u64>) -> Result<InclusionProof, ServiceError> {
        Ok(self.prove(seq, size).await?)
    }

    /// The inclusion proof of event `seq` in the tree of `size` (default: the newest), with a
    /// typed reason when there is none: event 0 and a tree of a fixed size that does not hold
    /// the event are permanent refusals; the newest tree not holding it yet is not.
    pub async fn prove(&self, seq: u64, size: Option<u64>) -> Result<InclusionProof, ProofError> {
        if seq == 0 {
            return Err(ProofError::NoSuchEvent { seq });
        }
        let current = self.size();
        let tree = match size {
            None => current,
            Some(s) if s <= current => s,
            Some(s) => {
                return Err(ServiceError::invalid("size", format!("the tree has {current} entries, not {s}")).into());
            }
        };
        if seq > tree {
            // An event the registry has not committed is none (yet): not one to wait for.
            if seq > self.registry.store.last_seq().await.map_err(ServiceError::from)? {
                return Err(ProofError::NoSuchEvent { seq });
            }
            // Only the newest tree can still come to hold the event; a smaller one never will.
            return Err(if size.is_some() && (tree < current || tree == 0) {
                ProofError::NotInTree { seq, size: tree }
            } else {
                ProofError::NotYetIntegrated { seq, size: tree }
            });
        }
        let entry = self.entry(seq).await?;
        let index = seq - 1;
        let (proof, root) = self.with_nodes(|n| Ok((inclusion_proof(n, index, tree)?, tree_root(n, tree)?))).await?;
        Ok(InclusionProof { seq, index, size: tree, leaf: leaf_hash(&entry), entry, proof, root })
    }

    /// The inclusion proof of the event that registered a certificate (hex SHA-256 of its DER).
    pub async fn prove_certificate(&self, fingerprint: &str, size: Option<u64>) -> Result<InclusionProof, ProofError> {
        let seq = self
            .registry
            .store
            .certificate_event(&fingerprint.to_ascii_lowercase())
            .await
            .map_err(ServiceError::from)?
            .ok_or_else(|| ServiceError::not_found("certificate", fingerprint))?;
        self.prove(seq, size).await
    }

    /// The consistency proof from `from` to `to` (default: the newest), with both heads.
    pub async fn prove_consistency(
        &self,
        from: u64,
        to: Option<u64>,
    ) -> Result<(u64, Vec<Hash>, Hash, Hash), ServiceError> {
        let to = self.check_size(to)?;
        if from == 0 || from > to {
            return Err(ServiceError::invalid("from", format!("a consistency proof needs 0 < from <= to ({to})")));
        }
        let (proof, old, new) =
            self.with_nodes(|n| Ok((consistency_proof(n, from, to)?, tree_root(n, from)?, tree_root(n, to)?))).await?;
        Ok((to, proof, old, new))
    }

    /// Proof generation alone, from tiles already in memory (the benchmark's figure).
    pub fn inclusion_in_memory(&self, index: u64, size: u64) -> Result<Vec<Hash>, TlogError> {
        inclusion_proof(&*self.tiles.read().unwrap_or_else(|e| e.into_inner()), index, size)
    }
}

/// Whether events of `kind` have sealed values in their log form.
fn has_sealed_fields(kind: &str) -> bool {
    matches!(kind, "brand.registered" | "brand.updated" | "brand.vetted")
}

/// Takes an event's confidential values out of `event`, each with the name it is sealed
/// under: a brand's [`SEALED_BRAND_FIELDS`] from `body.brand` (named by field), and the
/// [`SEALED_REASON_FIELDS`] of each vetting reason in `body.outcome.reasons` (named
/// `reasons.<i>.<field>`).
fn take_sealed(kind: &str, event: &mut Value) -> Vec<(String, Value)> {
    let mut taken = Vec::new();
    match kind {
        "brand.registered" | "brand.updated" => {
            if let Some(brand) = event.pointer_mut("/body/brand").and_then(Value::as_object_mut) {
                for field in SEALED_BRAND_FIELDS {
                    if let Some(value) = brand.remove(*field) {
                        taken.push(((*field).to_string(), value));
                    }
                }
            }
        }
        "brand.vetted" => {
            if let Some(reasons) = event.pointer_mut("/body/outcome/reasons").and_then(Value::as_array_mut) {
                for (i, reason) in reasons.iter_mut().enumerate() {
                    let Some(reason) = reason.as_object_mut() else { continue };
                    for field in SEALED_REASON_FIELDS {
                        if let Some(value) = reason.remove(*field) {
                            taken.push((format!("reasons.{i}.{field}"), value));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    taken
}

/// The number of hashes in a tile's bottom row.
fn tile_width(tile: &ExpandedTile) -> usize {
    tile.first().map_or(0, Vec::len)
}

/// Caches a tile unless the cache holds a version at least as wide (a partial tile of width W
/// is a prefix of every later version: a narrower one is only ever an older read); returns
/// the version the cache holds.
fn put_wider(cache: &mut MemoryTiles, id: TileId, hashes: &[Hash]) -> ExpandedTile {
    if let Some(t) = cache.get(id)
        && tile_width(&t) >= hashes.len()
    {
        return t;
    }
    cache.put(id, hashes)
}

/// The commitment to a sealed value: SHA-256(salt || canonical JSON).
pub fn commit(salt: &[u8], value: &Value) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(salt);
    ctx.update(&vouch_canonical_json::to_canonical_json(value).unwrap_or_default());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Hash(out)
}

/// Base64 of a salt (for the API).
pub fn salt_base64(salt: &[u8]) -> String {
    STANDARD.encode(salt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect()
    }

    #[test]
    fn a_cached_tile_is_never_replaced_by_a_narrower_one() {
        let id = TileId { level: 0, index: 3 };
        let mut cache = MemoryTiles::default();
        // The sequencer caches the tile of width 5 it just committed…
        let newer = put_wider(&mut cache, id, &hashes(5));
        assert_eq!(tile_width(&newer), 5);
        // …then a reader that read the store before that commit caches what it read (width 3):
        // the wider tile stays, and is what the reader gets.
        let got = put_wider(&mut cache, id, &hashes(3));
        assert_eq!(tile_width(&got), 5);
        assert_eq!(tile_width(&cache.get(id).expect("cached")), 5);
        assert_eq!(cache.get(id).expect("cached")[0], hashes(5));
        // A wider version replaces it.
        assert_eq!(tile_width(&put_wider(&mut cache, id, &hashes(8))), 8);
        assert_eq!(cache.get(id).expect("cached")[0], hashes(8));
        // Other tiles are not touched.
        assert!(cache.get(TileId { level: 0, index: 2 }).is_none());
    }

    #[test]
    fn vetting_reasons_keep_code_severity_field_and_points_and_lose_their_texts() {
        let mut event = serde_json::json!({
            "actor": "P1234567", "kind": "brand.vetted", "seq": 7, "time": "2026-01-01T00:00:00.000000Z", "v": 1,
            "body": {"brandId": "B1234567", "outcome": {"identityStatus": "UNVERIFIED", "score": 0, "reasons": [
                {"code": "EIN_FORMAT_INVALID", "severity": "BLOCKING", "field": "ein", "points": 0,
                 "message": "`98765432X` is not an EIN", "fix": "Enter the nine-digit EIN"},
                {"code": "SANCTIONS_CLEAR", "severity": "PASS", "field": "companyName", "points": 0,
                 "message": "no match in the operator's sanctions list"}
            ]}}
        });
        let taken = take_sealed("brand.vetted", &mut event);
        let names: Vec<&str> = taken.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["reasons.0.message", "reasons.0.fix", "reasons.1.message"]);
        assert_eq!(taken[0].1, "`98765432X` is not an EIN");
        assert_eq!(
            event["body"]["outcome"]["reasons"][0],
            serde_json::json!({"code": "EIN_FORMAT_INVALID", "severity": "BLOCKING", "field": "ein", "points": 0})
        );
        assert!(!event.to_string().contains("98765432X"), "{event}");
        assert_eq!(event["body"]["outcome"]["score"], 0);
        // Other kinds keep everything.
        let mut other = serde_json::json!({"kind": "campaign.created", "body": {"message": "kept"}});
        assert!(take_sealed("campaign.created", &mut other).is_empty());
        assert_eq!(other["body"]["message"], "kept");
    }

    #[test]
    fn brand_events_and_vetting_have_sealed_fields() {
        for kind in ["brand.registered", "brand.updated", "brand.vetted"] {
            assert!(has_sealed_fields(kind), "{kind}");
        }
        for kind in ["campaign.created", "provider.registered", "certificate.registered"] {
            assert!(!has_sealed_fields(kind), "{kind}");
        }
        assert_eq!(SEALED_REASON_FIELDS, ["message", "fix"]);
    }
}
