//! The Call Placement Service (ATIS-1000096 out-of-band SHAKEN, ATIS-1000105 interface): the
//! originating provider publishes a call's PASSporTs under (terminating SPC, called number,
//! calling number) and the terminating provider retrieves them when the call arrives without
//! its Identity header (a TDM segment dropped it).
//!
//! Each request carries an ES256 bearer token signed with the caller's SHAKEN certificate
//! (`vouch_cps::token`): the certificate at its `x5u` must validate to the STI-PA trust list
//! (the verifier's), its SPC must be the token's, a token is accepted once (`jti`), and a
//! provider retrieves only records published for its own SPC. Each PASSporT published in the
//! clear must verify with the certificate chain at its own `x5u`, whoever publishes it (a
//! gateway forwards the originating provider's); sealed items cannot be checked.
//!
//! What is held, and for how long: records live in memory only, named by a keyed hash of
//! (SPC, called, calling number), for `ttl` seconds (and in the standard flow no longer than the
//! PASSporT's own `iat` + `ttl`); reads never return an expired item, and a sweeper removes
//! them within a second. In privacy mode the items are HPKE-sealed to the terminating provider,
//! so the CPS holds neither a telephone number nor a readable PASSporT. Nothing about a call is
//! written to the store, the logs or the transparency log.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vouch_cps::{Action, CpsError, CpsToken, Expect, HpkePublicKey, Item, NamingKey, RecordName, passports_digest};
use vouch_registry::{EventBody, ProviderId};
use vouch_shaken::Tn;
use vouch_store::CpsKeyRow;

use crate::voice::require_self_voice;
use crate::{CallAuth, Principal, ServiceError};

/// Whether the CPS accepts PASSporTs in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpsPrivacy {
    /// Sealed items (privacy mode) and PASSporTs in the clear (the standard flow).
    Optional,
    /// Sealed items only.
    Required,
}

/// The CPS's settings.
#[derive(Debug, Clone)]
pub struct CpsConfig {
    /// The `aud` tokens must name: this CPS's public URL.
    pub audience: String,
    /// The secret records are named with (at least 32 bytes; the same on every node).
    pub naming_key: Vec<u8>,
    /// Whether PASSporTs in the clear are accepted.
    pub privacy: CpsPrivacy,
    /// How long an item is held, seconds (1 to 300).
    pub ttl: i64,
    /// The most records held at once; publishes beyond are refused (503).
    pub max_records: usize,
    /// The most bytes of items held at once; publishes beyond are refused (503).
    pub max_bytes: usize,
}

/// Items one publisher may have in one record (its oldest goes).
const ITEMS_PER_PUBLISHER: usize = 10;
/// Publishers one record may hold items of (originating, and intermediate ones).
const PUBLISHERS_PER_RECORD: usize = 4;
/// `jti`s remembered at once, at most (tokens beyond are refused, 503).
const MAX_JTIS: usize = 8_000_000;
const SHARDS: usize = 16;

struct Held {
    item: Arc<str>,
    expires: i64,
    /// The publisher's SPC.
    publisher: Box<str>,
}

// Never print what is held (a PASSporT names the call's numbers).
impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({} bytes, expires {})", self.item.len(), self.expires)
    }
}

#[derive(Default)]
struct Shard {
    records: HashMap<RecordName, Vec<Held>>,
    expiry: BinaryHeap<Reverse<(i64, RecordName)>>,
    /// `spc \0 jti` of accepted tokens, until they expire.
    jtis: HashMap<Box<str>, i64>,
    jti_expiry: BinaryHeap<Reverse<(i64, Box<str>)>>,
}

/// What a publish stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Items this publish stored.
    pub items: usize,
    /// When the items just published expire, Unix seconds.
    pub expires: i64,
    /// Whether they were sealed (privacy mode).
    pub sealed: bool,
}

/// The Call Placement Service.
pub struct Cps {
    callauth: Arc<CallAuth>,
    audience: String,
    privacy: CpsPrivacy,
    ttl: i64,
    max_records: usize,
    max_bytes: usize,
    naming: NamingKey,
    shards: Vec<Mutex<Shard>>,
    records: AtomicUsize,
    bytes: AtomicUsize,
    jtis: AtomicUsize,
}

impl std::fmt::Debug for Cps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cps").field("audience", &self.audience).field("records", &self.records()).finish()
    }
}

/// Removes the items expired by `now`; returns the bytes they held.
fn drop_expired(held: &mut Vec<Held>, now: i64) -> usize {
    let mut freed = 0;
    held.retain(|h| {
        let keep = h.expires > now;
        if !keep {
            freed += h.item.len();
        }
        keep
    });
    freed
}

/// A path's SPC: digits and upper-case letters, as certificates and the registry write SPCs.
/// A lower-case one is refused rather than upper-cased, so that one call has one path (a load
/// balancer that hashes paths sends its publish and its retrieval to the same node), and so
/// that a publish cannot land in a record its provider's retrievals never name.
fn spc_of_path(spc: &str) -> Result<&str, CpsError> {
    if (1..=16).contains(&spc.len()) && spc.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) {
        Ok(spc)
    } else {
        Err(CpsError::Body(format!("{spc:?} is not an SPC (1 to 16 digits or upper-case letters)")))
    }
}

/// A path's number: canonical digits only (no `+`, separators or percent-encoding), made
/// global as US equipment means it ([`Tn::nanp_global`]): a ten-digit North American number
/// written nationally names the same record as with country code 1.
fn tn_of_path(what: &str, s: &str) -> Result<Tn, CpsError> {
    Tn::from_canonical(s).map(Tn::nanp_global).map_err(|_| {
        CpsError::Body(format!("the path's {what} {s:?} is not a telephone number in digits (no '+' or separators)"))
    })
}

/// A PASSporT's `orig`, for a problem's detail.
fn origin_text(o: &vouch_shaken::Origin) -> String {
    match o {
        vouch_shaken::Origin::Tn(tn) => tn.to_string(),
        vouch_shaken::Origin::Uri(uri) => format!("uri {uri}"),
    }
}

fn bearer(authorization: Option<&str>) -> Result<&str, CpsError> {
    let value = authorization.ok_or_else(|| CpsError::Token("no Authorization: Bearer token".into()))?;
    let (scheme, token) =
        value.trim().split_once(' ').ok_or_else(|| CpsError::Token("Authorization must be Bearer <token>".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(CpsError::Token(format!("Authorization scheme {scheme:?} is not Bearer")));
    }
    Ok(token.trim())
}

impl Cps {
    /// A CPS verifying tokens with `callauth`'s trust list and certificate cache.
    pub fn new(callauth: Arc<CallAuth>, config: CpsConfig) -> Result<Arc<Self>, CpsError> {
        if !(1..=300).contains(&config.ttl) {
            return Err(CpsError::Body(format!("the CPS ttl must be 1 to 300 seconds, not {}", config.ttl)));
        }
        Ok(Arc::new(Self {
            naming: NamingKey::new(&config.naming_key)?,
            callauth,
            audience: config.audience,
            privacy: config.privacy,
            ttl: config.ttl,
            max_records: config.max_records,
            max_bytes: config.max_bytes,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            records: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            jtis: AtomicUsize::new(0),
        }))
    }

    /// The `aud` value tokens must carry.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Whether PASSporTs in the clear are refused.
    pub fn privacy(&self) -> CpsPrivacy {
        self.privacy
    }

    /// Records held now.
    pub fn records(&self) -> usize {
        self.records.load(Ordering::Relaxed)
    }

    fn shard(&self, name: &RecordName) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[usize::from(name.0[0]) % SHARDS].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the token of a request on the record (`spc`, `dest`, `orig`): claims against the
    /// request and the clock, then the certificate chain and the signature, the SPC, and last
    /// the `jti` (so that a token that does not authenticate cannot use up a `jti`).
    async fn authorize(
        &self,
        authorization: Option<&str>,
        action: Action,
        dest: &Tn,
        orig: &Tn,
        digest: Option<&str>,
    ) -> Result<CpsToken, CpsError> {
        let token = CpsToken::decode(bearer(authorization)?)?;
        let now = self.callauth.now_secs();
        token.check(&Expect {
            now,
            freshness: self.callauth.freshness(),
            action,
            audience: &self.audience,
            orig,
            dest,
            passports: digest,
        })?;
        let chain = self.callauth.chain(&token.x5u).await.map_err(|f| CpsError::Certificate(f.desc))?;
        let signer = self
            .callauth
            .trusted_signer(&token.x5u, &chain, token.claims.iat, now)
            .map_err(|e| CpsError::Certificate(e.to_string()))?;
        signer.verify(token.signing_input(), token.signature()).map_err(|_| CpsError::BadSignature)?;
        if token.claims.spc != signer.spc {
            return Err(CpsError::SpcMismatch { token: token.claims.spc.clone(), certificate: signer.spc.clone() });
        }
        let key: Box<str> = format!("{}\0{}", token.claims.spc, token.claims.jti).into();
        let idx = key.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b))) % SHARDS;
        let mut shard = self.shards[idx].lock().unwrap_or_else(|e| e.into_inner());
        match shard.jtis.get(&key) {
            Some(&exp) if exp > now => return Err(CpsError::Replay),
            _ => {}
        }
        if self.jtis.load(Ordering::Relaxed) >= MAX_JTIS {
            return Err(CpsError::Unavailable(
                "the CPS remembers its limit of tokens; try again in a few seconds".into(),
            ));
        }
        if shard.jtis.insert(key.clone(), token.claims.exp).is_none() {
            self.jtis.fetch_add(1, Ordering::Relaxed);
        }
        shard.jti_expiry.push(Reverse((token.claims.exp, key)));
        Ok(token)
    }

    /// Verifies each PASSporT in the clear (with its index in the body) as a terminating
    /// verifier would, against the certificate chain at **its own** `x5u`, whoever publishes it
    /// (a gateway may publish the originating provider's PASSporT, RFC 8816 / ATIS-1000096): the
    /// chain through [`CallAuth`]'s cache and its validation (trust list, SHAKEN certificate
    /// profile, revocation), the signature, and for `ppt` `shaken` its claims and numbers. The
    /// chains are fetched at once, so a body pointing at several repositories waits for one
    /// fetch budget.
    async fn verify_items(
        &self,
        items: Vec<(usize, Box<vouch_shaken::Passport>)>,
        orig: &Tn,
        dest: &Tn,
        now: i64,
    ) -> Result<(), CpsError> {
        if items.len() > 1 {
            let mut urls: Vec<&str> = items.iter().map(|(_, p)| p.header().x5u.as_str()).collect();
            urls.sort_unstable();
            urls.dedup();
            futures_util::future::join_all(urls.iter().map(|u| self.callauth.chain(u))).await;
        }
        for (index, passport) in items {
            let unverified = |problem: String| CpsError::Unverified { index, problem };
            let x5u = passport.header().x5u.clone();
            let chain = self.callauth.chain(&x5u).await.map_err(|f| unverified(f.desc))?;
            let iat = passport.claims().iat;
            let signer = self
                .callauth
                .trusted_signer(&x5u, &chain, iat, now)
                .map_err(|e| unverified(format!("its certificate at {x5u}: {e}")))?;
            if passport.header().ppt.as_deref() == Some(vouch_shaken::passport::PPT_SHAKEN) {
                passport.require_shaken().map_err(|e| unverified(e.to_string()))?;
                let opts = vouch_shaken::VerifyOptions {
                    now,
                    freshness: self.callauth.freshness(),
                    require_crl: false,
                    orig: Some(orig.clone()),
                    dest: vec![dest.clone()],
                };
                vouch_shaken::verify_with_signer(*passport, &signer, &opts).map_err(|e| unverified(e.to_string()))?;
            } else {
                // Another PASSporT type (div, rcd…): its signature, over the bytes received.
                let (input, signature) = passport.as_str().rsplit_once('.').unwrap_or_default();
                let signature = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
                signer
                    .verify(input.as_bytes(), &signature)
                    .map_err(|_| unverified(format!("the signature does not verify with the certificate at {x5u}")))?;
            }
        }
        Ok(())
    }

    /// `POST /passports/{spc}/{dest}/{orig}`: stores the body's `passports` for the provider
    /// `spc`'s call from `orig` to `dest`.
    pub async fn publish(
        &self,
        authorization: Option<&str>,
        spc: &str,
        dest: &str,
        orig: &str,
        body: &[u8],
    ) -> Result<Published, CpsError> {
        let spc = spc_of_path(spc)?;
        let (dest, orig) = (tn_of_path("called number", dest)?, tn_of_path("calling number", orig)?);
        let passports = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(mut m)) => match m.remove("passports") {
                Some(serde_json::Value::Array(a)) if !a.is_empty() && a.len() <= vouch_cps::record::MAX_ITEMS => a
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => Ok(s),
                        _ => Err(CpsError::Body("passports must hold strings".into())),
                    })
                    .collect::<Result<Vec<String>, _>>()?,
                _ => {
                    return Err(CpsError::Body(format!(
                        "passports must be an array of 1 to {} PASSporTs",
                        vouch_cps::record::MAX_ITEMS
                    )));
                }
            },
            _ => return Err(CpsError::Body("the body must be a JSON object {\"passports\": [...]}".into())),
        };
        let digest = passports_digest(&passports)?;
        let token = self.authorize(authorization, Action::Publish, &dest, &orig, Some(&digest)).await?;
        let publisher: Box<str> = token.claims.spc.as_str().into();
        let now = self.callauth.now_secs();
        let mut expires = now.saturating_add(self.ttl);
        let mut sealed = true;
        let mut plain = Vec::new();
        for (index, p) in passports.iter().enumerate() {
            match Item::parse(p)? {
                Item::Sealed => {}
                Item::Plain(passport) => {
                    sealed = false;
                    if self.privacy == CpsPrivacy::Required {
                        return Err(CpsError::Body(
                            "this CPS runs in privacy mode: publish PASSporTs sealed to the terminating provider (hpke1.…)"
                                .into(),
                        ));
                    }
                    let claims = passport.claims();
                    match &claims.orig {
                        vouch_shaken::Origin::Tn(tn) if tn.same_number(&orig) => {}
                        other => {
                            return Err(CpsError::NumberMismatch {
                                claim: "PASSporT orig",
                                token: origin_text(other),
                                path: orig.to_string(),
                            });
                        }
                    }
                    if !claims.dest.tn.iter().any(|d| d.same_number(&dest)) {
                        return Err(CpsError::NumberMismatch {
                            claim: "PASSporT dest",
                            token: claims.dest.tn.iter().map(Tn::as_str).collect::<Vec<_>>().join(","),
                            path: dest.to_string(),
                        });
                    }
                    let age = now.saturating_sub(claims.iat);
                    if age > self.callauth.freshness() || age < -vouch_cps::token::CLOCK_SKEW {
                        return Err(CpsError::Body(format!(
                            "the PASSporT is not fresh (iat {}, {age} s from the CPS's clock): a CPS holds PASSporTs of calls being placed",
                            claims.iat
                        )));
                    }
                    expires = expires.min(claims.iat.saturating_add(self.ttl));
                    plain.push((index, passport));
                }
            }
        }
        self.verify_items(plain, &orig, &dest, now).await?;
        if expires <= now {
            return Err(CpsError::Body(format!(
                "the PASSporT would expire on arrival (iat + {} s is past); publish while the call is placed",
                self.ttl
            )));
        }
        let size: usize = passports.iter().map(String::len).sum();
        if self.bytes.load(Ordering::Relaxed).saturating_add(size) > self.max_bytes {
            return Err(CpsError::Unavailable(format!(
                "the CPS holds {} MiB of PASSporTs, its limit; try again in a few seconds",
                self.max_bytes >> 20
            )));
        }
        let name = self.naming.name(spc, &dest, &orig);
        let mut shard = self.shard(&name);
        let fresh = !shard.records.contains_key(&name);
        if fresh && self.records.load(Ordering::Relaxed) >= self.max_records {
            return Err(CpsError::Unavailable(format!(
                "the CPS holds {} records, its limit; try again in a few seconds",
                self.max_records
            )));
        }
        let held = shard.records.entry(name).or_default();
        let mut freed = drop_expired(held, now);
        let others = {
            let mut p: Vec<&str> = held.iter().map(|h| &*h.publisher).filter(|p| **p != *publisher).collect();
            p.sort_unstable();
            p.dedup();
            p.len()
        };
        if others >= PUBLISHERS_PER_RECORD {
            self.bytes.fetch_sub(freed, Ordering::Relaxed);
            if held.is_empty() {
                shard.records.remove(&name);
            }
            return Err(CpsError::Unavailable(format!(
                "this call's record holds PASSporTs of {PUBLISHERS_PER_RECORD} other publishers"
            )));
        }
        let items = passports.len();
        for p in passports {
            held.push(Held { item: p.into(), expires, publisher: publisher.clone() });
        }
        // At most ITEMS_PER_PUBLISHER of this publisher's: its oldest go.
        let mine = held.iter().filter(|h| h.publisher == publisher).count();
        let mut drop = mine.saturating_sub(ITEMS_PER_PUBLISHER);
        held.retain(|h| {
            if drop > 0 && h.publisher == publisher {
                drop -= 1;
                freed += h.item.len();
                false
            } else {
                true
            }
        });
        self.bytes.fetch_add(size, Ordering::Relaxed);
        self.bytes.fetch_sub(freed, Ordering::Relaxed);
        shard.expiry.push(Reverse((expires, name)));
        if fresh {
            let n = self.records.fetch_add(1, Ordering::Relaxed) + 1;
            metrics::gauge!("vouch_cps_records").set(n as f64);
        }
        metrics::counter!("vouch_cps_published_total", "sealed" => if sealed { "true" } else { "false" }).increment(1);
        Ok(Published { items, expires, sealed })
    }

    /// `GET /passports/{spc}/{dest}/{orig}`: the items held for the provider `spc`'s call from
    /// `orig` to `dest`. Only `spc` itself may retrieve them.
    pub async fn retrieve(
        &self,
        authorization: Option<&str>,
        spc: &str,
        dest: &str,
        orig: &str,
    ) -> Result<Vec<String>, CpsError> {
        let spc = spc_of_path(spc)?;
        let (dest, orig) = (tn_of_path("called number", dest)?, tn_of_path("calling number", orig)?);
        let token = self.authorize(authorization, Action::Retrieve, &dest, &orig, None).await?;
        if token.claims.spc != spc {
            return Err(CpsError::NotYours { caller: token.claims.spc, path: spc.to_owned() });
        }
        let found = self.held(spc, &dest, &orig);
        metrics::counter!("vouch_cps_retrieved_total", "found" => if found.is_empty() { "false" } else { "true" })
            .increment(1);
        if found.is_empty() { Err(CpsError::NotFound) } else { Ok(found) }
    }

    /// The unexpired items held for (`spc`, `dest`, `orig`), without a token: for this node's
    /// own SIP verifier.
    pub fn held(&self, spc: &str, dest: &Tn, orig: &Tn) -> Vec<String> {
        let now = self.callauth.now_secs();
        let name = self.naming.name(spc, &dest.clone().nanp_global(), &orig.clone().nanp_global());
        let shard = self.shard(&name);
        shard
            .records
            .get(&name)
            .map(|v| v.iter().filter(|h| h.expires > now).map(|h| h.item.to_string()).collect())
            .unwrap_or_default()
    }

    /// Deletes what expired by now: items, records left empty, and `jti`s. Returns the items
    /// deleted.
    pub fn sweep(&self) -> usize {
        let now = self.callauth.now_secs();
        let mut deleted = 0;
        for i in 0..SHARDS {
            loop {
                let (d, more) = self.sweep_shard(i, now, usize::MAX);
                deleted += d;
                if !more {
                    break;
                }
            }
        }
        self.swept(deleted);
        deleted
    }

    fn swept(&self, deleted: usize) {
        if deleted > 0 {
            metrics::counter!("vouch_cps_expired_total").increment(deleted as u64);
        }
        metrics::gauge!("vouch_cps_records").set(self.records() as f64);
    }

    /// Up to `budget` expiry entries (records and `jti`s) of one shard, under its lock: the
    /// items deleted, and whether expired entries remain.
    fn sweep_shard(&self, i: usize, now: i64, budget: usize) -> (usize, bool) {
        let mut guard = self.shards[i].lock().unwrap_or_else(|e| e.into_inner());
        let s = &mut *guard;
        let (mut deleted, mut work) = (0, 0);
        while let Some(Reverse((exp, name))) = s.expiry.peek().cloned() {
            if exp > now {
                break;
            }
            if work == budget {
                return (deleted, true);
            }
            work += 1;
            s.expiry.pop();
            if let Some(held) = s.records.get_mut(&name) {
                let before = held.len();
                let freed = drop_expired(held, now);
                self.bytes.fetch_sub(freed, Ordering::Relaxed);
                deleted += before - held.len();
                if held.is_empty() {
                    s.records.remove(&name);
                    self.records.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        while let Some(Reverse((exp, _))) = s.jti_expiry.peek() {
            if *exp > now {
                break;
            }
            if work == budget {
                return (deleted, true);
            }
            work += 1;
            if let Some(Reverse((exp, key))) = s.jti_expiry.pop()
                && s.jtis.get(&key).is_some_and(|&e| e <= exp)
            {
                s.jtis.remove(&key);
                self.jtis.fetch_sub(1, Ordering::Relaxed);
            }
        }
        // Give memory back after a burst, but not on every pass: a shrink rehashes the whole
        // map under the shard's lock.
        if s.records.capacity() > 8 * (s.records.len() + 4096) {
            s.records.shrink_to(2 * (s.records.len() + 4096));
        }
        if s.jtis.capacity() > 8 * (s.jtis.len() + 4096) {
            s.jtis.shrink_to(2 * (s.jtis.len() + 4096));
        }
        (deleted, false)
    }

    /// Sweeps every second until `stop` resolves, a few hundred entries per lock and yielding
    /// in between, so that a second in which many calls expire does not stall requests.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = every.tick() => {
                    let now = self.callauth.now_secs();
                    let mut deleted = 0;
                    for i in 0..SHARDS {
                        loop {
                            let (d, more) = self.sweep_shard(i, now, 256);
                            deleted += d;
                            tokio::task::yield_now().await;
                            if !more {
                                break;
                            }
                        }
                    }
                    self.swept(deleted);
                }
            }
        }
    }

    /// Registers `provider`'s HPKE public key (an uncompressed P-256 point in base64url, or a
    /// `PUBLIC KEY` PEM), replacing the last one.
    pub async fn register_key(
        &self,
        p: &Principal,
        provider: ProviderId,
        public_key: &str,
    ) -> Result<CpsKeyRow, ServiceError> {
        // The provider itself only: a key the operator registered for it would let the
        // operator read what is sealed to it.
        match p {
            Principal::Provider { id, .. } if *id == provider => require_self_voice(p, provider)?,
            _ => {
                return Err(ServiceError::Forbidden(format!(
                    "only provider {provider} itself can register the key PASSporTs for it are sealed to"
                )));
            }
        }
        let registry = self.callauth.registry();
        if registry.provider_row(provider).and_then(|r| r.registration.spc).is_none() {
            return Err(ServiceError::invalid(
                "provider",
                "only a voice provider with a registered SPC can receive sealed PASSporTs",
            ));
        }
        let text = public_key.trim();
        let key = if text.starts_with("-----BEGIN") {
            HpkePublicKey::from_spki_pem_or_der(text.as_bytes())
        } else {
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| CpsError::Key("publicKey is neither base64url nor a PUBLIC KEY PEM".into()))
                .and_then(|b| HpkePublicKey::from_sec1(&b))
        }
        .map_err(|e| ServiceError::invalid("publicKey", e.to_string()))?;
        let point = URL_SAFE_NO_PAD.encode(key.as_bytes());
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        let key_id: String = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        let mut w = registry.write_lock().await?;
        let mut tx = registry.begin(&mut w).await?;
        tx.append(
            p.actor(),
            EventBody::CpsKeyRegistered { provider_id: provider, key_id: key_id.clone(), public_key: point.clone() },
        )
        .await?;
        let events = tx.commit().await?;
        registry.committed(&events).await?;
        let created = events.first().map(|e| e.time).unwrap_or_else(|| registry.now());
        Ok(CpsKeyRow { provider_id: provider, key_id, public_key: point, created })
    }

    /// The HPKE key of the provider registered with `spc`, for publishers in privacy mode.
    pub async fn key_of(&self, spc: &str) -> Result<Option<(String, CpsKeyRow)>, ServiceError> {
        let registry = self.callauth.registry();
        let Some((provider, _)) = registry.provider_by_spc(spc) else { return Ok(None) };
        Ok(registry.store().cps_key(provider).await?.map(|row| (spc.to_owned(), row)))
    }
}
