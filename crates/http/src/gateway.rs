//! The SMPP gateway's REST resources: CSP accounts (`/v1/providers/{id}/smpp-accounts`) and
//! the gateway's decision records (`/v1/gateway/records`) and their counts per minute
//! (`/v1/gateway/minutes`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vouch_registry::{CampaignId, ProviderId, TelephoneNumber};
use vouch_service::SmppGateway;
use vouch_store::{GatewayMinute, GatewayRecord, SmppAccountRow};

use crate::handlers::query;
use crate::problem::{ApiError, Auth, JsonBody, Problem, instant, path_param, running};
use crate::{AppState, JSON_BODY_LIMIT};

type Result<T> = std::result::Result<T, ApiError>;

pub(crate) fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(issue_account, list_accounts))
        .routes(routes!(revoke_account))
        .routes(routes!(rotate_password))
        .routes(routes!(records))
        .routes(routes!(minutes))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
}

fn gateway(s: &AppState) -> Result<&Arc<SmppGateway>> {
    running(&s.gateway, "smpp-gateway-off", "The SMPP gateway", "--smpp")
}

/// `POST /v1/providers/{id}/smpp-accounts` body (may be empty: `{}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmppAccountRequest {
    /// The `system_id` wanted (1-15 of `A-Z a-z 0-9 _ -`); generated when absent.
    #[serde(default)]
    pub system_id: Option<String>,
}

/// An SMPP account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmppAccountView {
    /// `system_id` to bind with.
    pub system_id: String,
    /// The CSP it binds as.
    pub provider_id: ProviderId,
    /// When it was issued.
    pub created: String,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// The password, only in the answer that issued the account or rotated its password (8
    /// characters, SMPP 3.4's limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl From<SmppAccountRow> for SmppAccountView {
    fn from(r: SmppAccountRow) -> Self {
        Self {
            system_id: r.system_id,
            provider_id: r.provider_id,
            created: r.created.to_string(),
            revoked: r.revoked.map(|t| t.to_string()),
            password: None,
        }
    }
}

/// Issue an SMPP account to a CSP (the CSP itself or the administrator). The password is in
/// this answer only; vouch keeps a PBKDF2 hash.
#[utoipa::path(post, path = "/v1/providers/{id}/smpp-accounts", tag = "smpp gateway", request_body = SmppAccountRequest,
    security(("bearer" = [])), params(("id" = String, Path, description = "provider id (a CSP)")),
    responses((status = 201, body = SmppAccountView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn issue_account(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<SmppAccountRequest>,
) -> Result<Response> {
    let id: ProviderId = path_param("providerId", &id)?;
    let issued = s.registry.issue_smpp_account(&p, id, req.system_id).await?;
    let mut view = SmppAccountView::from(issued.account);
    view.password = Some(issued.password);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A CSP's SMPP accounts (without passwords).
#[utoipa::path(get, path = "/v1/providers/{id}/smpp-accounts", tag = "smpp gateway", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id")), responses((status = 200, body = Vec<SmppAccountView>)))]
async fn list_accounts(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<SmppAccountView>>> {
    let id: ProviderId = path_param("providerId", &id)?;
    Ok(Json(s.registry.smpp_accounts(&p, id).await?.into_iter().map(Into::into).collect()))
}

/// Rotate an SMPP account's password (the account's CSP or the administrator). The new
/// password is in this answer only; binds with the old one fail from now on (0x0E), while
/// sessions already bound stay bound. An unknown or revoked account is not found (404).
#[utoipa::path(post, path = "/v1/providers/{id}/smpp-accounts/{system_id}/password", tag = "smpp gateway",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id (a CSP)"), ("system_id" = String, Path, description = "the account's system_id")),
    responses((status = 200, body = SmppAccountView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn rotate_password(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, system_id)): Path<(String, String)>,
) -> Result<Json<SmppAccountView>> {
    let id: ProviderId = path_param("providerId", &id)?;
    let rotated = s.registry.rotate_smpp_password(&p, id, &system_id).await?;
    let mut view = SmppAccountView::from(rotated.account);
    view.password = Some(rotated.password);
    Ok(Json(view))
}

/// Revoke an SMPP account: new binds are refused and bound sessions are unbound (within 5 s;
/// answers to earlier submits still go out).
#[utoipa::path(delete, path = "/v1/providers/{id}/smpp-accounts/{system_id}", tag = "smpp gateway",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id"), ("system_id" = String, Path, description = "the account's system_id")),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_account(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, system_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let id: ProviderId = path_param("providerId", &id)?;
    s.registry.revoke_smpp_account(&p, id, &system_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RecordsQuery {
    /// Only this source number (E.164).
    source: Option<String>,
    /// Only records at or after this instant (RFC 3339); default: 24 hours before `until`.
    since: Option<String>,
    /// Only records at or before this instant (RFC 3339); default: now.
    until: Option<String>,
    /// At most this many (1-10,000; default 100), newest first.
    limit: Option<u32>,
}

/// A gateway decision.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRecordView {
    /// When.
    pub at: String,
    /// The bound account.
    pub system_id: String,
    /// Its CSP.
    pub provider_id: ProviderId,
    /// The source number.
    pub source: String,
    /// The campaign holding it then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<CampaignId>,
    /// Keyed hash of the destination (the number itself is never kept).
    pub destination_hash: String,
    /// 64-bit SimHash of the content (the content is never kept).
    pub fingerprint: String,
    /// SMS parts.
    pub parts: u32,
    /// `accepted`, `rejected` or `flagged`.
    pub verdict: String,
    /// The command_status, as `0x0000040A`.
    pub status: String,
    /// Its name (`ESME_RTHROTTLED`, `VOUCH_VENDOR`…) and meaning.
    pub reason: String,
    /// What exactly.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The message id given to the ESME.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl From<GatewayRecord> for GatewayRecordView {
    fn from(r: GatewayRecord) -> Self {
        let (status, reason) = status_and_reason(r.status);
        Self {
            at: r.at.to_string(),
            system_id: r.system_id,
            provider_id: r.provider_id,
            source: r.source,
            campaign_id: r.campaign_id,
            destination_hash: r.dest_key,
            fingerprint: r.fingerprint,
            parts: r.parts,
            verdict: r.verdict,
            status,
            reason,
            detail: r.detail,
            message_id: r.message_id,
        }
    }
}

/// The gateway's decisions, newest first (administrator and the gateway's DCA: all; a CSP:
/// its own accounts').
#[utoipa::path(get, path = "/v1/gateway/records", tag = "smpp gateway", security(("bearer" = [])),
    params(RecordsQuery), responses((status = 200, body = Vec<GatewayRecordView>), (status = 503, body = Problem)))]
async fn records(
    State(s): State<AppState>,
    Auth(p): Auth,
    q: std::result::Result<Query<RecordsQuery>, QueryRejection>,
) -> Result<Json<Vec<GatewayRecordView>>> {
    let q = query(q)?;
    let source: Option<TelephoneNumber> = q.source.as_deref().map(|s| path_param("source", s)).transpose()?;
    let until = match q.until.as_deref() {
        Some(t) => instant("until", t)?,
        None => s.registry.now(),
    };
    let since = match q.since.as_deref() {
        Some(t) => instant("since", t)?,
        None => until - jiff::SignedDuration::from_hours(24),
    };
    let bad = |slug: &'static str, detail: &str| {
        ApiError(Problem::new(StatusCode::BAD_REQUEST, slug, "Invalid query parameter", detail.to_owned()))
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(bad("invalid-limit", "limit: 1 to 10,000"));
    }
    if since > until {
        return Err(bad("invalid-since", "since: not after until"));
    }
    let rows = gateway(&s)?.records(&p, source, since, until, limit).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// `GET /v1/gateway/minutes` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct MinutesQuery {
    /// From the minute this instant falls in (RFC 3339); default: 15 minutes ago. At most 24
    /// hours back.
    since: Option<String>,
}

/// The gateway's decisions of one minute with one verdict and command_status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayMinuteView {
    /// Start of the minute (RFC 3339, UTC).
    pub minute: String,
    /// `accepted`, `rejected` or `flagged`.
    pub verdict: String,
    /// The command_status, as `0x0000040A`.
    pub status: String,
    /// Its name and meaning.
    pub reason: String,
    /// How many messages.
    pub messages: u64,
}

impl From<GatewayMinute> for GatewayMinuteView {
    fn from(m: GatewayMinute) -> Self {
        let (status, reason) = status_and_reason(m.status);
        Self { minute: m.minute.to_string(), verdict: m.verdict, status, reason, messages: m.messages }
    }
}

/// A command_status as `0x0000040A`, and its name and meaning.
fn status_and_reason(code: u32) -> (String, String) {
    let status = vouch_smpp::CommandStatus(code);
    (format!("0x{code:08X}"), format!("{}: {}", status.name(), status.description()))
}

/// The gateway's decisions counted per minute, verdict and command_status, newest minute first
/// (administrator and the gateway's DCA: every CSP's; a CSP: its own accounts'). Counted as
/// the decisions are written, on every node: a few rows a minute at any traffic.
#[utoipa::path(get, path = "/v1/gateway/minutes", tag = "smpp gateway", security(("bearer" = [])),
    params(MinutesQuery), responses((status = 200, body = Vec<GatewayMinuteView>), (status = 400, body = Problem),
    (status = 503, body = Problem)))]
async fn minutes(
    State(s): State<AppState>,
    Auth(p): Auth,
    q: std::result::Result<Query<MinutesQuery>, QueryRejection>,
) -> Result<Json<Vec<GatewayMinuteView>>> {
    let q = query(q)?;
    let now = s.registry.now();
    let since = match q.since.as_deref() {
        Some(t) => instant("since", t)?,
        None => now - jiff::SignedDuration::from_mins(15),
    };
    if since < now - jiff::SignedDuration::from_hours(24) {
        return Err(ApiError(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-since",
            "Invalid instant",
            "since: at most 24 hours back (the records keep the rest: /v1/gateway/records)".to_owned(),
        )));
    }
    let rows = gateway(&s)?.minutes(&p, since).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}
