//! Response bodies: the registry's rows as the REST API shows them (camelCase, TCR names).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vouch_registry::{
    BrandId, BrandRequest, CampaignId, CampaignRequest, CampaignStatus, IdentityStatus, ProviderId, Role,
    SharingStatus, TelephoneNumber, ThroughputClass, VettingReason,
};
use vouch_service::{ImportReport, NumberAnswer};
use vouch_store::{ApiKeyRow, AssignmentRow, BrandRow, CampaignRow, ProviderRow};

fn rfc3339(t: Timestamp) -> String {
    vouch_registry::Event::time_text(t)
}

/// A provider, as the directory shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    /// Its id.
    pub provider_id: ProviderId,
    /// Legal name.
    pub legal_name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// FCC Registration Number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frn: Option<String>,
    /// Operating Company Number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ocn: Option<String>,
    /// SHAKEN SPC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spc: Option<String>,
    /// Registration time (RFC 3339).
    pub created_at: String,
}

impl From<ProviderRow> for ProviderView {
    fn from(p: ProviderRow) -> Self {
        let r = p.registration;
        Self {
            provider_id: p.id,
            legal_name: r.legal_name,
            roles: r.roles,
            frn: r.frn.map(|f| f.to_string()),
            ocn: r.ocn.map(|o| o.to_string()),
            spc: r.spc.map(|s| s.to_string()),
            created_at: rfc3339(p.created),
        }
    }
}

/// A newly registered provider and its first API key (shown only in this response).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderCreated {
    /// The provider.
    pub provider: ProviderView,
    /// Id of the API key.
    pub key_id: String,
    /// The API key; store it now, vouch keeps only its hash.
    pub api_key: String,
}

/// A newly issued API key (the secret is shown only in this response).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyCreated {
    /// Id of the key.
    pub key_id: String,
    /// The key itself.
    pub api_key: String,
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// Id of the key.
    pub key_id: String,
    /// When it was issued.
    pub created_at: String,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<ApiKeyRow> for KeyView {
    fn from(k: ApiKeyRow) -> Self {
        Self { key_id: k.key_id, created_at: rfc3339(k.created), revoked_at: k.revoked.map(rfc3339) }
    }
}

/// A brand with its vetting result.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrandView {
    /// Its id.
    pub brand_id: BrandId,
    /// Its CSP.
    pub csp_id: ProviderId,
    /// The brand's fields as registered.
    #[serde(flatten)]
    pub details: BrandRequest,
    /// Outcome of automated vetting.
    pub identity_status: IdentityStatus,
    /// Vetting score, 0-100.
    pub vetting_score: u8,
    /// Every vetting finding, blocking first, each with how to fix it.
    pub vetting_reasons: Vec<VettingReason>,
    /// The verified caller name signed as `rcd.nam` on calls attested at A (VETTED_VERIFIED
    /// brands only, else null): `displayName` when it names the vetted company (words of
    /// `companyName` starting with its first), else `companyName`.
    pub caller_name: Option<String>,
    /// Incremented on every update.
    pub version: i64,
    /// Registration time.
    pub create_date: String,
    /// Last change.
    pub update_date: String,
}

impl From<BrandRow> for BrandView {
    fn from(b: BrandRow) -> Self {
        Self {
            brand_id: b.id,
            csp_id: b.csp_id,
            caller_name: (b.identity_status == IdentityStatus::VettedVerified)
                .then(|| b.details.verified_caller_name().to_owned()),
            details: b.details,
            identity_status: b.identity_status,
            vetting_score: b.score,
            vetting_reasons: b.vetting.map(|v| v.reasons).unwrap_or_default(),
            version: b.version,
            create_date: rfc3339(b.created),
            update_date: rfc3339(b.updated),
        }
    }
}

/// A campaign's sharing with a DCA.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharingView {
    /// The DCA (upstream connectivity partner).
    pub upstream_cnp_id: ProviderId,
    /// PENDING, ACCEPTED or DECLINED.
    pub sharing_status: SharingStatus,
    /// The DCA's reason for a decline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was shared.
    pub shared_date: String,
    /// When the status last changed.
    pub status_date: String,
}

/// A campaign.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignView {
    /// Its id.
    pub campaign_id: CampaignId,
    /// Its CSP.
    pub csp_id: ProviderId,
    /// The campaign's fields.
    #[serde(flatten)]
    pub details: CampaignRequest,
    /// ACTIVE, SUSPENDED or EXPIRED.
    pub status: CampaignStatus,
    /// Why the status last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The DCA that accepted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dca_id: Option<ProviderId>,
    /// Message class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_class: Option<ThroughputClass>,
    /// Messages per minute of that class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_per_minute: Option<u32>,
    /// Sharing history.
    pub sharing: Vec<SharingView>,
    /// Incremented on every update.
    pub version: i64,
    /// Creation time.
    pub create_date: String,
    /// Last change.
    pub update_date: String,
}

impl CampaignView {
    /// The view of a row, with the class the index holds.
    pub fn new(c: CampaignRow, class: Option<ThroughputClass>) -> Self {
        Self {
            campaign_id: c.id,
            csp_id: c.csp_id,
            details: c.details,
            status: c.status,
            status_reason: c.status_reason,
            dca_id: c.dca_id,
            throughput_class: class,
            sms_per_minute: class.map(ThroughputClass::sms_per_minute),
            sharing: c
                .sharing
                .into_iter()
                .map(|s| SharingView {
                    upstream_cnp_id: s.dca_id,
                    sharing_status: s.status,
                    reason: s.reason,
                    shared_date: rfc3339(s.shared),
                    status_date: rfc3339(s.status_time),
                })
                .collect(),
            version: c.version,
            create_date: rfc3339(c.created),
            update_date: rfc3339(c.updated),
        }
    }
}

/// A page of the numbers a campaign holds now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignNumbersView {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Its status now.
    pub campaign_status: CampaignStatus,
    /// The DCA carrying it, if one accepted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dca_id: Option<ProviderId>,
    /// How many numbers it holds in all.
    pub total: u64,
    /// This page, ascending.
    pub numbers: Vec<CampaignNumberView>,
    /// The last number of this page when another page follows (pass it as `after`), else null.
    pub next: Option<String>,
}

/// A number of a campaign.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignNumberView {
    /// The number.
    pub number: TelephoneNumber,
    /// Whether it is suspended on its own (spam reports, its DCA), whatever its campaign's state.
    pub suspended: bool,
}

/// The public answer for a number: which campaign holds it and who carries it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberView {
    /// The number.
    pub number: TelephoneNumber,
    /// The campaign holding it.
    pub campaign_id: CampaignId,
    /// That campaign's status (at `at`, for point-in-time answers).
    pub campaign_status: CampaignStatus,
    /// The DCA carrying the campaign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dca_id: Option<ProviderId>,
    /// Message class (current answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_class: Option<ThroughputClass>,
    /// Messages per minute of that class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_per_minute: Option<u32>,
    /// The instant asked about, for point-in-time answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Start of the holding interval (point-in-time answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_since: Option<String>,
    /// End of the holding interval, if it ended (point-in-time answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_until: Option<String>,
    /// Whether the number itself is suspended (now, or at `at`): the gateway refuses its
    /// messages (0x40C) whatever `campaignStatus` says. Lookups only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_suspended: Option<bool>,
}

impl NumberView {
    /// From a service answer.
    pub fn new(a: NumberAnswer, at: Option<Timestamp>) -> Self {
        Self {
            number: a.number,
            campaign_id: a.campaign_id,
            campaign_status: a.campaign_status,
            dca_id: a.dca_id,
            throughput_class: a.throughput_class,
            sms_per_minute: a.throughput_class.map(ThroughputClass::sms_per_minute),
            at: at.map(rfc3339),
            held_since: a.held_since.map(rfc3339),
            held_until: a.held_until.map(rfc3339),
            number_suspended: a.number_suspended,
        }
    }
}

/// One interval during which a campaign held a number.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntervalView {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// The DCA at the time.
    pub dca_id: ProviderId,
    /// Start (inclusive).
    pub from: String,
    /// End (exclusive); absent while held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Why it was released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_reason: Option<String>,
    /// Sequence number of the `number.assigned` event.
    pub assigned_event: u64,
    /// Sequence number of the `number.released` event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_event: Option<u64>,
}

/// Every interval a number was held.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryView {
    /// The number.
    pub number: TelephoneNumber,
    /// Oldest first.
    pub intervals: Vec<IntervalView>,
}

impl HistoryView {
    /// From store rows.
    pub fn new(number: TelephoneNumber, rows: Vec<AssignmentRow>) -> Self {
        Self {
            number,
            intervals: rows
                .into_iter()
                .map(|r| IntervalView {
                    campaign_id: r.campaign_id,
                    dca_id: r.dca_id,
                    from: rfc3339(r.assigned),
                    until: r.released.map(rfc3339),
                    release_reason: r.release_reason,
                    assigned_event: r.assigned_seq,
                    released_event: r.released_seq,
                })
                .collect(),
        }
    }
}

/// A rejected import row.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectedRow {
    /// Line in the file.
    pub line: u64,
    /// The number as written.
    pub number: String,
    /// Why it was rejected.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReportView {
    /// Rows newly assigned (durable once this response is sent).
    pub accepted: u64,
    /// Rows already in place.
    pub unchanged: u64,
    /// Rows refused, with reasons.
    pub rejected: Vec<RejectedRow>,
}

impl From<ImportReport> for ImportReportView {
    fn from(r: ImportReport) -> Self {
        Self {
            accepted: r.accepted,
            unchanged: r.unchanged,
            rejected: r
                .rejected
                .into_iter()
                .map(|x| RejectedRow { line: x.line, number: x.number, reason: x.reason })
                .collect(),
        }
    }
}

/// Result of a sanctions list import.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SanctionsImportView {
    /// Parties listed.
    pub entries: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    /// Brands whose vetting changed under the new list.
    pub revetted_brands: Vec<BrandId>,
}

/// `PUT /v1/numbers/{number}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignNumber {
    /// The campaign to assign the number to.
    pub campaign_id: CampaignId,
}

/// A reason, for suspensions, resumptions and declines.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why; recorded in the registry's history.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok`, or `degraded` when a part of the server has stopped working while it still
    /// answers (the transparency log has halted: `logHalted` says why; the database does not
    /// answer: `databaseUnavailable` says why).
    pub status: &'static str,
    /// Numbers held in the index.
    pub numbers: usize,
    /// Sequence number of the last registry event (when the database does not answer: the
    /// last one this node applied, `appliedEvent`).
    pub last_event: u64,
    /// The last event this node has applied to its memory (on a shared database it trails
    /// `lastEvent` by what other nodes wrote in the last quarter second or so).
    pub applied_event: u64,
    /// The store: `sqlite` (embedded) or `postgres`.
    pub store: &'static str,
    /// Whether this node is the transparency log's sequencer.
    pub sequencer: bool,
    /// With the SMPP gateway on: whether this node is bound to each upstream SMSC now, by
    /// address (`false` while it is away or refuses vouch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smscs: Option<std::collections::BTreeMap<String, bool>>,
    /// Why the transparency log stopped growing, if it did (the registry still takes writes;
    /// their events wait, outside the signed tree, until an operator has investigated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_halted: Option<String>,
    /// Why the database cannot be used now, if it cannot (no answer within 2 s, or an error):
    /// writes and the reads that need it answer `503 database-unavailable` meanwhile; public
    /// number lookups go on from memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_unavailable: Option<String>,
}
