//! Spam reports (`/v1/reports`) and traceback (`/v1/trace`, `/v1/reports/{id}/trace`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vouch_registry::{BrandId, CampaignId, ProviderId, ReportId, TelephoneNumber};
use vouch_service::{Channel, ReportRequest, ServiceError, Trace, TraceQuery, Traceback};
use vouch_store::ReportRow;

use crate::handlers::query;
use crate::problem::{ApiError, Auth, JsonBody, Problem, instant, path_param};
use crate::{AppState, JSON_BODY_LIMIT};

type Result<T> = std::result::Result<T, ApiError>;

pub(crate) fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(file_report))
        .routes(routes!(report))
        .routes(routes!(report_trace))
        .routes(routes!(trace))
        .routes(routes!(campaign_reports))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
}

fn traceback(s: &AppState) -> Traceback {
    Traceback::new(s.registry.clone(), s.callauth.clone(), s.gateway.clone(), s.log.clone())
}

/// `POST /v1/reports` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportBody {
    /// `sms` or `voice`.
    pub channel: String,
    /// The offending number (E.164).
    pub number: String,
    /// When the message or call happened (RFC 3339).
    pub at: String,
    /// `spam`, `phishing`, `fraud`, `robocall`, `spoofed`, `unwanted` or `other`.
    pub category: String,
    /// The message's text (sms): kept only as a similarity fingerprint unless `keepContent`.
    #[serde(default)]
    pub content: Option<String>,
    /// Keep the text itself.
    #[serde(default)]
    pub keep_content: bool,
    /// The call's Identity header, or its bare PASSporT (voice).
    #[serde(default)]
    pub identity: Option<String>,
}

/// A filed report.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportView {
    /// Its id.
    pub id: ReportId,
    /// Who filed it.
    pub reporter_id: ProviderId,
    /// `sms` or `voice`.
    pub channel: String,
    /// The number.
    pub number: String,
    /// When it happened.
    pub at: String,
    /// Category.
    pub category: String,
    /// The campaign that held the number then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<CampaignId>,
    /// Its brand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<BrandId>,
    /// SimHash of the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The content, when kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The call's `origid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origid: Option<String>,
    /// When it was filed.
    pub created: String,
    /// Where its trace is.
    pub trace_url: String,
    /// What the enforcement policies did when it was filed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub enforced: Vec<vouch_service::Enforced>,
}

impl From<ReportRow> for ReportView {
    fn from(r: ReportRow) -> Self {
        Self {
            trace_url: format!("/v1/reports/{}/trace", r.id),
            id: r.id,
            reporter_id: r.reporter_id,
            channel: r.channel,
            number: r.number.to_string(),
            at: r.at.to_string(),
            category: r.category,
            campaign_id: r.campaign_id,
            brand_id: r.brand_id,
            fingerprint: r.fingerprint,
            content: r.content,
            origid: r.origid,
            created: r.created.to_string(),
            enforced: Vec::new(),
        }
    }
}

/// A report against a campaign, as its CSP and DCA see it: who filed it and what content the
/// reporter kept only for the reporter and the administrator.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignReportView {
    /// The report's id.
    pub id: ReportId,
    /// Who filed it (the administrator and the reporter only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter_id: Option<ProviderId>,
    /// `sms` or `voice`.
    pub channel: String,
    /// The reported number.
    pub number: String,
    /// When the message or call happened, as reported.
    pub at: String,
    /// The category.
    pub category: String,
    /// SimHash of the content, when content was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The `origid` of a reported call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origid: Option<String>,
    /// When it was filed.
    pub created: String,
}

/// `GET /v1/campaigns/{campaignId}/reports` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CampaignReportsQuery {
    /// Reports about instants from this one on (RFC 3339; default 30 days back).
    since: Option<String>,
}

/// The reports against a campaign, newest first (at most 1,000): its CSP, its DCA and the
/// administrator, to check (and contest) what its risk score and suspensions rest on.
#[utoipa::path(get, path = "/v1/campaigns/{campaignId}/reports", tag = "traceback", security(("bearer" = [])),
    params(("campaignId" = String, Path, description = "Campaign id"), CampaignReportsQuery),
    responses((status = 200, body = Vec<CampaignReportView>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn campaign_reports(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    q: std::result::Result<Query<CampaignReportsQuery>, QueryRejection>,
) -> Result<Json<Vec<CampaignReportView>>> {
    let id: CampaignId = path_param("campaignId", &id)?;
    let since = match query(q)?.since {
        Some(raw) => instant("since", &raw)?,
        None => s.registry.now() - jiff::SignedDuration::from_hours(24 * 30),
    };
    let rows = traceback(&s).campaign_reports(&p, id, since).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(r, full)| CampaignReportView {
                id: r.id,
                reporter_id: full.then_some(r.reporter_id),
                channel: r.channel,
                number: r.number.to_string(),
                at: r.at.to_string(),
                category: r.category,
                fingerprint: r.fingerprint,
                origid: r.origid,
                created: r.created.to_string(),
            })
            .collect(),
    ))
}

/// Files a spam report (carriers, DCAs and voice providers). The campaign that held the number
/// at `at` is resolved now.
#[utoipa::path(post, path = "/v1/reports", tag = "traceback", security(("bearer" = [])), request_body = ReportBody,
    responses((status = 201, body = ReportView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn file_report(State(s): State<AppState>, Auth(p): Auth, JsonBody(b): JsonBody<ReportBody>) -> Result<Response> {
    let number: TelephoneNumber = b.number.trim().parse().map_err(ServiceError::from)?;
    let req = ReportRequest {
        channel: b.channel.parse()?,
        number,
        at: instant("at", &b.at)?,
        category: b.category,
        content: b.content,
        keep_content: b.keep_content,
        identity: b.identity,
    };
    let row = traceback(&s).file_report(&p, req).await?;
    let enforced = match s.abuse.after_report(&row).await {
        Ok(done) => done,
        Err(e) => {
            // The report is filed; the periodic sweep scores its campaign again.
            tracing::warn!(report = %row.id, error = %e, "enforcement after a report failed");
            Vec::new()
        }
    };
    let mut view = ReportView::from(row);
    view.enforced = enforced;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A report (its reporter and the administrator).
#[utoipa::path(get, path = "/v1/reports/{id}", tag = "traceback", security(("bearer" = [])),
    params(("id" = String, Path, description = "Report id")),
    responses((status = 200, body = ReportView), (status = 404, body = Problem)))]
async fn report(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<Json<ReportView>> {
    let id: ReportId = path_param("id", &id)?;
    Ok(Json(traceback(&s).report(&p, id).await?.into()))
}

/// Whether to inline inclusion proofs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ProofsQuery {
    /// Inline each cited event's inclusion proof (default true).
    proofs: Option<bool>,
}

/// The trace of a report.
#[utoipa::path(get, path = "/v1/reports/{id}/trace", tag = "traceback", security(("bearer" = [])),
    params(("id" = String, Path, description = "Report id"), ProofsQuery),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
async fn report_trace(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    q: std::result::Result<Query<ProofsQuery>, QueryRejection>,
) -> Result<Json<Trace>> {
    let q = query(q)?;
    let id: ReportId = path_param("id", &id)?;
    Ok(Json(traceback(&s).trace_report(&p, id, q.proofs.unwrap_or(true)).await?))
}

/// `GET /v1/trace` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TraceParams {
    /// The number (E.164).
    tn: String,
    /// The instant (RFC 3339; default now).
    at: Option<String>,
    /// `sms` (default) or `voice`.
    channel: Option<String>,
    /// A call's Identity header or PASSporT (voice).
    identity: Option<String>,
    /// The message's text, to count similar messages (only its fingerprint is used).
    content: Option<String>,
    /// Inline each cited event's inclusion proof (default true).
    proofs: Option<bool>,
}

/// Who stood behind a number at an instant: the campaign, brand, CSP and DCA that held it then,
/// the gateway's decisions around it (sms) or the call's signer (voice), and the registry events
/// it rests on with their inclusion proofs.
#[utoipa::path(get, path = "/v1/trace", tag = "traceback", security(("bearer" = [])), params(TraceParams),
    responses((status = 200, body = Object), (status = 400, body = Problem, description = "a bad parameter; `invalid-at` also for an instant before 2015-01-01 or more than a day ahead"),
        (status = 403, body = Problem)))]
async fn trace(
    State(s): State<AppState>,
    Auth(p): Auth,
    q: std::result::Result<Query<TraceParams>, QueryRejection>,
) -> Result<Json<Trace>> {
    let q = query(q)?;
    let number: TelephoneNumber = path_param("tn", &q.tn)?;
    let now = s.registry.now();
    let at = match q.at.as_deref() {
        Some(t) => instant("at", t)?,
        None => now,
    };
    if let Some(why) = vouch_service::trace_instant_error(at, now) {
        return Err(ApiError(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-at",
            "Instant out of range",
            format!("at: {why}; trace an instant from {} to a day past now", vouch_service::EARLIEST_INSTANT),
        )));
    }
    let channel = match q.channel.as_deref() {
        Some(c) => c.parse()?,
        None if q.identity.is_some() => Channel::Voice,
        None => Channel::Sms,
    };
    let fingerprint = q.content.as_deref().map(vouch_service::content_fingerprint);
    let query = TraceQuery { channel, number, at, identity: q.identity, fingerprint, proofs: q.proofs.unwrap_or(true) };
    Ok(Json(traceback(&s).trace(&p, query).await?))
}
