//! The transparency log: registry events integrated into an RFC 6962 tree in batches, kept as
//! C2SP tiles, with a signed checkpoint after each batch (docs/TRANSPARENCY-LOG.md).
//!
//! Leaf `i` is the event with sequence number `i + 1`, in its *log form*: its canonical bytes,
//! except that a brand's confidential fields are replaced by salted SHA-256 commitments. The
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
            let hashes = match self.tile(id).await {
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
                    cache.put(t.id, &t.hashes);
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

    /// The log form of an event: its canonical bytes, with a brand's confidential fields
    /// replaced by commitments (`body.sealed`).
    pub fn log_form(&self, seq: u64, kind: &str, canonical: &str) -> Result<Vec<u8>, ServiceError> {
        if kind != "brand.registered" && kind != "brand.updated" {
            return Ok(canonical.as_bytes().to_vec());
        }
        let mut v: Value = serde_json::from_str(canonical)
            .map_err(|e| log_error(TlogError::OutOfRange(format!("event {seq} does not parse: {e}"))))?;
        let sealed: Map<String, Value> =
            self.seal(seq, &mut v).into_iter().map(|o| (o.field, Value::String(o.commitment.to_base64()))).collect();
        if !sealed.is_empty()
            && let Some(body) = v.get_mut("body").and_then(Value::as_object_mut)
        {
            body.insert("sealed".into(), Value::Object(sealed));
        }
        vouch_canonical_json::to_canonical_json(&v)
            .map_err(|e| log_error(TlogError::OutOfRange(format!("event {seq} does not encode: {e}"))))
    }

    /// Takes a brand event's confidential fields out of `event` and returns their openings.
    fn seal(&self, seq: u64, event: &mut Value) -> Vec<Opening> {
        let Some(brand) = event.pointer_mut("/body/brand").and_then(Value::as_object_mut) else { return Vec::new() };
        SEALED_BRAND_FIELDS
            .iter()
            .filter_map(|field| {
                let value = brand.remove(*field)?;
                let salt = self.salt(seq, field);
                let commitment = commit(&salt, &value);
                Some(Opening { field: (*field).to_string(), salt, value, commitment })
            })
            .collect()
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
        if kind != "brand.registered" && kind != "brand.updated" {
            return Ok(Vec::new());
        }
        let mut v: Value = serde_json::from_str(&canonical).map_err(|_| not_found())?;
        let brand_id: BrandId =
            v.pointer("/body/brandId").and_then(Value::as_str).and_then(|s| s.parse().ok()).ok_or_else(not_found)?;
        // Whoever may read the brand through the API may open its commitments.
        self.registry.brand(p, brand_id).await.map_err(|_| not_found())?;
        Ok(self.seal(seq, &mut v))
    }

    /// The entry (log form) of event `seq`, if it is in the tree.
    pub async fn entry(&self, seq: u64) -> Result<Vec<u8>, ServiceError> {
        if seq == 0 || seq > self.size() {
            return Err(ServiceError::not_found("log entry", seq));
        }
        let (kind, canonical) =
            self.stored_event(seq).await?.ok_or_else(|| ServiceError::not_found("log entry", seq))?;
        self.log_form(seq, &kind, &canonical)
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
            entries.push(self.log_form(*seq, kind, canonical)?);
        }
        Ok(Some(encode_bundle(&entries).map_err(log_error)?))
    }

    /// A hash tile's bytes: the full tile, or the first `width` hashes of one (which the tree
    /// must have).
    pub async fn hash_tile(&self, id: TileId, width: u16) -> Result<Option<Vec<u8>>, ServiceError> {
        let Some(tile) = self.tile(id).await? else { return Ok(None) };
        let row = &tile[0];
        let w = usize::from(width);
        if row.len() < w {
            return Ok(None);
        }
        Ok(Some(row[..w].iter().flat_map(|h| h.0).collect()))
    }

    /// An expanded tile, from the cache or the store.
    async fn tile(&self, id: TileId) -> Result<Option<ExpandedTile>, ServiceError> {
        if let Some(t) = self.tiles.read().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(Some(t));
        }
        let Some(bytes) = self.registry.store.log_tile(id.level, id.index).await? else { return Ok(None) };
        let hashes = parse_hash_tile(&bytes).map_err(log_error)?;
        let mut cache = self.tiles.write().unwrap_or_else(|e| e.into_inner());
        if cache.0.len() >= TILE_CACHE {
            cache.0.clear();
        }
        Ok(Some(cache.put(id, &hashes)))
    }

    /// Runs a proof generator, loading the tiles it misses.
    async fn with_nodes<T>(&self, f: impl Fn(&MemoryTiles) -> Result<T, TlogError>) -> Result<T, ServiceError> {
        for _ in 0..128 {
            let missing = {
                let cache = self.tiles.read().unwrap_or_else(|e| e.into_inner());
                match f(&cache) {
                    Ok(v) => return Ok(v),
                    Err(TlogError::MissingNode(id)) => id,
                    Err(e) => return Err(log_error(e)),
                }
            };
            let (tile, _, _) = locate(missing);
            if self.tile(tile).await?.is_none() {
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
        let size = self.check_size(size)?;
        if seq == 0 || seq > size {
            return Err(ServiceError::Conflict {
                kind: crate::ConflictKind::LogState,
                detail: format!("event {seq} is not in the tree of size {size} (yet)"),
            });
        }
        let entry = self.entry(seq).await?;
        let index = seq - 1;
        let (proof, root) = self.with_nodes(|n| Ok((inclusion_proof(n, index, size)?, tree_root(n, size)?))).await?;
        Ok(InclusionProof { seq, index, size, leaf: leaf_hash(&entry), entry, proof, root })
    }

    /// The inclusion proof of the event that registered a certificate (hex SHA-256 of its DER).
    pub async fn prove_certificate(
        &self,
        fingerprint: &str,
        size: Option<u64>,
    ) -> Result<InclusionProof, ServiceError> {
        let seq = self
            .registry
            .store
            .certificate_event(&fingerprint.to_ascii_lowercase())
            .await?
            .ok_or_else(|| ServiceError::not_found("certificate", fingerprint))?;
        self.prove_event(seq, size).await
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
