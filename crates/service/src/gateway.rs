//! The SMPP gateway's service: CSP accounts (issued through the REST API, passwords kept as
//! PBKDF2), the registry facts each message is checked against, opt-outs kept in the store,
//! and decision records written in batches and deleted after the retention.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::recorder::{BatchPolicy, BatchWrite, Recorder};
use aws_lc_rs::pbkdf2;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use jiff::Timestamp;
use vouch_gateway::{
    CampaignRules, DailyTier, DestinationKey, DestinationKeyer, Gateway, GatewayConfig, Keyword, SourceFacts,
    Submission, Usage, UsageKey, Verdict,
};
use vouch_registry::{BrandId, CampaignId, CampaignSlot, EventBody, ProviderId, Role, TelephoneNumber};
use vouch_smpp::{Address, CommandStatus};
use vouch_store::{CampaignRow, GatewayMinute, GatewayRecord, RecordFilter, SmppAccountRow, UsageRow};

use crate::auth::random_chars;
use crate::{ConflictKind, Principal, Registry, ServiceError, store_conflict};

/// PBKDF2-HMAC-SHA256 rounds for SMPP passwords (a bind is rare; a message never hashes).
const PBKDF2_ROUNDS: u32 = 20_000;

/// An account and, once, its password: when the account is issued and when its password is
/// rotated.
#[derive(Debug, Clone)]
pub struct IssuedSmppAccount {
    /// The account.
    pub account: SmppAccountRow,
    /// The password (8 characters, the most SMPP 3.4 carries); shown once.
    pub password: String,
}

/// An ESME that bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundAccount {
    /// `system_id`.
    pub system_id: String,
    /// Its CSP.
    pub provider: ProviderId,
}

/// What the gateway decided about one message, with what its record needs.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The source number as recorded: E.164 when the address is a number, else as sent.
    pub source: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The campaign holding the source number.
    pub campaign: Option<CampaignSlot>,
    /// The destination's keyed hash.
    pub dest: Option<DestinationKey>,
    /// The content's SimHash.
    pub fingerprint: u64,
}

/// What to do with a message from a subscriber (a deliver_sm from upstream, not a receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MobileOriginated {
    /// The campaign holding the number the subscriber wrote to.
    pub campaign: Option<CampaignSlot>,
    /// The keyword, if the message is one.
    pub keyword: Option<Keyword>,
    /// The answer to send back (help message, opt-out confirmation).
    pub reply: Option<String>,
}

/// Rules and facts the gateway reads per message, kept current after each commit.
#[derive(Debug, Default)]
pub(crate) struct GatewayFacts {
    pub(crate) rules: HashMap<CampaignId, Arc<CampaignRules>>,
    pub(crate) tiers: HashMap<BrandId, DailyTier>,
    /// Suspended numbers.
    pub(crate) suspended: std::collections::HashSet<TelephoneNumber>,
}

impl GatewayFacts {
    /// Whether `number` itself is suspended (no hashing while none is).
    fn is_suspended(&self, number: TelephoneNumber) -> bool {
        !self.suspended.is_empty() && self.suspended.contains(&number)
    }
}

pub(crate) fn campaign_rules(c: &CampaignRow) -> CampaignRules {
    let words = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .map(|s| s.split(',').map(|w| w.trim().to_uppercase()).filter(|w| !w.is_empty()).collect())
            .unwrap_or_default()
    };
    let d = &c.details;
    CampaignRules {
        embedded_link: d.embedded_link,
        embedded_phone: d.embedded_phone,
        optout_keywords: words(&d.optout_keywords),
        help_keywords: words(&d.help_keywords),
        help_message: d.help_message.clone(),
        optout_message: d.optout_message.clone(),
    }
}

pub(crate) fn brand_tier(b: &vouch_store::BrandRow) -> DailyTier {
    DailyTier::of(b.score, b.details.entity_type == vouch_registry::EntityType::SoleProprietor)
}

fn hash_password(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let mut out = [0u8; 32];
    let rounds = NonZeroU32::new(PBKDF2_ROUNDS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), &mut out);
    format!("pbkdf2-sha256${PBKDF2_ROUNDS}${}${}", B64.encode(salt), B64.encode(out))
}

fn verify_password(stored: &str, password: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(rounds), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(rounds), Ok(salt), Ok(hash)) =
        (rounds.parse().ok().and_then(NonZeroU32::new), B64.decode(salt), B64.decode(hash))
    else {
        return false;
    };
    pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), &hash).is_ok()
}

/// A new password (8 characters, the most SMPP 3.4 carries) and its PBKDF2 hash (computed off
/// the async threads).
async fn new_password() -> Result<(String, String), ServiceError> {
    let password = random_chars(b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789", 8);
    let hash = tokio::task::spawn_blocking({
        let password = password.clone();
        move || hash_password(&password)
    })
    .await
    .map_err(|e| ServiceError::invalid("password", e.to_string()))?;
    Ok((password, hash))
}

fn valid_system_id(s: &str) -> bool {
    (1..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Registry {
    fn may_manage_smpp(p: &Principal, id: ProviderId) -> Result<(), ServiceError> {
        Self::admin_or_self(p, id, "SMPP accounts")
    }

    /// Issues an SMPP account to a CSP (the administrator or the CSP itself); `system_id` is
    /// chosen by the caller (1-15 of `A-Za-z0-9_-`) or generated. A `system_id` equal to any
    /// account's ignoring ASCII case, of any CSP and revoked ones included, is refused as a
    /// duplicate: a revoked `system_id` is never issued again, and no two accounts differ
    /// only in case (binds still compare `system_id` exactly, as SMPP does).
    pub async fn issue_smpp_account(
        &self,
        p: &Principal,
        id: ProviderId,
        system_id: Option<String>,
    ) -> Result<IssuedSmppAccount, ServiceError> {
        Self::may_manage_smpp(p, id)?;
        let provider = self.store.provider(id).await?.ok_or_else(|| ServiceError::not_found("provider", id))?;
        if !provider.registration.roles.contains(&Role::Csp) {
            return Err(ServiceError::invalid("providerId", "SMPP accounts are for providers with the CSP role"));
        }
        let system_id = match system_id {
            Some(s) if valid_system_id(&s) => s,
            Some(_) => {
                return Err(ServiceError::invalid("systemId", "must be 1 to 15 characters of A-Z, a-z, 0-9, _ and -"));
            }
            None => format!("v{}", random_chars(b"abcdefghijkmnpqrstuvwxyz23456789", 10)),
        };
        let (password, hash) = new_password().await?;
        let mut w = self.write_lock().await?;
        let mut tx = self.begin(&mut w).await?;
        if tx.smpp_account_ignoring_case(&system_id).await?.is_some() {
            return Err(ServiceError::conflict(
                ConflictKind::DuplicateReference,
                "this systemId is taken (system_ids are compared ignoring case, revoked ones included)",
            ));
        }
        tx.insert_smpp_account(&system_id, id, &hash)
            .await
            .map_err(store_conflict(ConflictKind::DuplicateReference, "this systemId is taken"))?;
        tx.append(p.actor(), EventBody::SmppAccountIssued { provider_id: id, system_id: system_id.clone() }).await?;
        let events = tx.commit().await?;
        self.committed(&events).await?;
        let created = events.last().map_or_else(|| self.now(), |e| e.time);
        let account = SmppAccountRow { system_id, provider_id: id, created, revoked: None };
        Ok(IssuedSmppAccount { account, password })
    }

    /// A CSP's SMPP accounts, without passwords.
    pub async fn smpp_accounts(&self, p: &Principal, id: ProviderId) -> Result<Vec<SmppAccountRow>, ServiceError> {
        Self::may_manage_smpp(p, id)?;
        Ok(self.store.smpp_accounts(Some(id)).await?)
    }

    /// Replaces the password of an active SMPP account (the administrator or the account's
    /// CSP): the answer holds the new password, once. Binds with the old one fail from the
    /// commit on; sessions already bound stay bound. A revoked account, like an unknown one or
    /// one of another CSP, is not found.
    pub async fn rotate_smpp_password(
        &self,
        p: &Principal,
        id: ProviderId,
        system_id: &str,
    ) -> Result<IssuedSmppAccount, ServiceError> {
        Self::may_manage_smpp(p, id)?;
        let (password, hash) = new_password().await?;
        let mut w = self.write_lock().await?;
        let account = self
            .store
            .smpp_accounts(Some(id))
            .await?
            .into_iter()
            .find(|a| a.system_id == system_id && a.revoked.is_none())
            .ok_or_else(|| ServiceError::not_found("smpp account", system_id))?;
        let mut tx = self.begin(&mut w).await?;
        if !tx.set_smpp_password(system_id, &hash).await? {
            return Err(ServiceError::not_found("smpp account", system_id));
        }
        tx.append(p.actor(), EventBody::SmppAccountRotated { provider_id: id, system_id: system_id.to_owned() })
            .await?;
        self.committed(&tx.commit().await?).await?;
        Ok(IssuedSmppAccount { account, password })
    }

    /// Revokes an SMPP account (new binds are refused; bound sessions close at their next PDU).
    pub async fn revoke_smpp_account(
        &self,
        p: &Principal,
        id: ProviderId,
        system_id: &str,
    ) -> Result<(), ServiceError> {
        Self::may_manage_smpp(p, id)?;
        let mut w = self.write_lock().await?;
        if !self.store.smpp_accounts(Some(id)).await?.iter().any(|a| a.system_id == system_id && a.revoked.is_none()) {
            return Err(ServiceError::not_found("smpp account", system_id));
        }
        let mut tx = self.begin(&mut w).await?;
        tx.revoke_smpp_account(system_id).await?;
        tx.append(p.actor(), EventBody::SmppAccountRevoked { provider_id: id, system_id: system_id.to_owned() })
            .await?;
        self.committed(&tx.commit().await?).await?;
        Ok(())
    }

    /// Checks a bind's credentials: the account exists, is not revoked, its provider is a CSP,
    /// and the password matches.
    /// A store that cannot be read answers ESME_RSYSERR (try again), never ESME_RINVSYSID, which
    /// ESMEs take for a permanent credentials failure.
    pub async fn authenticate_smpp(&self, system_id: &str, password: &str) -> Result<BoundAccount, CommandStatus> {
        let (account, hash) = match self.store.smpp_account_secret(system_id).await {
            Ok(Some(found)) => found,
            Ok(None) => return Err(CommandStatus::ESME_RINVSYSID),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an SMPP account to check a bind");
                return Err(CommandStatus::ESME_RSYSERR);
            }
        };
        if account.revoked.is_some() {
            return Err(CommandStatus::ESME_RINVSYSID);
        }
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password)).await.unwrap_or(false);
        if !ok {
            return Err(CommandStatus::ESME_RINVPASWD);
        }
        let is_csp =
            self.facts().providers.get(&account.provider_id).is_some_and(|p| p.registration.roles.contains(&Role::Csp));
        if !is_csp {
            return Err(CommandStatus::ESME_RBINDFAIL);
        }
        Ok(BoundAccount { system_id: account.system_id, provider: account.provider_id })
    }

    /// Whether an SMPP account is still active (sessions check it now and then). Only a
    /// definite answer ends a session: while the store cannot be read, the account is taken to
    /// be as it was (a database blip does not unbind every ESME).
    pub async fn smpp_account_active(&self, system_id: &str) -> bool {
        match self.store.smpp_account_secret(system_id).await {
            Ok(Some((a, _))) => a.revoked.is_none(),
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an SMPP account to check it is still active");
                true
            }
        }
    }

    /// What the registry says of a source number now: its campaign (the index), the
    /// campaign's declaration and the brand's daily tier (memory).
    pub fn source_facts(&self, source: TelephoneNumber) -> SourceFacts {
        let campaign = self.index.lookup(source).map(|a| a.campaign);
        let g = self.gateway_facts();
        SourceFacts {
            rules: campaign.and_then(|c| g.rules.get(&c.id).cloned()),
            tier: campaign.and_then(|c| g.tiers.get(&c.brand).copied()).unwrap_or(DailyTier::Low),
            number_suspended: g.is_suspended(source),
            campaign,
        }
    }

    /// Whether `number` itself is suspended, from memory.
    pub fn number_suspended(&self, number: TelephoneNumber) -> bool {
        self.gateway_facts().is_suspended(number)
    }

    /// A suspended number `campaign` holds, if any (a look at the few suspended numbers, not
    /// at the campaign's many).
    pub(crate) fn suspended_number_of(&self, campaign: CampaignId) -> Option<TelephoneNumber> {
        let suspended: Vec<TelephoneNumber> = self.gateway_facts().suspended.iter().copied().collect();
        suspended.into_iter().find(|n| self.index.lookup(*n).is_some_and(|a| a.campaign.id == campaign))
    }

    /// A campaign's declaration, from memory.
    pub fn campaign_rules(&self, id: CampaignId) -> Option<Arc<CampaignRules>> {
        self.gateway_facts().rules.get(&id).cloned()
    }
}

/// The SMPP gateway: the rules ([`Gateway`]), the registry, and the record writer.
#[derive(Debug)]
pub struct SmppGateway {
    registry: Arc<Registry>,
    gateway: Gateway,
    keyer: DestinationKeyer,
    records: Recorder<GatewayRecord>,
    /// Whether vouch is bound to each upstream SMSC now, by address (for `/healthz`).
    smscs: std::sync::RwLock<BTreeMap<String, bool>>,
}

impl SmppGateway {
    /// Opens the gateway: its secret (made at first start), the opt-outs, and the record
    /// writer and retention tasks (records older than `retention` are deleted hourly).
    pub async fn open(
        registry: Arc<Registry>,
        config: GatewayConfig,
        classifier: Option<Arc<dyn vouch_gateway::ContentClassifier>>,
        retention: jiff::SignedDuration,
    ) -> Result<Arc<Self>, ServiceError> {
        let store = registry.store().clone();
        match store.provider(config.dca).await? {
            Some(p) if p.registration.roles.contains(&Role::Dca) => {}
            Some(_) => {
                return Err(ServiceError::invalid("gatewayDca", format!("provider {} is not a DCA", config.dca)));
            }
            None => return Err(ServiceError::not_found("provider", config.dca)),
        }
        let secret = store.gateway_secret(&rand::random::<[u8; 32]>()).await?;
        let keyer = DestinationKeyer::new(&secret);
        let gateway = Gateway::new(config, classifier);
        let mut loaded = 0usize;
        for (campaign, key) in store.opt_outs().await? {
            if let Some(k) = parse_key(&key) {
                gateway.opt_out(campaign, k);
                loaded += 1;
            }
        }
        tracing::info!(opt_outs = loaded, "smpp gateway opened");
        let records = Recorder::spawn(
            GatewayRecordWriter { store: store.clone(), clusters: Default::default() },
            GATEWAY_RECORDS,
            GATEWAY_RECORDS.max_batch,
        );
        tokio::spawn(purge_records(store.clone(), registry.clone(), retention));
        let this = Arc::new(Self { registry, gateway, keyer, records, smscs: Default::default() });
        if store.is_shared() {
            this.gateway.throughput().share();
            tokio::spawn(follow_other_nodes(Arc::downgrade(&this)));
        } else {
            // Alone on its store: the brands' day counts are kept there, and taken up again at
            // start (an earlier process reads as another node), so that a restart does not
            // give every brand a fresh daily cap.
            let throughput = this.gateway.throughput();
            throughput.remember_days();
            let now = this.registry.now();
            let (day, _) = throughput.pacific_day(now);
            let earlier = store.others_gateway_usage(this.registry.node(), i64::MAX, day).await?;
            throughput.apply_others(&earlier.iter().filter_map(usage_of).collect::<Vec<_>>(), now);
            tokio::spawn(remember_days(Arc::downgrade(&this)));
        }
        Ok(this)
    }

    /// Notes whether vouch is bound to the SMSC at `addr` (the socket adapter says so as its
    /// sessions come and go).
    pub fn set_smsc_bound(&self, addr: &str, bound: bool) {
        self.smscs.write().unwrap_or_else(|e| e.into_inner()).insert(addr.to_owned(), bound);
    }

    /// Whether vouch is bound to each upstream SMSC now, by address.
    pub fn smscs_bound(&self) -> BTreeMap<String, bool> {
        self.smscs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The rules.
    pub fn rules(&self) -> &Gateway {
        &self.gateway
    }

    /// Checks one message (all its parts) from `account`.
    pub fn check(
        &self,
        account: &BoundAccount,
        source: &Address<'_>,
        dest: &Address<'_>,
        text: &str,
        parts: u32,
    ) -> Checked {
        let fingerprint = vouch_gateway::simhash(text);
        let source_number = vouch_gateway::address_number(source);
        let label = label_of(source_number, source);
        let Some(dest_number) = vouch_gateway::address_number(dest) else {
            let verdict = Verdict::Reject(vouch_gateway::Reason {
                status: CommandStatus::ESME_RINVDSTADR,
                detail: "the destination is not a telephone number".into(),
            });
            return Checked { source: label, verdict, campaign: None, dest: None, fingerprint };
        };
        let dest_key = self.keyer.key(dest_number);
        let Some(source) = source_number else {
            let verdict = Verdict::Reject(vouch_gateway::Reason {
                status: CommandStatus::ESME_RINVSRCADR,
                detail: "the source is not a telephone number".into(),
            });
            return Checked { source: label, verdict, campaign: None, dest: Some(dest_key), fingerprint };
        };
        let facts = self.registry.source_facts(source);
        let dest_also = vouch_gateway::address_number_alternative(dest).map(|n| self.keyer.key(n));
        let m = Submission {
            csp: account.provider,
            source,
            dest: dest_key,
            dest_also,
            text,
            parts,
            now: self.registry.now(),
        };
        let verdict = self.gateway.check(&facts, &m);
        let status = verdict.reason().map_or(CommandStatus::ESME_ROK, |r| r.status);
        metrics::counter!("vouch_gateway_decisions_total", "verdict" => verdict.as_str(), "status" => status.name())
            .increment(u64::from(parts.max(1)));
        // Another CSP's campaign is not named in this account's records.
        let campaign = facts.campaign.filter(|_| status != CommandStatus::VOUCH_WRONG_CSP);
        Checked { source: label, verdict, campaign, dest: Some(dest_key), fingerprint }
    }

    /// The SMSC refused a message that the checks let through: it was not sent, so the
    /// campaign's rate and the brand's day get back what it spent.
    pub fn refused_upstream(&self, checked: &Checked, parts: u32) {
        if !checked.verdict.spent_budget() {
            return;
        }
        let (Some(campaign), Ok(source)) = (checked.campaign.as_ref(), checked.source.parse::<TelephoneNumber>())
        else {
            return;
        };
        self.gateway.give_back(campaign, source, parts, self.registry.now());
    }

    /// Queues the record of a decision (waits when the writer is behind: records are not dropped).
    pub async fn record(&self, account: &BoundAccount, checked: &Checked, parts: u32, message_id: Option<String>) {
        if let Err(rec) = self.try_record(account, checked, parts, message_id) {
            self.queue_record(*rec).await;
        }
    }

    /// [`SmppGateway::record`] without waiting: the record is queued if the writer has room,
    /// else given back for [`SmppGateway::queue_record`] (the forwarding path answers the ESME
    /// only once its record is queued, so that a writer falling behind slows the ESMEs down).
    pub fn try_record(
        &self,
        account: &BoundAccount,
        checked: &Checked,
        parts: u32,
        message_id: Option<String>,
    ) -> Result<(), Box<GatewayRecord>> {
        let (status, detail) = checked.verdict.reason().map_or((0, String::new()), |r| (r.status.0, r.detail.clone()));
        let rec = GatewayRecord {
            at: self.registry.now(),
            system_id: account.system_id.clone(),
            provider_id: account.provider,
            source: checked.source.clone(),
            campaign_id: checked.campaign.map(|c| c.id),
            dest_key: checked.dest.map_or_else(String::new, DestinationKey::to_hex),
            fingerprint: format!("{:016x}", checked.fingerprint),
            parts,
            verdict: checked.verdict.as_str().to_owned(),
            status,
            detail,
            message_id,
        };
        self.records.try_record(rec).map_err(Box::new)
    }

    /// Queues a record that [`SmppGateway::try_record`] gave back, waiting for room.
    pub async fn queue_record(&self, record: GatewayRecord) {
        self.records.record(record).await;
    }

    /// Writes every record queued so far (before a records query, and in tests).
    pub async fn flush(&self) {
        self.records.flush().await;
    }

    /// Before shutting down: writes every record queued so far and this node's throughput
    /// totals (what `remember_days` or `follow_other_nodes` would have written next).
    pub async fn close(&self) {
        self.records.flush().await;
        self.write_usage().await;
    }

    /// Writes what this node took since the last call (the totals
    /// [`vouch_gateway::Throughput::take_usage`] gives).
    async fn write_usage(&self) {
        let rows: Vec<UsageRow> =
            self.gateway.throughput().take_usage().into_iter().map(|u| usage_row(u.key, u.period, u.count)).collect();
        if !rows.is_empty()
            && let Err(e) = self.registry.store().put_gateway_usage(self.registry.node(), &rows).await
        {
            tracing::warn!(error = %e, "cannot write the brands' day counts");
        }
    }

    /// Handles a message from a subscriber to a number: records an opt-out or opt-in for the
    /// number's campaign, and says what to answer.
    pub async fn mobile_originated(
        &self,
        subscriber: &Address<'_>,
        to: &Address<'_>,
        text: &str,
    ) -> Result<MobileOriginated, ServiceError> {
        let (Some(subscriber), Some(to)) =
            (vouch_gateway::address_number(subscriber), vouch_gateway::address_number(to))
        else {
            return Ok(MobileOriginated { campaign: None, keyword: None, reply: None });
        };
        let Some(campaign) = self.registry.index().lookup(to).map(|a| a.campaign) else {
            return Ok(MobileOriginated { campaign: None, keyword: None, reply: None });
        };
        let rules = self.registry.campaign_rules(campaign.id).unwrap_or_default();
        let keyword = vouch_gateway::optout::keyword(text, &rules.optout_keywords, &rules.help_keywords);
        let key = self.keyer.key(subscriber);
        let now = self.registry.now();
        // This node honours a STOP at once, whatever the store does; then it is written for the
        // other nodes and the next start.
        let reply = match keyword {
            Some(Keyword::OptOut) => {
                self.gateway.opt_out(campaign.id, key);
                self.share_opt_out(campaign.id, key, true, now).await?;
                metrics::counter!("vouch_gateway_opt_outs_total").increment(1);
                rules.optout_message.clone()
            }
            Some(Keyword::OptIn) => {
                self.gateway.opt_in(campaign.id, key);
                self.share_opt_out(campaign.id, key, false, now).await?;
                None
            }
            Some(Keyword::Help) => rules.help_message.clone(),
            None => None,
        };
        Ok(MobileOriginated { campaign: Some(campaign), keyword, reply })
    }

    /// Writes an opt-out (or opt-in) for the other nodes, which read the rows of the last
    /// [`crate::follow::REREAD`] by their time: a write that waited long (for a connection of a
    /// busy pool) is written again with the time it landed, so that no node's reading misses it.
    async fn share_opt_out(
        &self,
        campaign: CampaignId,
        key: DestinationKey,
        out: bool,
        at: Timestamp,
    ) -> Result<(), ServiceError> {
        let store = self.registry.store();
        store.set_opt_out(campaign, &key.to_hex(), out, at).await?;
        let landed = self.registry.now();
        if landed.duration_since(at) > crate::follow::REREAD / 2 {
            store.set_opt_out(campaign, &key.to_hex(), out, landed).await?;
        }
        Ok(())
    }

    /// Decision records for traceback in `[since, until]`, newest first: the administrator and
    /// the gateway's DCA see all; a CSP sees those of its own accounts.
    pub async fn records(
        &self,
        p: &Principal,
        source: Option<TelephoneNumber>,
        since: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<GatewayRecord>, ServiceError> {
        let provider = self.whose_records(p)?;
        // Every decision made so far is in the answer (the writer otherwise batches a second).
        self.flush().await;
        let source = source.map(|s| s.to_string());
        let filter = RecordFilter { source: source.as_deref(), provider, since, until };
        Ok(self.registry.store().gateway_records(&filter, limit.clamp(1, 10_000)).await?)
    }

    /// The decisions per minute, verdict and command_status since `since`, newest minute first
    /// (the gateway's live figures; every node's decisions on a shared database): the
    /// administrator and the gateway's DCA see all, a CSP its own accounts'.
    pub async fn minutes(&self, p: &Principal, since: Timestamp) -> Result<Vec<GatewayMinute>, ServiceError> {
        let provider = self.whose_records(p)?;
        self.flush().await;
        Ok(self.registry.store().gateway_minutes(since, provider).await?)
    }

    /// Whose decisions `p` may read: everyone's (`None`) or one CSP's.
    fn whose_records(&self, p: &Principal) -> Result<Option<ProviderId>, ServiceError> {
        match p {
            Principal::Admin => Ok(None),
            Principal::Provider { id, .. } if *id == self.gateway.config().dca => Ok(None),
            Principal::Provider { id, roles } if roles.contains(&Role::Csp) => Ok(Some(*id)),
            Principal::Provider { .. } => Err(ServiceError::Forbidden(
                "gateway records are for the administrator, the gateway's DCA and CSPs (their own)".into(),
            )),
        }
    }
}

/// How a source address is recorded: E.164 when it is a number, else as sent.
pub fn source_label(a: &Address<'_>) -> String {
    label_of(vouch_gateway::address_number(a), a)
}

fn label_of(number: Option<TelephoneNumber>, a: &Address<'_>) -> String {
    number.map_or_else(|| a.addr.to_owned(), |n| n.to_string())
}

fn parse_key(hex: &str) -> Option<DestinationKey> {
    let mut out = [0u8; 16];
    if hex.len() != 32 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(DestinationKey(out))
}

/// How decisions are written: a batch a second (or of 65,536), so that a search for one number
/// seeks about once a second of its window (see `vouch_store::RECORD_BATCH_SPAN`).
const GATEWAY_RECORDS: BatchPolicy = BatchPolicy {
    max_batch: 65_536,
    interval: std::time::Duration::from_secs(1),
    max_pending: 1 << 21,
    what: "gateway records",
    written: "vouch_gateway_records_written_total",
    lost: "vouch_gateway_records_lost_total",
};

/// Writes decision records, with each campaign's traffic per minute beside them.
struct GatewayRecordWriter {
    store: vouch_store::Store,
    clusters: std::sync::Mutex<ContentClusters>,
}

impl BatchWrite<GatewayRecord> for GatewayRecordWriter {
    fn write<'a>(
        &'a self,
        batch: &'a [GatewayRecord],
    ) -> impl std::future::Future<Output = Result<(), vouch_store::StoreError>> + Send + 'a {
        let traffic = self.clusters.lock().unwrap_or_else(|e| e.into_inner()).count(batch);
        async move { self.store.insert_gateway_records(batch, &traffic).await }
    }
}

/// Most content clusters followed per campaign, and most sources counted per cluster.
const CLUSTERS_PER_CAMPAIGN: usize = 8;
const SOURCES_PER_CLUSTER: usize = 4_096;
/// A cluster nobody sent to for this long is forgotten.
const CLUSTER_IDLE_US: i64 = 3_600_000_000;

/// Messages of one campaign whose SimHashes are within [`crate::SIMILAR_BITS`] of the first
/// one seen, and the distinct numbers that sent them.
#[derive(Debug)]
struct Cluster {
    representative: u64,
    sources: std::collections::HashSet<String>,
    last_us: i64,
}

/// Near-identical content per campaign over the last hour, in memory (a restart starts over;
/// the stored per-minute figure keeps the largest seen).
#[derive(Debug, Default)]
struct ContentClusters(HashMap<CampaignId, Vec<Cluster>>);

impl ContentClusters {
    /// Counts `batch` per campaign and minute, and updates the clusters.
    fn count(&mut self, batch: &[GatewayRecord]) -> Vec<vouch_store::TrafficRow> {
        let mut rows: HashMap<(CampaignId, i64), vouch_store::TrafficRow> = HashMap::new();
        for r in batch {
            let Some(campaign) = r.campaign_id else { continue };
            let minute = vouch_store::TrafficRow::minute_of(r.at);
            let row = rows.entry((campaign, minute)).or_insert_with(|| vouch_store::TrafficRow {
                campaign_id: campaign,
                minute_us: minute,
                messages: 0,
                rejected: 0,
                similar_numbers: 0,
            });
            row.messages += u64::from(r.parts.max(1));
            if r.verdict == "rejected" {
                row.rejected += u64::from(r.parts.max(1));
            }
            let Ok(fp) = u64::from_str_radix(&r.fingerprint, 16) else { continue };
            let at = r.at.as_microsecond();
            let clusters = self.0.entry(campaign).or_default();
            clusters.retain(|c| at - c.last_us < CLUSTER_IDLE_US);
            let i = match clusters.iter().position(|c| (c.representative ^ fp).count_ones() <= crate::SIMILAR_BITS) {
                Some(i) => i,
                None => {
                    if clusters.len() >= CLUSTERS_PER_CAMPAIGN {
                        // Forget the smallest to follow the new content.
                        if let Some(smallest) =
                            clusters.iter().enumerate().min_by_key(|(_, c)| c.sources.len()).map(|(i, _)| i)
                        {
                            clusters.swap_remove(smallest);
                        }
                    }
                    clusters.push(Cluster { representative: fp, sources: Default::default(), last_us: at });
                    clusters.len() - 1
                }
            };
            let Some(c) = clusters.get_mut(i) else { continue };
            c.last_us = c.last_us.max(at);
            if c.sources.len() < SOURCES_PER_CLUSTER && !c.sources.contains(&r.source) {
                c.sources.insert(r.source.clone());
            }
            row.similar_numbers = row.similar_numbers.max(c.sources.len() as u64);
        }
        self.0.retain(|_, c| !c.is_empty());
        rows.into_values().collect()
    }
}

async fn purge_records(store: vouch_store::Store, registry: Arc<Registry>, retention: jiff::SignedDuration) {
    loop {
        let before = registry.now() - retention;
        match store.purge_gateway_records(before).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "gateway records past retention deleted"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "gateway record retention failed"),
        }
        // Every node has read an opt-in long before an hour has passed.
        if let Err(e) = store.purge_opt_ins(registry.now() - jiff::SignedDuration::from_hours(1)).await {
            tracing::warn!(error = %e, "cannot delete old opt-ins");
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// On a shared database, every [`crate::FOLLOW_INTERVAL`]: the opt-outs and opt-ins written in
/// the last [`crate::follow::REREAD`] (by any node) applied to this node's gateway, so that a STOP
/// received by one node is enforced by all within a second (applying a row twice is harmless;
/// the rows say what holds now, so every node converges on the database); and the throughput
/// budgets shared: what this node took is written, what the others took is read and taken off
/// this node's budgets. Ends with the gateway.
async fn follow_other_nodes(gateway: std::sync::Weak<SmppGateway>) {
    let mut unsent: HashMap<(UsageKey, i64), u64> = HashMap::new();
    let mut passes = crate::follow::Passes::new(gateway);
    // When the last read succeeded: after reads fail (the database away for longer than
    // REREAD), the next one goes back to there, so no STOP written meanwhile is missed.
    let mut read_ok: Option<Timestamp> = None;
    while let Some((gw, pass)) = passes.next().await {
        let (store, now) = (gw.registry.store(), gw.registry.now());
        let from = read_ok.map_or(now, |t| t.min(now)) - crate::follow::REREAD;
        match store.opt_out_changes(from).await {
            Ok(changes) => {
                read_ok = Some(now);
                for c in changes {
                    let Some(key) = parse_key(&c.dest_key) else { continue };
                    if c.opted_out {
                        gw.gateway.opt_out(c.campaign, key);
                    } else {
                        gw.gateway.opt_in(c.campaign, key);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the opt-outs other nodes wrote"),
        }
        let throughput = gw.gateway.throughput();
        for u in throughput.take_usage() {
            unsent.insert((u.key, u.period), u.count);
        }
        if !unsent.is_empty() {
            let rows: Vec<UsageRow> =
                unsent.iter().map(|(&(key, period), &count)| usage_row(key, period, count)).collect();
            match store.put_gateway_usage(gw.registry.node(), &rows).await {
                Ok(()) => unsent.clear(),
                Err(e) => tracing::warn!(error = %e, "cannot share this node's throughput with the others"),
            }
        }
        let minute = vouch_gateway::usage_minute(now);
        let (day, _) = throughput.pacific_day(now);
        match store.others_gateway_usage(gw.registry.node(), minute - 1, day).await {
            Ok(rows) => {
                let usage: Vec<Usage> = rows.iter().filter_map(usage_of).collect();
                throughput.apply_others(&usage, now);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the other nodes' throughput"),
        }
        // About once a minute, the totals no node needs any more.
        if pass % 240 == 0
            && let Err(e) = store.purge_gateway_usage(minute - 5, day - 2).await
        {
            tracing::warn!(error = %e, "cannot delete old throughput totals");
        }
    }
}

/// Alone on its store: every second, the brands' day counts written (so that a restart takes
/// the day up where it was; a crash loses at most a second of them), and hourly the totals no
/// day needs any more deleted. Ends with the gateway.
async fn remember_days(gateway: std::sync::Weak<SmppGateway>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for pass in 0u64.. {
        tick.tick().await;
        let Some(gw) = gateway.upgrade() else { break };
        gw.write_usage().await;
        if pass % 3600 == 0 {
            let now = gw.registry.now();
            let (day, _) = gw.gateway.throughput().pacific_day(now);
            if let Err(e) = gw.registry.store().purge_gateway_usage(vouch_gateway::usage_minute(now) - 5, day - 2).await
            {
                tracing::warn!(error = %e, "cannot delete old throughput totals");
            }
        }
    }
}

/// A throughput total as stored.
fn usage_row(key: UsageKey, period: i64, count: u64) -> UsageRow {
    let (scope, key) = match key {
        UsageKey::Minute { campaign, number } => ("m", format!("{campaign}:{number}")),
        UsageKey::Day { brand } => ("d", brand.to_string()),
    };
    UsageRow { scope: scope.to_owned(), key, period, count }
}

/// A stored throughput total, if it reads back.
fn usage_of(row: &UsageRow) -> Option<Usage> {
    let key = match row.scope.as_str() {
        "m" => {
            let (campaign, number) = row.key.split_once(':')?;
            UsageKey::Minute { campaign: campaign.parse().ok()?, number: number.parse().ok()? }
        }
        "d" => UsageKey::Day { brand: row.key.parse().ok()? },
        _ => return None,
    };
    Some(Usage { key, period: row.period, count: row.count })
}

impl Registry {
    fn gateway_facts(&self) -> std::sync::RwLockReadGuard<'_, GatewayFacts> {
        self.gateway_facts.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn gateway_facts_mut(&self) -> std::sync::RwLockWriteGuard<'_, GatewayFacts> {
        self.gateway_facts.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let h = hash_password("Ab3dEf7h");
        assert!(h.starts_with("pbkdf2-sha256$20000$"));
        assert!(verify_password(&h, "Ab3dEf7h"));
        assert!(!verify_password(&h, "Ab3dEf7i"));
        assert!(!verify_password("plain", "plain"));
        assert_ne!(hash_password("x"), hash_password("x"), "salted");
        assert!(valid_system_id("acme_1-x"));
        assert!(!valid_system_id("sixteen-chars-xx"));
        assert!(!valid_system_id("a b"));
        assert_eq!(parse_key(&DestinationKey([7; 16]).to_hex()), Some(DestinationKey([7; 16])));
        assert_eq!(parse_key("zz"), None);
    }
}
