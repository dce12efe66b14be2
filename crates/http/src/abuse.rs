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
        .routes(routes!(list_webhook_deliveries))
        .routes(routes!(retry_webhook_delivery))
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

/// `GET /v1/providers/{id}/webhook/deliveries` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    /// Only deliveries in this state: `pending`, `delivered` or `failed`.
    status: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<u32>,
}

/// A notification to a provider and where its delivery stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The delivery's id (`Vouch-Delivery`, and the body's `id`).
    pub id: String,
    /// The event kind (`Vouch-Event`).
    pub kind: String,
    /// The registry event it tells of.
    pub seq: u64,
    /// `pending` (tried again at `nextAttempt`), `delivered` or `failed` (given up after a day
    /// of retries, or the webhook was removed; `POST …/retry` sends it again).
    pub status: &'static str,
    /// Attempts so far.
    pub attempts: u32,
    /// When the event was turned into this delivery.
    pub created: String,
    /// The last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<String>,
    /// Pending: the next attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<String>,
    /// What the last failed attempt got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The JSON POSTed (the same bytes each attempt).
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

impl From<vouch_store::WebhookDelivery> for DeliveryView {
    fn from(d: vouch_store::WebhookDelivery) -> Self {
        let pending = d.status == vouch_store::DeliveryStatus::Pending;
        Self {
            body: serde_json::from_str(&d.body).unwrap_or(serde_json::Value::String(d.body.clone())),
            id: d.id,
            kind: d.kind,
            seq: d.seq,
            status: d.status.as_str(),
            attempts: d.attempts,
            created: d.created.to_string(),
            last_attempt: d.last_attempt.map(|t| t.to_string()),
            next_attempt: pending.then(|| d.next_attempt.to_string()),
            last_error: d.last_error,
        }
    }
}

/// The provider's notifications, newest first, with where each delivery stands: what it
/// missed while its receiver was down, and what was given up.
#[utoipa::path(get, path = "/v1/providers/{id}/webhook/deliveries", tag = "providers", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id"), DeliveriesQuery),
    responses((status = 200, body = Vec<DeliveryView>), (status = 400, description = "a `status` or `limit` the server cannot use (invalid-query)", body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_webhook_deliveries(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    q: std::result::Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<Vec<DeliveryView>>> {
    let id: ProviderId = path_param("providerId", &id)?;
    let q = crate::handlers::query(q)?;
    let status = match q.status.as_deref() {
        None => None,
        Some("pending") => Some(vouch_store::DeliveryStatus::Pending),
        Some("delivered") => Some(vouch_store::DeliveryStatus::Delivered),
        Some("failed") => Some(vouch_store::DeliveryStatus::Failed),
        Some(other) => {
            return Err(crate::handlers::invalid_query(format!(
                "status: {other:?} is not one of pending, delivered, failed"
            )));
        }
    };
    let limit = match q.limit {
        Some(0) => {
            return Err(crate::handlers::invalid_query("limit: 0 deliveries is no page; ask for 1 to 1000".into()));
        }
        Some(l) => l.min(1000),
        None => 100,
    };
    let rows = s.registry.webhook_deliveries(&p, id, status, limit).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Send a delivery again now (a failed one, or a delivered one the receiver lost); its id
/// stays the same, so a receiver that got it already drops the repeat.
#[utoipa::path(post, path = "/v1/providers/{id}/webhook/deliveries/{deliveryId}/retry", tag = "providers", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id"), ("deliveryId" = String, Path, description = "delivery id")),
    responses((status = 202, body = DeliveryView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn retry_webhook_delivery(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response> {
    let id: ProviderId = path_param("providerId", &id)?;
    let d = s.registry.retry_webhook_delivery(&p, id, &delivery).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(d))).into_response())
}
