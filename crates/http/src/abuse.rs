//! Risk scores (`/v1/risk/…`), number suspension (`/v1/numbers/{number}/suspend`,
//! `/reinstate`) and providers' webhooks (`/v1/providers/{id}/webhook`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vouch_registry::{BrandId, CampaignId, ProviderId, TelephoneNumber};
use vouch_service::{BrandRisk, CampaignRisk, SuspensionAnswer};
use vouch_store::WebhookRow;

use crate::handlers::query;
use crate::problem::{ApiError, Auth, JsonBody, Problem, path_param};
use crate::views::ReasonBody;
use crate::{AppState, JSON_BODY_LIMIT};

type Result<T> = std::result::Result<T, ApiError>;

pub(crate) fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(risky_campaigns))
        .routes(routes!(campaign_risk))
        .routes(routes!(brand_risk))
        .routes(routes!(suspend_number))
        .routes(routes!(reinstate_number))
        .routes(routes!(set_webhook, get_webhook, delete_webhook))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
}

/// `GET /v1/risk/campaigns` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RiskQuery {
    /// Only campaigns scoring at least this (default 1).
    min_score: Option<u8>,
}

/// Campaigns with activity in the scoring window, highest risk first: every campaign for the
/// administrator, those it carries for a DCA.
#[utoipa::path(get, path = "/v1/risk/campaigns", tag = "traceback", security(("bearer" = [])), params(RiskQuery),
    responses((status = 200, body = Object), (status = 403, body = Problem)))]
async fn risky_campaigns(
    State(s): State<AppState>,
    Auth(p): Auth,
    q: std::result::Result<Query<RiskQuery>, QueryRejection>,
) -> Result<Json<Vec<CampaignRisk>>> {
    let q = query(q)?;
    Ok(Json(s.abuse.risky_campaigns(&p, q.min_score.unwrap_or(1)).await?))
}

/// A campaign's risk score with its reasons and signals (its DCA and the administrator).
#[utoipa::path(get, path = "/v1/risk/campaigns/{id}", tag = "traceback", security(("bearer" = [])),
    params(("id" = String, Path, description = "campaign id")),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn campaign_risk(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<Json<CampaignRisk>> {
    let id: CampaignId = path_param("campaignId", &id)?;
    Ok(Json(s.abuse.campaign_risk(&p, id).await?))
}

/// A brand's risk score over its campaigns, with EIN re-registration (the administrator, and a
/// DCA carrying one of its campaigns).
#[utoipa::path(get, path = "/v1/risk/brands/{id}", tag = "traceback", security(("bearer" = [])),
    params(("id" = String, Path, description = "brand id")),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn brand_risk(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<Json<BrandRisk>> {
    let id: BrandId = path_param("brandId", &id)?;
    Ok(Json(s.abuse.brand_risk(&p, id).await?))
}

/// A number's suspension or reinstatement.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuspensionView {
    /// The number.
    pub number: String,
    /// The campaign holding it.
    pub campaign_id: CampaignId,
    /// Suspended now.
    pub suspended: bool,
    /// Why.
    pub reason: String,
    /// The registry event.
    pub seq: u64,
}

impl From<SuspensionAnswer> for SuspensionView {
    fn from(a: SuspensionAnswer) -> Self {
        Self {
            number: a.number.to_string(),
            campaign_id: a.campaign_id,
            suspended: a.suspended,
            reason: a.reason,
            seq: a.seq,
        }
    }
}

/// Suspend one number (the DCA of its campaign or the administrator), with `{"reason": "…"}`:
/// the gateway refuses its next message with 0x40C.
#[utoipa::path(post, path = "/v1/numbers/{number}/suspend", tag = "numbers", security(("bearer" = [])), request_body = ReasonBody,
    params(("number" = String, Path, description = "E.164 number")),
    responses((status = 200, body = SuspensionView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn suspend_number(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(number): Path<String>,
    JsonBody(r): JsonBody<ReasonBody>,
) -> Result<Json<SuspensionView>> {
    number_status(&s, &p, &number, true, r).await
}

/// Reinstate a suspended number (the DCA of its campaign or the administrator), with a reason.
#[utoipa::path(post, path = "/v1/numbers/{number}/reinstate", tag = "numbers", security(("bearer" = [])), request_body = ReasonBody,
    params(("number" = String, Path, description = "E.164 number")),
    responses((status = 200, body = SuspensionView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn reinstate_number(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(number): Path<String>,
    JsonBody(r): JsonBody<ReasonBody>,
) -> Result<Json<SuspensionView>> {
    number_status(&s, &p, &number, false, r).await
}

async fn number_status(
    s: &AppState,
    p: &vouch_service::Principal,
    number: &str,
    suspend: bool,
    r: ReasonBody,
) -> Result<Json<SuspensionView>> {
    let number: TelephoneNumber = path_param("number", number)?;
    Ok(Json(s.registry.set_number_suspended(p, number, suspend, r.reason.unwrap_or_default()).await?.into()))
}

/// `PUT /v1/providers/{id}/webhook` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// Where notifications are POSTed: `https://…` (or `http://` to a loopback address).
    pub url: String,
}

/// A provider's webhook (the secret only when it is issued).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    /// The provider.
    pub provider_id: ProviderId,
    /// The URL.
    pub url: String,
    /// The HMAC-SHA256 key of the `Vouch-Signature` header; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// When it was set.
    pub created: String,
}

impl WebhookView {
    fn new(w: WebhookRow, with_secret: bool) -> Self {
        Self {
            provider_id: w.provider_id,
            url: w.url,
            secret: with_secret.then_some(w.secret),
            created: w.created.to_string(),
        }
    }
}

/// Set where the provider's notifications go (suspensions and reinstatements of its campaigns
/// and numbers); a new signing secret is issued and shown once.
#[utoipa::path(put, path = "/v1/providers/{id}/webhook", tag = "providers", security(("bearer" = [])), request_body = WebhookBody,
    params(("id" = String, Path, description = "provider id")),
    responses((status = 201, body = WebhookView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn set_webhook(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<WebhookBody>,
) -> Result<Response> {
    let id: ProviderId = path_param("providerId", &id)?;
    let w = s.registry.set_webhook(&p, id, b.url).await?;
    Ok((StatusCode::CREATED, Json(WebhookView::new(w, true))).into_response())
}

/// The provider's webhook (without its secret).
#[utoipa::path(get, path = "/v1/providers/{id}/webhook", tag = "providers", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id")),
    responses((status = 200, body = WebhookView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_webhook(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<Json<WebhookView>> {
    let id: ProviderId = path_param("providerId", &id)?;
    Ok(Json(WebhookView::new(s.registry.webhook(&p, id).await?, false)))
}

/// Stop notifications.
#[utoipa::path(delete, path = "/v1/providers/{id}/webhook", tag = "providers", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_webhook(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<StatusCode> {
    let id: ProviderId = path_param("providerId", &id)?;
    s.registry.delete_webhook(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
