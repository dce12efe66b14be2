//! Spam reports and automatic traceback (docs/TRACEBACK.md).
//!
//! A trace answers "who stood behind this number at that instant": the campaign that held it
//! then (from the assignment history, not the index, which only knows the current holder), its
//! brand, CSP and DCA; the gateway's decisions for that number around the instant; for a call,
//! the signer of its PASSporT and, when vouch signed it, the `origid` record. Every registry
//! fact it uses is cited as an event with its transparency-log inclusion proof.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::{Map, Value};
use vouch_registry::{
    BrandId, BrandRequest, CampaignId, Event, EventBody, ProviderId, ReportId, Role, TelephoneNumber,
};
use vouch_store::{AccountVerdictCount, AssignmentRow, BrandRow, CampaignRow, GatewayRecord, ReportRow, SignedCall};

use crate::{CallAuth, Principal, ProofView, Registry, SEALED_BRAND_FIELDS, ServiceError, TransparencyLog};

/// How far around the reported instant a trace reads the gateway's records.
pub const TRACE_WINDOW: SignedDuration = SignedDuration::from_mins(30);
/// Most gateway records a trace lists on each side of the instant (its counts cover the whole
/// window whatever the number).
pub const TRACE_RECORDS_EACH: u32 = 1_000;
/// The earliest instant a report may be about, and a trace asked for: 2015-01-01T00:00:00Z
/// (10DLC and STIR/SHAKEN came later; vouch holds nothing older).
pub const EARLIEST_INSTANT: Timestamp = Timestamp::constant(1_420_070_400, 0);
/// How far past the server's clock a trace's instant may be.
pub const TRACE_AHEAD: SignedDuration = SignedDuration::from_hours(24);
/// Fingerprints this close (in bits of 64) count as the same message.
pub const SIMILAR_BITS: u32 = 6;
/// Longest content kept or fingerprinted.
const MAX_CONTENT: usize = 10_000;

/// The channel of a report or trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A text message.
    Sms,
    /// A call.
    Voice,
}

impl Channel {
    /// `sms` or `voice`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Voice => "voice",
        }
    }
}

impl std::str::FromStr for Channel {
    type Err = ServiceError;
    fn from_str(s: &str) -> Result<Self, ServiceError> {
        match s {
            "sms" => Ok(Self::Sms),
            "voice" => Ok(Self::Voice),
            other => Err(ServiceError::invalid("channel", format!("{other:?} is not sms or voice"))),
        }
    }
}

/// Report categories (after the FTC's and the CTIA's complaint categories).
pub const CATEGORIES: &[&str] = &["spam", "phishing", "fraud", "robocall", "spoofed", "unwanted", "other"];

/// A report as filed.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// sms or voice.
    pub channel: Channel,
    /// The offending number.
    pub number: TelephoneNumber,
    /// When the message or call happened.
    pub at: Timestamp,
    /// One of [`CATEGORIES`].
    pub category: String,
    /// The message's text (sms).
    pub content: Option<String>,
    /// Keep the text itself, not only its fingerprint.
    pub keep_content: bool,
    /// The call's Identity header or bare PASSporT (voice).
    pub identity: Option<String>,
}

/// What a trace is asked about.
#[derive(Debug, Clone)]
pub struct TraceQuery {
    /// sms or voice.
    pub channel: Channel,
    /// The number.
    pub number: TelephoneNumber,
    /// The instant.
    pub at: Timestamp,
    /// A call's Identity header or PASSporT.
    pub identity: Option<String>,
    /// The message's fingerprint, to count similar messages.
    pub fingerprint: Option<u64>,
    /// Include inclusion proofs (default true).
    pub proofs: bool,
}

/// A party in a trace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    /// Provider id.
    pub id: ProviderId,
    /// Its legal name.
    pub legal_name: String,
}

/// Who held the number at the instant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Its use case at the instant.
    pub usecase: String,
    /// Its status at the instant.
    pub status_then: String,
    /// Its status now.
    pub status_now: String,
    /// Whether the number itself was suspended at the instant (`number.suspended`, not yet
    /// `number.reinstated`).
    pub number_suspended_then: bool,
    /// Whether it is suspended now (only while this campaign still holds it: a release ends a
    /// suspension).
    pub number_suspended_now: bool,
    /// Its brand as it stood at the instant (from the latest `brand.registered` or
    /// `brand.updated` event and the latest `brand.vetted` event at or before it; `asOf` is
    /// that event's time, `changedSince` whether the brand's fields differ now): public fields
    /// always, the sealed ones (EIN, contacts, address) only for the administrator, the
    /// brand's CSP and the DCAs carrying its campaigns.
    pub brand: Value,
    /// The CSP.
    pub csp: Party,
    /// The DCA that accepted the number's assignment.
    pub dca: Party,
    /// When the number was assigned to it.
    pub assigned: Timestamp,
    /// When it was released (`None`: still held).
    pub released: Option<Timestamp>,
}

/// The gateway's decisions for the number around the instant. The counts cover every decision
/// in the window; which accounts sent them (`accounts`, `nearest`, `records`) is shown only to
/// the administrator, the gateway's DCA and each account's own CSP, as
/// `/v1/gateway/records` would show it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEvidence {
    /// Window start.
    pub since: Option<Timestamp>,
    /// Window end.
    pub until: Option<Timestamp>,
    /// Decisions in the window (all of them).
    pub messages: u64,
    /// Accepted.
    pub accepted: u64,
    /// Rejected.
    pub rejected: u64,
    /// Forwarded and flagged.
    pub flagged: u64,
    /// Messages by bound account (`system_id`), with its CSP: the accounts the caller may see.
    pub accounts: Vec<AccountCount>,
    /// Accounts in the window that the caller may not see.
    pub accounts_hidden: usize,
    /// The decision nearest the instant (when the caller may see its account).
    pub nearest: Option<RecordView>,
    /// The decisions nearest the instant, read outward from it (at most 1,000 at or before it
    /// and 1,000 after it), oldest first: those the caller may see.
    pub records: Vec<RecordView>,
    /// Of the decisions read around the instant, how many the caller may not see.
    pub records_hidden: usize,
    /// The decisions read around the instant are fewer than the window holds.
    pub truncated: bool,
    /// Decisions in the window whose fingerprint is within 6 bits of the reported content's.
    pub similar: Option<u64>,
}

/// Messages of one account.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountCount {
    /// `system_id`.
    pub system_id: String,
    /// Its CSP.
    pub provider_id: ProviderId,
    /// Messages.
    pub messages: u64,
}

/// One gateway decision in a trace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    /// When.
    pub at: Timestamp,
    /// Bound account.
    pub system_id: String,
    /// Its CSP.
    pub provider_id: ProviderId,
    /// The campaign the gateway found.
    pub campaign_id: Option<CampaignId>,
    /// accepted, rejected or flagged.
    pub verdict: String,
    /// The command_status.
    pub status: String,
    /// SimHash of the text.
    pub fingerprint: String,
}

impl From<&GatewayRecord> for RecordView {
    fn from(r: &GatewayRecord) -> Self {
        Self {
            at: r.at,
            system_id: r.system_id.clone(),
            provider_id: r.provider_id,
            campaign_id: r.campaign_id,
            verdict: r.verdict.clone(),
            status: format!("0x{:08X}", r.status),
            fingerprint: r.fingerprint.clone(),
        }
    }
}

/// The call side of a trace.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEvidence {
    /// The PASSporT's calling number.
    pub orig: Option<String>,
    /// Its called numbers (and URIs).
    pub dest: Vec<String>,
    /// Its attestation.
    pub attest: Option<String>,
    /// Its `iat`.
    pub iat: Option<i64>,
    /// Its `origid`.
    pub origid: Option<String>,
    /// Its `x5u`.
    pub x5u: Option<String>,
    /// Whether the chain and signature verify.
    pub verified: bool,
    /// The signing certificate's SPC, when the chain and signature verify.
    pub spc: Option<String>,
    /// The provider registered with that SPC, when the chain and signature verify.
    pub signer: Option<Party>,
    /// The SPC of the certificate at `x5u` when the chain or signature does not verify: the
    /// PASSporT claims it, nothing proves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_spc: Option<String>,
    /// The provider registered with the claimed SPC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_signer: Option<Party>,
    /// What could not be established (why the chain or signature does not verify).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// vouch's record of signing this very PASSporT (origid → provider, customer, brand,
    /// attestation): only when the signature verifies and the record's signer, `orig`, `dest`
    /// and `iat` are the PASSporT's.
    pub signed_by_vouch: Option<SignedView>,
    /// A call vouch signed under this `origid` that the PASSporT is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<Mismatch>,
    /// Whether `orig` is the traced (or reported) number (`None`: no PASSporT).
    pub orig_is_number: Option<bool>,
    /// What the reader must not miss: a signature that does not verify, a copied `origid`, a
    /// calling number other than the one reported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// How a PASSporT differs from the call vouch signed under its `origid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mismatch {
    /// What differs: `signature` (it does not verify), `signer`, `orig`, `dest`, `iat`.
    pub fields: Vec<&'static str>,
    /// The same, in words.
    pub detail: String,
}

/// vouch's record of a call it signed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedView {
    /// The signing provider.
    pub provider: Party,
    /// The customer's brand.
    pub brand_id: Option<BrandId>,
    /// The campaign holding the calling number.
    pub campaign_id: Option<CampaignId>,
    /// The attestation vouch gave.
    pub attest: String,
    /// When.
    pub signed: Timestamp,
}

/// One registry event a trace rests on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// Sequence number.
    pub seq: u64,
    /// Kind.
    pub kind: String,
    /// Commit time.
    pub at: Timestamp,
    /// What it is about: the number's assignment or release, or the campaign, brand or
    /// provider it concerns.
    pub shows: String,
    /// Where its inclusion proof is.
    pub proof_url: String,
    /// The inclusion proof (RFC 6962 audit path), when the log has integrated the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<ProofView>,
}

/// A trace's answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    /// sms or voice.
    pub channel: Channel,
    /// The number, E.164.
    pub number: String,
    /// The instant.
    pub at: Timestamp,
    /// Who held the number then (`None`: nobody; the number was not registered).
    pub holder: Option<Holder>,
    /// Who holds it now, when that is another campaign.
    pub current_holder: Option<CampaignId>,
    /// The gateway's decisions around the instant (sms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayEvidence>,
    /// The call's signer (voice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<CallEvidence>,
    /// Reports about the number in the window.
    pub reports: u64,
    /// The registry events the answer rests on, oldest first.
    pub evidence: Vec<Evidence>,
    /// How long the trace took, microseconds.
    pub elapsed_us: u64,
}

/// Reports and traces, over the registry, the signer's records, the gateway's records and
/// the transparency log (each of the last three when running).
#[derive(Debug, Clone)]
pub struct Traceback {
    registry: Arc<Registry>,
    callauth: Option<Arc<CallAuth>>,
    gateway: Option<Arc<crate::SmppGateway>>,
    log: Option<Arc<TransparencyLog>>,
}

/// Most reports one provider files in a minute (this node): a pipeline forwarding subscribers'
/// 7726 complaints stays far under it, a loop filing the same report does not fill the table.
pub const REPORTS_PER_MINUTE: u32 = 600;

impl Registry {
    /// Counts one report of `reporter` against its minute; refused past [`REPORTS_PER_MINUTE`].
    async fn spend_report_budget(&self, reporter: ProviderId) -> Result<(), ServiceError> {
        let minute = self.now().as_second().div_euclid(60);
        let mut budget = self.report_budget.lock().await;
        if budget.len() > 10_000 {
            budget.retain(|_, (m, _)| *m == minute);
        }
        let spent = budget.entry(reporter).or_insert((minute, 0));
        if spent.0 != minute {
            *spent = (minute, 0);
        }
        if spent.1 >= REPORTS_PER_MINUTE {
            return Err(ServiceError::RateLimited(format!(
                "{reporter} filed {REPORTS_PER_MINUTE} reports this minute, the most one provider may; try again next minute"
            )));
        }
        spent.1 += 1;
        Ok(())
    }
}

/// Who may trace: the administrator, carriers, DCAs and voice providers.
fn require_tracer(p: &Principal) -> Result<(), ServiceError> {
    match p {
        Principal::Admin => Ok(()),
        Principal::Provider { roles, .. }
            if roles.iter().any(|r| matches!(r, Role::Carrier | Role::Dca | Role::Voice)) =>
        {
            Ok(())
        }
        Principal::Provider { .. } => Err(ServiceError::Forbidden(
            "reports and traces are for carriers, DCAs, voice providers and the administrator".into(),
        )),
    }
}

/// The SimHash of reported content, as stored.
pub fn content_fingerprint(text: &str) -> u64 {
    vouch_gateway::simhash(text)
}

/// Why `at` is no instant to trace when `now` is the server's clock: before
/// [`EARLIEST_INSTANT`] or more than [`TRACE_AHEAD`] past `now`. `None` when it is one.
pub fn trace_instant_error(at: Timestamp, now: Timestamp) -> Option<String> {
    let latest = now.checked_add(TRACE_AHEAD).unwrap_or(Timestamp::MAX);
    if at < EARLIEST_INSTANT {
        Some(format!("{at} is before {EARLIEST_INSTANT}; vouch holds nothing that old"))
    } else if at > latest {
        Some(format!("{at} is more than {} h past the server's clock ({now})", TRACE_AHEAD.as_hours()))
    } else {
        None
    }
}

impl Traceback {
    /// A traceback over `registry` and whichever of the others run.
    pub fn new(
        registry: Arc<Registry>,
        callauth: Option<Arc<CallAuth>>,
        gateway: Option<Arc<crate::SmppGateway>>,
        log: Option<Arc<TransparencyLog>>,
    ) -> Self {
        Self { registry, callauth, gateway, log }
    }

    /// Files a report: the holder of the number at the instant is resolved now; content is
    /// kept as a fingerprint only, unless the reporter opted in.
    pub async fn file_report(&self, p: &Principal, req: ReportRequest) -> Result<ReportRow, ServiceError> {
        require_tracer(p)?;
        let reporter = match p {
            Principal::Provider { id, .. } => *id,
            Principal::Admin => {
                return Err(ServiceError::Forbidden(
                    "a report is filed by a carrier or DCA; use a provider's API key".into(),
                ));
            }
        };
        self.registry.spend_report_budget(reporter).await?;
        if !CATEGORIES.contains(&req.category.as_str()) {
            return Err(ServiceError::invalid("category", format!("must be one of {}", CATEGORIES.join(", "))));
        }
        let now = self.registry.now();
        if req.at > now.checked_add(SignedDuration::from_mins(5)).unwrap_or(Timestamp::MAX) {
            return Err(ServiceError::invalid("at", "is in the future"));
        }
        if req.at < EARLIEST_INSTANT {
            return Err(ServiceError::invalid(
                "at",
                format!("{} is before {EARLIEST_INSTANT}; vouch holds nothing that old", req.at),
            ));
        }
        if let Some(c) = &req.content
            && c.len() > MAX_CONTENT
        {
            return Err(ServiceError::invalid("content", format!("longer than {MAX_CONTENT} bytes")));
        }
        if req.channel == Channel::Sms && req.identity.is_some() {
            return Err(ServiceError::invalid("identity", "is for voice reports"));
        }
        if req.keep_content && req.content.is_none() {
            return Err(ServiceError::invalid("keepContent", "there is no content to keep"));
        }
        let origid = match &req.identity {
            Some(i) => passport_of(i)?.0.claims().origid.clone(),
            None => None,
        };
        let holder = self.registry.store().assignment_at(req.number, req.at).await?;
        let campaign = match &holder {
            Some(a) => self.registry.store().campaign(a.campaign_id).await?,
            None => None,
        };
        let mut row = ReportRow {
            id: ReportId::from_random(rand::random()),
            reporter_id: reporter,
            channel: req.channel.as_str().to_owned(),
            number: req.number,
            at: req.at,
            category: req.category,
            campaign_id: campaign.as_ref().map(|c| c.id),
            brand_id: campaign.as_ref().map(|c| c.brand_id),
            fingerprint: req.content.as_deref().map(|c| format!("{:016x}", content_fingerprint(c))),
            content: if req.keep_content { req.content } else { None },
            identity: req.identity,
            origid,
            created: now,
        };
        // An id collision (one in 78 billion) is retried with a new id.
        for _ in 0..3 {
            match self.registry.store().insert_report(&row).await {
                Ok(()) => {
                    metrics::counter!("vouch_reports_total", "channel" => req.channel.as_str()).increment(1);
                    return Ok(row);
                }
                Err(vouch_store::StoreError::Conflict(_)) => row.id = ReportId::from_random(rand::random()),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Conflict {
            kind: crate::ConflictKind::DuplicateReference,
            detail: "report id collision".into(),
        })
    }

    /// A report: its reporter and the administrator may read it.
    pub async fn report(&self, p: &Principal, id: ReportId) -> Result<ReportRow, ServiceError> {
        let r = self.registry.store().report(id).await?.ok_or_else(|| ServiceError::not_found("report", id))?;
        match p {
            Principal::Admin => Ok(r),
            Principal::Provider { id: me, .. } if *me == r.reporter_id => Ok(r),
            Principal::Provider { .. } => Err(ServiceError::not_found("report", id)),
        }
    }

    /// The reports against a campaign for instants from `since` on (newest first, at most
    /// 1,000), for those who answer for it: its CSP, its DCA (or the DCA reviewing it) and the
    /// administrator, so that a campaign or number suspended on reports can be checked and
    /// contested. Who reported, what they kept of the content and the Identity header are
    /// the reporter's and the administrator's only (the flag beside each report says whether
    /// the caller may see them).
    pub async fn campaign_reports(
        &self,
        p: &Principal,
        id: CampaignId,
        since: Timestamp,
    ) -> Result<Vec<(ReportRow, bool)>, ServiceError> {
        let c = self.registry.store().campaign(id).await?.ok_or_else(|| ServiceError::not_found("campaign", id))?;
        let full = match p {
            Principal::Admin => true,
            Principal::Provider { id: me, .. }
                if *me == c.csp_id || c.dca_id == Some(*me) || crate::campaigns::shared_with(&c, *me) =>
            {
                false
            }
            Principal::Provider { .. } => return Err(ServiceError::not_found("campaign", id)),
        };
        let rows = self.registry.store().reports_against(id, since, 1_000).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let own = matches!(p, Principal::Provider { id: me, .. } if *me == r.reporter_id);
                (r, full || own)
            })
            .collect())
    }

    /// The trace of a filed report.
    pub async fn trace_report(&self, p: &Principal, id: ReportId, proofs: bool) -> Result<Trace, ServiceError> {
        let r = self.report(p, id).await?;
        let channel: Channel = r.channel.parse()?;
        let fingerprint = r.fingerprint.as_deref().and_then(|f| u64::from_str_radix(f, 16).ok());
        self.trace(p, TraceQuery { channel, number: r.number, at: r.at, identity: r.identity, fingerprint, proofs })
            .await
    }

    /// Traces a number at an instant. The window around it saturates at the ends of time, so
    /// a report stored with any instant can be traced.
    pub async fn trace(&self, p: &Principal, q: TraceQuery) -> Result<Trace, ServiceError> {
        require_tracer(p)?;
        let started = std::time::Instant::now();
        let store = self.registry.store();
        let mut cited: BTreeMap<u64, String> = BTreeMap::new();
        let assignment = store.assignment_at(q.number, q.at).await?;
        let holder = match &assignment {
            Some(a) => Some(self.holder(p, a, q.at, &mut cited).await?),
            None => None,
        };
        let current_holder = self
            .registry
            .index()
            .lookup(q.number)
            .map(|a| a.campaign.id)
            .filter(|c| Some(*c) != assignment.as_ref().map(|a| a.campaign_id));
        let since = q.at.checked_sub(TRACE_WINDOW).unwrap_or(Timestamp::MIN);
        let until = q.at.checked_add(TRACE_WINDOW).unwrap_or(Timestamp::MAX);
        let gateway = match (q.channel, &self.gateway) {
            (Channel::Sms, Some(g)) => {
                g.flush().await;
                let number = q.number.to_string();
                let store = self.registry.store();
                let counts = store.gateway_record_counts(&number, since, until).await?;
                let (before, after) =
                    store.gateway_records_around(&number, q.at, since, until, TRACE_RECORDS_EACH).await?;
                let fingerprints = match q.fingerprint {
                    Some(_) => store.gateway_fingerprint_counts(&number, since, until).await?,
                    None => Vec::new(),
                };
                let dca = g.rules().config().dca;
                let window = Window { at: q.at, since, until };
                Some(gateway_evidence(&window, &counts, &before, &after, q.fingerprint, &fingerprints, |csp| {
                    sees_account(p, dca, csp)
                }))
            }
            (Channel::Sms, None) => Some(GatewayEvidence::default()),
            (Channel::Voice, _) => None,
        };
        let call = match (q.channel, &q.identity) {
            (Channel::Voice, Some(identity)) => Some(self.call(q.number, identity, &mut cited).await?),
            (Channel::Voice, None) => Some(CallEvidence {
                problem: Some("no Identity header or PASSporT was given".into()),
                ..CallEvidence::default()
            }),
            (Channel::Sms, _) => None,
        };
        let reports = store.count_reports(vouch_store::ReportsAbout::Number(q.number), since, until).await?;
        let evidence = self.evidence(cited, q.proofs).await?;
        let elapsed_us = started.elapsed().as_micros() as u64;
        metrics::histogram!("vouch_trace_seconds").record(started.elapsed().as_secs_f64());
        Ok(Trace {
            channel: q.channel,
            number: q.number.to_string(),
            at: q.at,
            holder,
            current_holder,
            gateway,
            call,
            reports,
            evidence,
            elapsed_us,
        })
    }

    async fn holder(
        &self,
        p: &Principal,
        a: &AssignmentRow,
        at: Timestamp,
        cited: &mut BTreeMap<u64, String>,
    ) -> Result<Holder, ServiceError> {
        let store = self.registry.store();
        cited.insert(a.assigned_seq, format!("{} was assigned to campaign {}", a.number, a.campaign_id));
        if let Some(seq) = a.released_seq {
            cited.insert(seq, format!("{} was released by campaign {}", a.number, a.campaign_id));
        }
        let campaign =
            store.campaign(a.campaign_id).await?.ok_or_else(|| ServiceError::not_found("campaign", a.campaign_id))?;
        let brand =
            store.brand(campaign.brand_id).await?.ok_or_else(|| ServiceError::not_found("brand", campaign.brand_id))?;
        let subjects =
            [campaign.id.to_string(), brand.id.to_string(), campaign.csp_id.to_string(), a.dca_id.to_string()];
        let labels = [format!("campaign {}", campaign.id), format!("brand {}", brand.id)];
        for (seq, subject) in store.subject_event_seqs(&subjects, at).await? {
            let label = match subjects.iter().position(|s| *s == subject) {
                Some(i @ 0..=1) => labels[i].clone(),
                _ => format!("provider {subject}"),
            };
            cited.insert(seq, label);
        }
        // The number's own suspensions during this holding: those up to the instant give its
        // state then; later ones (cited too) the state now.
        let suspensions = store.number_suspension_events(a.number, a.assigned_seq, a.released_seq).await?;
        for e in &suspensions {
            let what = if e.suspended { "suspended" } else { "reinstated" };
            let when = if e.at > at { " (after the instant)" } else { "" };
            cited.insert(e.seq, format!("{} was {what}{when}", a.number));
        }
        let number_suspended_then = suspended_at(&suspensions, at);
        let number_suspended_now = a.released.is_none() && self.registry.number_suspended(a.number);
        let status_then = store.campaign_status_at(campaign.id, at).await?;
        // The campaign's use case and the brand's fields and vetting as they stood then (all of
        // these events are among the cited ones: they are the subjects' events up to `at`).
        let subject = campaign.id.to_string();
        let usecase = match self.event_at(&subject, &["campaign.created", "campaign.updated"], at).await? {
            Some(EventBody::CampaignCreated { campaign, .. } | EventBody::CampaignUpdated { campaign, .. }) => {
                campaign.usecase.as_str().to_owned()
            }
            _ => campaign.details.usecase.as_str().to_owned(),
        };
        let brand_subject = brand.id.to_string();
        let fields = match self.event_at_with_time(&brand_subject, &["brand.registered", "brand.updated"], at).await? {
            Some((time, EventBody::BrandRegistered { brand, .. } | EventBody::BrandUpdated { brand, .. })) => {
                Some((time, brand))
            }
            _ => None,
        };
        let vetting = match self.event_at(&brand_subject, &["brand.vetted"], at).await? {
            Some(EventBody::BrandVetted { outcome, .. }) => Some((outcome.score, outcome.identity_status.as_str())),
            _ => None,
        };
        Ok(Holder {
            campaign_id: campaign.id,
            usecase,
            status_then: status_then.as_str().to_owned(),
            status_now: campaign.status.as_str().to_owned(),
            number_suspended_then,
            number_suspended_now,
            brand: brand_view(&brand, fields.as_ref(), vetting, entitled(p, &brand, &campaign)),
            csp: self.party(campaign.csp_id),
            dca: self.party(a.dca_id),
            assigned: a.assigned,
            released: a.released,
        })
    }

    /// The body of the latest event about `subject` of one of `kinds` at or before `at`.
    async fn event_at(&self, subject: &str, kinds: &[&str], at: Timestamp) -> Result<Option<EventBody>, ServiceError> {
        Ok(self.event_at_with_time(subject, kinds, at).await?.map(|(_, body)| body))
    }

    /// The same, with the event's time.
    async fn event_at_with_time(
        &self,
        subject: &str,
        kinds: &[&str],
        at: Timestamp,
    ) -> Result<Option<(Timestamp, EventBody)>, ServiceError> {
        let Some((seq, canonical)) = self.registry.store().latest_subject_event(subject, kinds, at).await? else {
            return Ok(None);
        };
        let event = Event::from_canonical(canonical.as_bytes())
            .map_err(|e| vouch_store::StoreError::Corrupt { table: "events", detail: format!("event {seq}: {e}") })?;
        Ok(Some((event.time, event.body)))
    }

    fn party(&self, id: ProviderId) -> Party {
        let legal_name = self.registry.provider_row(id).map(|p| p.registration.legal_name).unwrap_or_default();
        Party { id, legal_name }
    }

    async fn call(
        &self,
        number: TelephoneNumber,
        identity: &str,
        cited: &mut BTreeMap<u64, String>,
    ) -> Result<CallEvidence, ServiceError> {
        let (passport, info) = passport_of(identity)?;
        let claims = passport.claims();
        let x5u = info.unwrap_or_else(|| passport.header().x5u.clone());
        let orig = match &claims.orig {
            vouch_shaken::Origin::Tn(tn) => tn.as_str().to_owned(),
            vouch_shaken::Origin::Uri(uri) => uri.clone(),
        };
        let dest: Vec<String> =
            claims.dest.tn.iter().map(|t| t.as_str().to_owned()).chain(claims.dest.uri.iter().cloned()).collect();
        // The PASSporT may write a North American number nationally (`2025550123`).
        let orig_is_number = match (&claims.orig, vouch_shaken::Tn::from_canonical(&number.digits().to_string())) {
            (vouch_shaken::Origin::Tn(tn), Ok(traced)) => tn.same_number(&traced),
            _ => orig.trim_start_matches('+') == number.to_string().trim_start_matches('+'),
        };
        let mut out = CallEvidence {
            orig: Some(orig.clone()),
            dest: dest.clone(),
            attest: claims.attest.map(|a| a.as_str().to_owned()),
            iat: Some(claims.iat),
            origid: claims.origid.clone(),
            x5u: Some(x5u.clone()),
            orig_is_number: Some(orig_is_number),
            ..CallEvidence::default()
        };
        if !orig_is_number {
            out.warnings.push(format!("the PASSporT's calling number (orig) {orig} is not the traced number {number}"));
        }
        let Some(callauth) = &self.callauth else {
            out.problem = Some("call authentication is not running here".into());
            return Ok(out);
        };
        let signer = callauth.signer_of(&passport, &x5u).await;
        out.verified = signer.verified;
        out.problem = signer.problem;
        if signer.verified {
            out.spc = signer.spc;
            if let Some(id) = signer.provider {
                out.signer = Some(self.party(id));
                for (seq, _) in self.registry.store().subject_event_seqs(&[id.to_string()], self.registry.now()).await?
                {
                    cited.insert(seq, format!("provider {id}"));
                }
            }
            if let Some(seq) = signer.certificate_event {
                cited.insert(seq, "the signing certificate was registered".into());
            }
        } else {
            out.claimed_spc = signer.spc;
            out.claimed_signer = signer.provider.map(|id| self.party(id));
            out.warnings.push(format!(
                "the signature does not verify ({}): the SPC {} and its provider are only claimed",
                out.problem.as_deref().unwrap_or("no reason given"),
                out.claimed_spc.as_deref().unwrap_or("-")
            ));
            if let Some(seq) = signer.certificate_event {
                cited
                    .insert(seq, "the certificate at x5u was registered (the PASSporT does not verify with it)".into());
            }
        }
        if let Some(origid) = &claims.origid {
            // The calls signed under it; forwards recorded under the call's origid (attest
            // `div`) are not the call.
            let calls: Vec<SignedCall> =
                callauth.flushed_signed_calls(origid).await?.into_iter().filter(|c| c.attest != "div").collect();
            let presented = Presented {
                orig: &orig,
                dest: &dest.join(","),
                iat: claims.iat,
                verified: signer.verified,
                signer: out.signer.as_ref().map(|s| s.id),
            };
            match closest_record(&calls, &presented) {
                Some((c, fields)) if fields.is_empty() => {
                    out.signed_by_vouch = Some(SignedView {
                        provider: self.party(c.provider_id),
                        brand_id: c.brand_id,
                        campaign_id: c.campaign_id,
                        attest: c.attest.clone(),
                        signed: c.created,
                    });
                }
                Some((_, fields)) => {
                    let detail = format!(
                        "vouch signed a call with origid {origid}, but this PASSporT differs from it in {}: it is \
                         not that call, and vouch's record of it is not shown",
                        fields.join(", ")
                    );
                    out.warnings.push(detail.clone());
                    out.mismatch = Some(Mismatch { fields, detail });
                }
                None => {}
            }
        }
        Ok(out)
    }

    async fn evidence(&self, cited: BTreeMap<u64, String>, proofs: bool) -> Result<Vec<Evidence>, ServiceError> {
        let seqs: Vec<u64> = cited.keys().copied().collect();
        let mut out = Vec::with_capacity(seqs.len());
        for e in self.registry.store().events_by_seq(&seqs).await? {
            let proof = match (&self.log, proofs) {
                (Some(log), true) => log.prove_event(e.seq, None).await.ok().map(|p| ProofView::from(&p)),
                _ => None,
            };
            out.push(Evidence {
                seq: e.seq,
                shows: cited.get(&e.seq).cloned().unwrap_or_default(),
                kind: e.kind,
                at: e.at,
                proof_url: format!("/v1/log/proofs/inclusion?event={}", e.seq),
                proof,
            });
        }
        Ok(out)
    }
}

/// A call's PASSporT from its Identity header (with the header's `info` URL) or from a bare
/// token.
fn passport_of(identity: &str) -> Result<(vouch_shaken::Passport, Option<String>), ServiceError> {
    let (token, info) = match vouch_shaken::IdentityHeader::parse(identity) {
        Ok(h) => (h.passport, Some(h.info)),
        Err(_) => (identity.trim().to_owned(), None),
    };
    let passport = vouch_shaken::Passport::decode(&token)
        .map_err(|e| ServiceError::invalid("identity", format!("not an Identity header or PASSporT: {e}")))?;
    Ok((passport, info))
}

/// Whether `p` may see a brand's sealed fields: the administrator, its CSP, and DCAs carrying
/// one of its campaigns (here: the traced one's DCA).
fn entitled(p: &Principal, brand: &BrandRow, campaign: &CampaignRow) -> bool {
    match p {
        Principal::Admin => true,
        Principal::Provider { id, .. } => *id == brand.csp_id || crate::campaigns::shared_with(campaign, *id),
    }
}

/// A brand for a trace: its request fields as they stood at the instant (`then`: the time and
/// fields of the latest `brand.registered`/`brand.updated` event at or before it; the current
/// ones when there is none), without the sealed ones unless entitled, plus id, identity
/// status and score (of the latest `brand.vetted` event at or before the instant, when any).
fn brand_view(
    b: &BrandRow,
    then: Option<&(Timestamp, BrandRequest)>,
    vetting: Option<(u8, &str)>,
    entitled: bool,
) -> Value {
    let details = then.map_or(&b.details, |(_, d)| d);
    let mut fields = match serde_json::to_value(details) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if !entitled {
        for f in SEALED_BRAND_FIELDS {
            fields.remove(*f);
        }
    }
    let (score, status) = vetting.unwrap_or((b.score, b.identity_status.as_str()));
    fields.insert("brandId".into(), b.id.to_string().into());
    fields.insert("identityStatus".into(), status.into());
    fields.insert("score".into(), score.into());
    fields.insert("asOf".into(), then.map_or(Value::Null, |(t, _)| t.to_string().into()));
    fields.insert("changedSince".into(), then.is_some_and(|(_, d)| *d != b.details).into());
    fields.insert("sealedFieldsShown".into(), entitled.into());
    Value::Object(fields)
}

/// Whether `p` may see which accounts sent a number's messages, as `/v1/gateway/records` would
/// show them: the administrator and the gateway's DCA all, a CSP its own accounts (`csp`).
fn sees_account(p: &Principal, gateway_dca: ProviderId, csp: ProviderId) -> bool {
    match p {
        Principal::Admin => true,
        Principal::Provider { id, .. } => *id == gateway_dca || *id == csp,
    }
}

/// Whether the last of a holding's suspension events at or before `at` suspended the number.
fn suspended_at(events: &[vouch_store::SuspensionEvent], at: Timestamp) -> bool {
    events.iter().rev().find(|e| e.at <= at).is_some_and(|e| e.suspended)
}

/// The instant traced and the gateway window around it.
#[derive(Debug, Clone, Copy)]
struct Window {
    at: Timestamp,
    since: Timestamp,
    until: Timestamp,
}

/// The gateway side of a trace: `counts` (per account and verdict) and `fingerprints` (per
/// fingerprint) cover the whole window; `before` and `after` are the records read outward from
/// the instant, nearest first. `sees` says whether the caller may see an account of a CSP.
fn gateway_evidence(
    w: &Window,
    counts: &[AccountVerdictCount],
    before: &[GatewayRecord],
    after: &[GatewayRecord],
    fingerprint: Option<u64>,
    fingerprints: &[(String, u64)],
    sees: impl Fn(ProviderId) -> bool,
) -> GatewayEvidence {
    let mut g = GatewayEvidence { since: Some(w.since), until: Some(w.until), ..Default::default() };
    let mut accounts: BTreeMap<(&str, ProviderId), u64> = BTreeMap::new();
    for c in counts {
        g.messages += c.messages;
        match c.verdict.as_str() {
            "accepted" => g.accepted += c.messages,
            "flagged" => g.flagged += c.messages,
            _ => g.rejected += c.messages,
        }
        *accounts.entry((c.system_id.as_str(), c.provider_id)).or_default() += c.messages;
    }
    for ((system_id, provider_id), messages) in accounts {
        if sees(provider_id) {
            g.accounts.push(AccountCount { system_id: system_id.to_owned(), provider_id, messages });
        } else {
            g.accounts_hidden += 1;
        }
    }
    let distance = |r: &GatewayRecord| r.at.as_microsecond().abs_diff(w.at.as_microsecond());
    let nearest = match (before.first(), after.first()) {
        (Some(b), Some(a)) => Some(if distance(a) < distance(b) { a } else { b }),
        (b, a) => b.or(a),
    };
    g.nearest = nearest.filter(|r| sees(r.provider_id)).map(RecordView::from);
    for r in before.iter().rev().chain(after) {
        if sees(r.provider_id) {
            g.records.push(RecordView::from(r));
        } else {
            g.records_hidden += 1;
        }
    }
    g.truncated = ((before.len() + after.len()) as u64) < g.messages;
    g.similar = fingerprint.map(|f| {
        fingerprints
            .iter()
            .filter(|(x, _)| u64::from_str_radix(x, 16).is_ok_and(|x| vouch_gateway::hamming(x, f) <= SIMILAR_BITS))
            .map(|(_, n)| n)
            .sum()
    });
    g
}

/// What a presented PASSporT says, to compare with vouch's records of the calls it signed.
#[derive(Debug, Clone, Copy)]
struct Presented<'a> {
    orig: &'a str,
    /// Called numbers (then URIs), comma-separated, as records keep them.
    dest: &'a str,
    iat: i64,
    /// Whether its chain and signature verify.
    verified: bool,
    /// The provider registered with its certificate's SPC, when it verifies.
    signer: Option<ProviderId>,
}

/// How a record differs from a presented PASSporT: none of these when the PASSporT is the very
/// call vouch signed.
fn differences(c: &SignedCall, p: &Presented<'_>) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !p.verified {
        out.push("signature");
    } else if p.signer != Some(c.provider_id) {
        out.push("signer");
    }
    if c.orig != p.orig {
        out.push("orig");
    }
    if c.dest != p.dest {
        out.push("dest");
    }
    if c.iat != p.iat {
        out.push("iat");
    }
    out
}

/// The record under the PASSporT's `origid` that differs from it least, with the differences.
fn closest_record<'c>(calls: &'c [SignedCall], p: &Presented<'_>) -> Option<(&'c SignedCall, Vec<&'static str>)> {
    calls.iter().map(|c| (c, differences(c, p))).min_by_key(|(_, d)| d.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("instant")
    }

    fn record(at: &str, system_id: &str, csp: u64, fingerprint: u64) -> GatewayRecord {
        GatewayRecord {
            at: t(at),
            system_id: system_id.into(),
            provider_id: ProviderId::from_random(csp),
            source: "+12025557000".into(),
            campaign_id: None,
            dest_key: "00".into(),
            fingerprint: format!("{fingerprint:016x}"),
            parts: 1,
            verdict: "accepted".into(),
            status: 0,
            detail: String::new(),
            message_id: None,
        }
    }

    fn count(system_id: &str, csp: u64, verdict: &str, messages: u64) -> AccountVerdictCount {
        AccountVerdictCount {
            system_id: system_id.into(),
            provider_id: ProviderId::from_random(csp),
            verdict: verdict.into(),
            messages,
        }
    }

    #[test]
    fn gateway_counts_come_from_the_whole_window_and_accounts_only_for_those_entitled() {
        let at = t("2026-11-23T08:00:00Z");
        let w = Window { at, since: at - TRACE_WINDOW, until: at + TRACE_WINDOW };
        // 2,100 decisions in the window; the store read one before the instant and two after.
        let counts =
            [count("bulk1", 1, "accepted", 2_000), count("bulk1", 1, "rejected", 99), count("spam1", 2, "flagged", 1)];
        let before = [record("2026-11-23T07:59:59.9Z", "spam1", 2, 0xF0F0)];
        let after =
            [record("2026-11-23T08:00:00.05Z", "bulk1", 1, 0x1234), record("2026-11-23T08:00:01Z", "bulk1", 1, 0x1)];
        let fingerprints = [("000000000000f0f1".to_owned(), 3), ("ffffffffffffffff".to_owned(), 2_097)];
        let all = gateway_evidence(&w, &counts, &before, &after, Some(0xF0F0), &fingerprints, |_| true);
        assert_eq!((all.messages, all.accepted, all.rejected, all.flagged), (2_100, 2_000, 99, 1));
        assert_eq!(all.accounts.len(), 2);
        assert_eq!(all.accounts[0].messages, 2_099, "bulk1's verdicts summed");
        assert_eq!(
            all.nearest.as_ref().map(|r| r.system_id.as_str()),
            Some("bulk1"),
            "50 ms after beats 100 ms before"
        );
        assert_eq!(all.records.iter().map(|r| r.at).collect::<Vec<_>>(), [before[0].at, after[0].at, after[1].at]);
        assert!(all.truncated, "3 records listed of 2,100");
        assert_eq!(all.similar, Some(3), "within 6 bits, counted over the window");
        // A caller who sees only CSP 2's accounts: counts stay, the rest is hidden.
        let own = gateway_evidence(&w, &counts, &before, &after, None, &[], |csp| csp == ProviderId::from_random(2));
        assert_eq!(own.messages, 2_100);
        assert_eq!(own.accounts.iter().map(|a| a.system_id.as_str()).collect::<Vec<_>>(), ["spam1"]);
        assert_eq!((own.accounts_hidden, own.records_hidden, own.records.len()), (1, 2, 1));
        assert!(own.nearest.is_none(), "the nearest decision is another CSP's");
        let none = gateway_evidence(&w, &counts, &before, &after, None, &[], |_| false);
        assert!(none.accounts.is_empty() && none.records.is_empty() && none.nearest.is_none());
        assert_eq!((none.messages, none.accounts_hidden, none.similar), (2_100, 2, None));
        // Everything read: not truncated.
        let small = [count("spam1", 2, "accepted", 3)];
        assert!(!gateway_evidence(&w, &small, &before, &after, None, &[], |_| true).truncated);
    }

    fn signed(orig: &str, dest: &str, iat: i64, provider: u64) -> SignedCall {
        SignedCall {
            origid: "01a25027-95bb-7e92-aeaa-2e184c357df8".into(),
            provider_id: ProviderId::from_random(provider),
            brand_id: None,
            campaign_id: None,
            orig: orig.into(),
            dest: dest.into(),
            attest: "A".into(),
            iat,
            created: t("2026-11-23T08:00:00Z"),
        }
    }

    #[test]
    fn only_the_very_call_vouch_signed_matches_its_record() {
        let calls = [signed("12155551212", "12125551213", 1_000, 7)];
        let p = |orig, dest, iat, verified, signer: Option<u64>| Presented {
            orig,
            dest,
            iat,
            verified,
            signer: signer.map(ProviderId::from_random),
        };
        let fields = |pr: Presented<'_>| closest_record(&calls, &pr).map(|(_, f)| f);
        assert_eq!(fields(p("12155551212", "12125551213", 1_000, true, Some(7))), Some(vec![]));
        // A forged copy: another key, another destination, later.
        assert_eq!(fields(p("12155551212", "19175550000", 1_060, false, None)), Some(vec!["signature", "dest", "iat"]));
        // Verified, but under another provider's certificate, or another calling number.
        assert_eq!(fields(p("12155551212", "12125551213", 1_000, true, Some(8))), Some(vec!["signer"]));
        assert_eq!(fields(p("12155550000", "12125551213", 1_000, true, Some(7))), Some(vec!["orig"]));
        assert_eq!(closest_record(&[], &p("1", "2", 3, true, Some(7))), None);
        // Of several records under one origid, the one that matches wins.
        let two = [signed("12155551212", "1", 1_000, 7), signed("12155551212", "12125551213", 1_000, 7)];
        let (c, f) = closest_record(&two, &p("12155551212", "12125551213", 1_000, true, Some(7))).expect("one");
        assert!(f.is_empty());
        assert_eq!(c.dest, "12125551213");
    }

    #[test]
    fn trace_instants_are_bounded_and_the_window_saturates() {
        let now = t("2026-11-23T08:00:00Z");
        assert_eq!(trace_instant_error(now, now), None);
        assert_eq!(trace_instant_error(EARLIEST_INSTANT, now), None);
        assert!(trace_instant_error(t("2014-12-31T23:59:59Z"), now).is_some_and(|e| e.contains("2015-01-01")));
        assert!(trace_instant_error(Timestamp::MIN, now).is_some());
        assert!(trace_instant_error(t("9999-12-30T22:00:00Z"), now).is_some());
        assert!(trace_instant_error(Timestamp::MAX, Timestamp::MAX).is_none(), "no overflow at the end of time");
        // What `trace` does with a stored report's instant, however extreme.
        assert_eq!(Timestamp::MIN.checked_sub(TRACE_WINDOW).unwrap_or(Timestamp::MIN), Timestamp::MIN);
        assert_eq!(Timestamp::MAX.checked_add(TRACE_WINDOW).unwrap_or(Timestamp::MAX), Timestamp::MAX);
    }

    #[test]
    fn a_numbers_suspension_at_an_instant_is_the_last_event_up_to_it() {
        let e = |seq, at: &str, suspended| vouch_store::SuspensionEvent { seq, at: t(at), suspended };
        let events = [e(5, "2026-11-23T08:00:00Z", true), e(9, "2026-11-23T09:00:00Z", false)];
        assert!(!suspended_at(&events, t("2026-11-23T07:59:59Z")));
        assert!(suspended_at(&events, t("2026-11-23T08:00:00Z")));
        assert!(suspended_at(&events, t("2026-11-23T08:59:59Z")));
        assert!(!suspended_at(&events, t("2026-11-23T09:00:00Z")));
        assert!(!suspended_at(&[], t("2026-11-23T09:00:00Z")));
    }
}
