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
use vouch_registry::{BrandId, CampaignId, ProviderId, ReportId, Role, TelephoneNumber};
use vouch_store::{AssignmentRow, BrandRow, CampaignRow, GatewayRecord, RecordFilter, ReportRow, SignedCall};

use crate::{CallAuth, Principal, ProofView, Registry, SEALED_BRAND_FIELDS, ServiceError, TransparencyLog};

/// How far around the reported instant a trace reads the gateway's records.
pub const TRACE_WINDOW: SignedDuration = SignedDuration::from_mins(30);
/// Most gateway records a trace reads.
const TRACE_RECORDS: u32 = 2_000;
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
    /// Its use case.
    pub usecase: String,
    /// Its status at the instant.
    pub status_then: String,
    /// Its status now.
    pub status_now: String,
    /// Its brand: public fields always, the sealed ones (EIN, contacts, address) only for the
    /// administrator, the brand's CSP and the DCAs carrying its campaigns.
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

/// The gateway's decisions for the number around the instant.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEvidence {
    /// Window start.
    pub since: Option<Timestamp>,
    /// Window end.
    pub until: Option<Timestamp>,
    /// Decisions read (at most 2,000).
    pub messages: usize,
    /// Accepted.
    pub accepted: usize,
    /// Rejected.
    pub rejected: usize,
    /// Forwarded and flagged.
    pub flagged: usize,
    /// Messages by bound account (`system_id`), with its CSP.
    pub accounts: Vec<AccountCount>,
    /// The decision nearest the instant.
    pub nearest: Option<RecordView>,
    /// Decisions whose fingerprint is within 6 bits of the reported content's.
    pub similar: Option<usize>,
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
    pub messages: usize,
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
    /// Its attestation.
    pub attest: Option<String>,
    /// Its `iat`.
    pub iat: Option<i64>,
    /// Its `origid`.
    pub origid: Option<String>,
    /// Its `x5u`.
    pub x5u: Option<String>,
    /// The signing certificate's SPC.
    pub spc: Option<String>,
    /// The provider registered with that SPC.
    pub signer: Option<Party>,
    /// Whether the chain and signature verify.
    pub verified: bool,
    /// What could not be established.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// vouch's record of signing it (origid → provider, customer, brand, attestation).
    pub signed_by_vouch: Option<SignedView>,
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
        if !CATEGORIES.contains(&req.category.as_str()) {
            return Err(ServiceError::invalid("category", format!("must be one of {}", CATEGORIES.join(", "))));
        }
        let now = self.registry.now();
        if req.at > now + SignedDuration::from_mins(5) {
            return Err(ServiceError::invalid("at", "is in the future"));
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

    /// The trace of a filed report.
    pub async fn trace_report(&self, p: &Principal, id: ReportId, proofs: bool) -> Result<Trace, ServiceError> {
        let r = self.report(p, id).await?;
        let channel: Channel = r.channel.parse()?;
        let fingerprint = r.fingerprint.as_deref().and_then(|f| u64::from_str_radix(f, 16).ok());
        self.trace(p, TraceQuery { channel, number: r.number, at: r.at, identity: r.identity, fingerprint, proofs })
            .await
    }

    /// Traces a number at an instant.
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
        let since = q.at - TRACE_WINDOW;
        let until = q.at + TRACE_WINDOW;
        let gateway = match (q.channel, &self.gateway) {
            (Channel::Sms, Some(g)) => {
                g.flush().await;
                let number = q.number.to_string();
                let filter = RecordFilter { source: Some(&number), provider: None, since, until };
                let records = store.gateway_records(&filter, TRACE_RECORDS).await?;
                Some(gateway_evidence(&records, q.at, q.fingerprint, since, until))
            }
            (Channel::Sms, None) => Some(GatewayEvidence::default()),
            (Channel::Voice, _) => None,
        };
        let call = match (q.channel, &q.identity) {
            (Channel::Voice, Some(identity)) => Some(self.call(identity, &mut cited).await?),
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
        let status_then = store.campaign_status_at(campaign.id, at).await?;
        Ok(Holder {
            campaign_id: campaign.id,
            usecase: campaign.details.usecase.as_str().to_owned(),
            status_then: status_then.as_str().to_owned(),
            status_now: campaign.status.as_str().to_owned(),
            brand: brand_view(&brand, entitled(p, &brand, &campaign)),
            csp: self.party(campaign.csp_id),
            dca: self.party(a.dca_id),
            assigned: a.assigned,
            released: a.released,
        })
    }

    fn party(&self, id: ProviderId) -> Party {
        let legal_name = self.registry.provider_row(id).map(|p| p.registration.legal_name).unwrap_or_default();
        Party { id, legal_name }
    }

    async fn call(&self, identity: &str, cited: &mut BTreeMap<u64, String>) -> Result<CallEvidence, ServiceError> {
        let (passport, info) = passport_of(identity)?;
        let claims = passport.claims();
        let x5u = info.unwrap_or_else(|| passport.header().x5u.clone());
        let orig = match &claims.orig {
            vouch_shaken::Origin::Tn(tn) => tn.as_str().to_owned(),
            vouch_shaken::Origin::Uri(uri) => uri.clone(),
        };
        let mut out = CallEvidence {
            orig: Some(orig.clone()),
            attest: claims.attest.map(|a| a.as_str().to_owned()),
            iat: Some(claims.iat),
            origid: claims.origid.clone(),
            x5u: Some(x5u.clone()),
            ..CallEvidence::default()
        };
        let Some(callauth) = &self.callauth else {
            out.problem = Some("call authentication is not running here".into());
            return Ok(out);
        };
        let signer = callauth.signer_of(&passport, &x5u).await;
        out.spc = signer.spc;
        out.verified = signer.verified;
        out.problem = signer.problem;
        if let Some(id) = signer.provider {
            out.signer = Some(self.party(id));
            for (seq, _) in self.registry.store().subject_event_seqs(&[id.to_string()], self.registry.now()).await? {
                cited.insert(seq, format!("provider {id}"));
            }
        }
        if let Some(seq) = signer.certificate_event {
            cited.insert(seq, "the signing certificate was registered".into());
        }
        if let Some(origid) = &claims.origid {
            let calls: Vec<SignedCall> = callauth.flushed_signed_calls(origid).await?;
            if let Some(c) = calls.into_iter().find(|c| c.orig == orig) {
                out.signed_by_vouch = Some(SignedView {
                    provider: self.party(c.provider_id),
                    brand_id: c.brand_id,
                    campaign_id: c.campaign_id,
                    attest: c.attest,
                    signed: c.created,
                });
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
        Principal::Provider { id, .. } => *id == brand.csp_id || campaign.sharing.iter().any(|s| s.dca_id == *id),
    }
}

/// A brand for a trace: its request fields, without the sealed ones unless entitled, plus
/// id, identity status and score.
fn brand_view(b: &BrandRow, entitled: bool) -> Value {
    let mut fields = match serde_json::to_value(&b.details) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if !entitled {
        for f in SEALED_BRAND_FIELDS {
            fields.remove(*f);
        }
    }
    fields.insert("brandId".into(), b.id.to_string().into());
    fields.insert("identityStatus".into(), b.identity_status.as_str().into());
    fields.insert("score".into(), b.score.into());
    fields.insert("sealedFieldsShown".into(), entitled.into());
    Value::Object(fields)
}

fn gateway_evidence(
    records: &[GatewayRecord],
    at: Timestamp,
    fingerprint: Option<u64>,
    since: Timestamp,
    until: Timestamp,
) -> GatewayEvidence {
    let mut g =
        GatewayEvidence { since: Some(since), until: Some(until), messages: records.len(), ..Default::default() };
    let mut accounts: BTreeMap<(String, ProviderId), usize> = BTreeMap::new();
    for r in records {
        match r.verdict.as_str() {
            "accepted" => g.accepted += 1,
            "flagged" => g.flagged += 1,
            _ => g.rejected += 1,
        }
        *accounts.entry((r.system_id.clone(), r.provider_id)).or_default() += 1;
    }
    g.accounts = accounts
        .into_iter()
        .map(|((system_id, provider_id), messages)| AccountCount { system_id, provider_id, messages })
        .collect();
    g.nearest =
        records.iter().min_by_key(|r| r.at.as_microsecond().abs_diff(at.as_microsecond())).map(RecordView::from);
    g.similar = fingerprint.map(|f| {
        records
            .iter()
            .filter_map(|r| u64::from_str_radix(&r.fingerprint, 16).ok())
            .filter(|x| vouch_gateway::hamming(*x, f) <= SIMILAR_BITS)
            .count()
    });
    g
}
