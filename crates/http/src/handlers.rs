//! The handlers, each documented for the OpenAPI document.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vouch_registry::{
    BrandId, BrandRequest, CampaignId, CampaignRequest, ProviderId, ProviderRegistration, TelephoneNumber,
};

use crate::problem::{ApiError, Auth, JsonBody, Problem, RawBody, parse_json, path_param};
use crate::views::*;
use crate::{AppState, CSV_BODY_LIMIT, JSON_BODY_LIMIT};

type Result<T> = std::result::Result<T, ApiError>;

pub(crate) fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let json = r
        .routes(routes!(healthz))
        .routes(routes!(create_provider, list_providers))
        .routes(routes!(get_provider))
        .routes(routes!(whoami))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(create_brand, list_brands))
        .routes(routes!(get_brand, update_brand))
        .routes(routes!(revet_brand))
        .routes(routes!(create_campaign, list_campaigns))
        .routes(routes!(get_campaign, update_campaign, expire_campaign))
        .routes(routes!(list_campaign_numbers))
        .routes(routes!(share_campaign))
        .routes(routes!(accept_sharing))
        .routes(routes!(decline_sharing))
        .routes(routes!(suspend_campaign))
        .routes(routes!(resume_campaign))
        .routes(routes!(get_number, assign_number, release_number))
        .routes(routes!(number_history))
        .routes(routes!(list_events))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
    let csv = OpenApiRouter::new()
        .routes(routes!(import_numbers))
        .routes(routes!(import_sanctions))
        .layer(DefaultBodyLimit::max(CSV_BODY_LIMIT));
    json.merge(csv)
}

/// A query string parsed, or a problem naming what is wrong with it.
pub(crate) fn query<T>(q: std::result::Result<Query<T>, QueryRejection>) -> Result<T> {
    q.map(|Query(t)| t).map_err(|e| {
        ApiError(Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query string", e.body_text()))
    })
}

fn class_of(state: &AppState, id: CampaignId) -> Option<vouch_registry::ThroughputClass> {
    state.registry.index().campaign(id).map(|s| s.throughput_class)
}

/// How long `/healthz` waits for the database before it reports it unavailable.
const HEALTH_DATABASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Liveness: answers 200 as soon as the server accepts connections; `status` is `degraded`
/// (still 200) when a part has stopped, e.g. the transparency log (`logHalted`) or the
/// database (`databaseUnavailable`, after at most [`HEALTH_DATABASE_WAIT`]).
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>> {
    let store = state.registry.store();
    let (last_event, database_unavailable) = match tokio::time::timeout(HEALTH_DATABASE_WAIT, store.last_seq()).await {
        Ok(Ok(seq)) => (seq, None),
        Ok(Err(e)) => (store.applied(), Some(e.to_string())),
        Err(_) => {
            (store.applied(), Some(format!("the database did not answer within {} s", HEALTH_DATABASE_WAIT.as_secs())))
        }
    };
    let log_halted = state.log.as_ref().and_then(|l| l.halted());
    let degraded = log_halted.is_some() || database_unavailable.is_some();
    Ok(Json(Health {
        status: if degraded { "degraded" } else { "ok" },
        numbers: state.registry.index().len(),
        last_event,
        applied_event: store.applied(),
        store: store.engine(),
        sequencer: state.log.as_ref().is_some_and(|l| l.is_sequencer()),
        smscs: state.gateway.as_ref().map(|g| g.smscs_bound()),
        log_halted,
        database_unavailable,
    }))
}

// ---------------------------------------------------------------------------------------------
// Providers

/// Register a provider (administrator). The response carries its first API key, once.
#[utoipa::path(post, path = "/v1/providers", tag = "providers", request_body = ProviderRegistration, security(("bearer" = [])),
    responses((status = 201, body = ProviderCreated), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_provider(
    State(s): State<AppState>,
    Auth(p): Auth,
    JsonBody(reg): JsonBody<ProviderRegistration>,
) -> Result<Response> {
    let (row, key) = s.registry.register_provider(&p, reg).await?;
    Ok((StatusCode::CREATED, Json(ProviderCreated { provider: row.into(), key_id: key.key_id, api_key: key.secret }))
        .into_response())
}

/// The provider directory.
#[utoipa::path(get, path = "/v1/providers", tag = "providers", security(("bearer" = [])), responses((status = 200, body = Vec<ProviderView>)))]
async fn list_providers(State(s): State<AppState>, Auth(p): Auth) -> Result<Json<Vec<ProviderView>>> {
    Ok(Json(s.registry.providers(&p).await?.into_iter().map(Into::into).collect()))
}

/// Who the API key belongs to: the administrator, or a provider with its registration.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    /// `administrator` or `provider`.
    pub kind: &'static str,
    /// The provider, for a provider's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderView>,
}

/// Who the caller's key belongs to (the console signs in with it).
#[utoipa::path(get, path = "/v1/whoami", tag = "providers", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = Problem)))]
async fn whoami(State(s): State<AppState>, Auth(p): Auth) -> Result<Json<WhoAmI>> {
    Ok(Json(match p.provider() {
        None => WhoAmI { kind: "administrator", provider: None },
        Some(id) => WhoAmI { kind: "provider", provider: Some(s.registry.provider(&p, id).await?.into()) },
    }))
}

/// One provider.
#[utoipa::path(get, path = "/v1/providers/{id}", tag = "providers", security(("bearer" = [])), params(("id" = String, Path, description = "provider id")),
    responses((status = 200, body = ProviderView), (status = 404, body = Problem)))]
async fn get_provider(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<Json<ProviderView>> {
    let id: ProviderId = path_param("providerId", &id)?;
    Ok(Json(s.registry.provider(&p, id).await?.into()))
}

/// Issue another API key for a provider (the administrator or the provider itself).
#[utoipa::path(post, path = "/v1/providers/{id}/keys", tag = "providers", security(("bearer" = [])), params(("id" = String, Path, description = "provider id")),
    responses((status = 201, body = KeyCreated), (status = 403, body = Problem)))]
async fn create_key(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<Response> {
    let id: ProviderId = path_param("providerId", &id)?;
    let key = s.registry.issue_key(&p, id).await?;
    Ok((StatusCode::CREATED, Json(KeyCreated { key_id: key.key_id, api_key: key.secret })).into_response())
}

/// A provider's API keys, without secrets (the administrator or the provider itself).
#[utoipa::path(get, path = "/v1/providers/{id}/keys", tag = "providers", security(("bearer" = [])), params(("id" = String, Path, description = "provider id")),
    responses((status = 200, body = Vec<KeyView>), (status = 403, body = Problem)))]
async fn list_keys(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<Json<Vec<KeyView>>> {
    let id: ProviderId = path_param("providerId", &id)?;
    Ok(Json(s.registry.keys(&p, id).await?.into_iter().map(Into::into).collect()))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/v1/providers/{id}/keys/{keyId}", tag = "providers", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id"), ("keyId" = String, Path, description = "key id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_key(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let id: ProviderId = path_param("providerId", &id)?;
    s.registry.revoke_key(&p, id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Brands

/// Register a brand (CSP). Vetting runs synchronously; the response carries its outcome.
#[utoipa::path(post, path = "/v1/brands", tag = "brands", request_body = BrandRequest, security(("bearer" = [])),
    responses((status = 201, body = BrandView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_brand(
    State(s): State<AppState>,
    Auth(p): Auth,
    JsonBody(req): JsonBody<BrandRequest>,
) -> Result<Response> {
    let b = s.registry.register_brand(&p, req).await?;
    Ok((StatusCode::CREATED, Json(BrandView::from(b))).into_response())
}

/// A listing's query: a page of at most `limit` rows after the row `after` (oldest first).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct BrandListQuery {
    /// Only brands in this vetting state (UNVERIFIED, VERIFIED, VETTED_VERIFIED).
    identity_status: Option<String>,
    /// Only brands after this one (the last of the previous page).
    after: Option<String>,
    /// At most this many (1 to 1000; more is taken as 1000). Without it, every brand: a
    /// `Link: <…>; rel="next"` header names the next page when there is one.
    limit: Option<u32>,
}

/// The largest page of a listing.
const MAX_PAGE: u32 = 1000;

/// A 400 `invalid-query` problem saying what is wrong with the query string.
pub(crate) fn invalid_query(detail: String) -> ApiError {
    ApiError(Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query string", detail))
}

/// A page size asked for: `None` for every row.
fn page_limit(limit: Option<u32>) -> Result<Option<usize>> {
    match limit {
        Some(0) => Err(invalid_query(format!("limit: 0 rows is no page; ask for 1 to {MAX_PAGE}"))),
        Some(l) => Ok(Some(l.min(MAX_PAGE) as usize)),
        None => Ok(None),
    }
}

/// A wire enum from a query string, or a problem listing the values it takes.
fn query_enum<T: std::str::FromStr + std::fmt::Display + Copy>(
    field: &str,
    raw: Option<&str>,
    all: &[T],
) -> Result<Option<T>> {
    raw.map(|r| {
        r.parse().map_err(|_| {
            let names: Vec<String> = all.iter().map(ToString::to_string).collect();
            invalid_query(format!("{field}: {r:?} is not one of {}", names.join(", ")))
        })
    })
    .transpose()
}

/// A query id, or a problem naming the field.
fn query_id<T: std::str::FromStr>(field: &str, raw: Option<&str>) -> Result<Option<T>> {
    raw.map(|r| r.parse().map_err(|_| invalid_query(format!("{field}: {r:?} is not an id")))).transpose()
}

/// A listing's cursor the caller cannot see (or that does not exist) is a query error.
fn cursor_error(e: vouch_service::ServiceError) -> ApiError {
    match e {
        vouch_service::ServiceError::Invalid(v) if v.0.iter().any(|f| f.field == "after") => {
            invalid_query(v.0.iter().map(|f| format!("{}: {}", f.field, f.detail)).collect::<Vec<_>>().join("; "))
        }
        e => e.into(),
    }
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A JSON list with, when `next` names a cursor, an RFC 8288 `Link` to the next page: `path`
/// with `params` (those given), `after` and `limit`.
fn paged<T: serde::Serialize>(
    body: T,
    path: &str,
    params: &[(&str, Option<String>)],
    next: Option<(String, usize)>,
) -> Response {
    let mut resp = Json(body).into_response();
    if let Some((after, limit)) = next {
        let mut q: Vec<String> =
            params.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode_query_value(v)))).collect();
        q.push(format!("after={}", encode_query_value(&after)));
        q.push(format!("limit={limit}"));
        let link = format!("<{path}?{}>; rel=\"next\"", q.join("&"));
        if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
            resp.headers_mut().insert(axum::http::header::LINK, v);
        }
    }
    resp
}

/// The brands visible to the caller: its own (CSP), those of campaigns shared with it (DCA),
/// every brand (administrator); oldest first, in pages with `limit`.
#[utoipa::path(get, path = "/v1/brands", tag = "brands", security(("bearer" = [])), params(BrandListQuery),
    responses((status = 200, body = Vec<BrandView>,
        headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when `limit` cut the list"))),
        (status = 400, description = "a filter, `after` or `limit` the server cannot use (invalid-query)", body = Problem)))]
async fn list_brands(
    State(s): State<AppState>,
    Auth(p): Auth,
    q: std::result::Result<Query<BrandListQuery>, QueryRejection>,
) -> Result<Response> {
    let q = query(q)?;
    let status = query_enum("identityStatus", q.identity_status.as_deref(), vouch_registry::IdentityStatus::ALL)?;
    let after: Option<BrandId> = query_id("after", q.after.as_deref())?;
    let limit = page_limit(q.limit)?;
    let mut rows =
        s.registry.brand_page(&p, status, after, limit.map_or(usize::MAX, |l| l + 1)).await.map_err(cursor_error)?;
    let next = match limit {
        Some(l) if rows.len() > l => {
            rows.truncate(l);
            rows.last().map(|b| (b.id.to_string(), l))
        }
        _ => None,
    };
    let body: Vec<BrandView> = rows.into_iter().map(Into::into).collect();
    Ok(paged(body, "/v1/brands", &[("identityStatus", q.identity_status)], next))
}

/// One brand with its vetting reasons.
#[utoipa::path(get, path = "/v1/brands/{id}", tag = "brands", security(("bearer" = [])), params(("id" = String, Path, description = "brand id")),
    responses((status = 200, body = BrandView), (status = 404, body = Problem)))]
async fn get_brand(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<Json<BrandView>> {
    let id: BrandId = path_param("brandId", &id)?;
    Ok(Json(s.registry.brand(&p, id).await?.into()))
}

/// Replace a brand's fields (its CSP); the brand is vetted again.
#[utoipa::path(put, path = "/v1/brands/{id}", tag = "brands", request_body = BrandRequest, security(("bearer" = [])), params(("id" = String, Path, description = "brand id")),
    responses((status = 200, body = BrandView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_brand(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<BrandRequest>,
) -> Result<Json<BrandView>> {
    let id: BrandId = path_param("brandId", &id)?;
    Ok(Json(s.registry.update_brand(&p, id, req).await?.into()))
}

/// Vet a brand again (its CSP or the administrator).
#[utoipa::path(post, path = "/v1/brands/{id}/revet", tag = "brands", security(("bearer" = [])), params(("id" = String, Path, description = "brand id")),
    responses((status = 200, body = BrandView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revet_brand(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<Json<BrandView>> {
    let id: BrandId = path_param("brandId", &id)?;
    Ok(Json(s.registry.revet_brand(&p, id).await?.into()))
}

// ---------------------------------------------------------------------------------------------
// Campaigns

/// Create a campaign (CSP) for one of its VERIFIED brands; validated per use case.
#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", request_body = CampaignRequest, security(("bearer" = [])),
    responses((status = 201, body = CampaignView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_campaign(
    State(s): State<AppState>,
    Auth(p): Auth,
    JsonBody(req): JsonBody<CampaignRequest>,
) -> Result<Response> {
    let c = s.registry.create_campaign(&p, req).await?;
    let class = class_of(&s, c.id);
    Ok((StatusCode::CREATED, Json(CampaignView::new(c, class))).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct CampaignListQuery {
    /// Only campaigns in this state (ACTIVE, SUSPENDED, EXPIRED).
    status: Option<String>,
    /// Only campaigns of this brand.
    brand_id: Option<String>,
    /// Only campaigns after this one (the last of the previous page).
    after: Option<String>,
    /// At most this many (1 to 1000; more is taken as 1000). Without it, every campaign: a
    /// `Link: <…>; rel="next"` header names the next page when there is one.
    limit: Option<u32>,
}

/// The campaigns visible to the caller: its own (CSP), those shared with it and not declined
/// (DCA), or all (administrator); oldest first, in pages with `limit`.
#[utoipa::path(get, path = "/v1/campaigns", tag = "campaigns", security(("bearer" = [])), params(CampaignListQuery),
    responses((status = 200, body = Vec<CampaignView>,
        headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when `limit` cut the list"))),
        (status = 400, description = "a filter, `after` or `limit` the server cannot use (invalid-query)", body = Problem)))]
async fn list_campaigns(
    State(s): State<AppState>,
    Auth(p): Auth,
    q: std::result::Result<Query<CampaignListQuery>, QueryRejection>,
) -> Result<Response> {
    let q = query(q)?;
    let cq = vouch_service::CampaignQuery {
        status: query_enum("status", q.status.as_deref(), vouch_registry::CampaignStatus::ALL)?,
        brand: query_id("brandId", q.brand_id.as_deref())?,
        after: query_id("after", q.after.as_deref())?,
    };
    let limit = page_limit(q.limit)?;
    let mut rows = s.registry.campaign_page(&p, cq, limit.map_or(usize::MAX, |l| l + 1)).await.map_err(cursor_error)?;
    let next = match limit {
        Some(l) if rows.len() > l => {
            rows.truncate(l);
            rows.last().map(|c| (c.id.to_string(), l))
        }
        _ => None,
    };
    let body: Vec<CampaignView> = rows
        .into_iter()
        .map(|c| {
            let class = class_of(&s, c.id);
            CampaignView::new(c, class)
        })
        .collect();
    Ok(paged(body, "/v1/campaigns", &[("status", q.status), ("brandId", q.brand_id)], next))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NumbersPageQuery {
    /// Only numbers above this one (the last of the previous page), in E.164.
    after: Option<String>,
    /// At most this many (default 1000; 1 or more, and more than 10000 is taken as 10000).
    limit: Option<u32>,
}

/// The numbers a campaign holds now, ascending, in pages (its CSP, its DCA, the
/// administrator). Each page scans the in-memory number index; it holds up no lookup and no
/// assignment.
#[utoipa::path(get, path = "/v1/campaigns/{id}/numbers", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "campaign id"), NumbersPageQuery),
    responses((status = 200, body = CampaignNumbersView,
        headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
        (status = 400, description = "`after` or `limit` the server cannot use (invalid-query)", body = Problem),
        (status = 404, body = Problem)))]
async fn list_campaign_numbers(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    q: std::result::Result<Query<NumbersPageQuery>, QueryRejection>,
) -> Result<Response> {
    let id: CampaignId = path_param("campaignId", &id)?;
    let q = query(q)?;
    let after = match q.after.as_deref() {
        Some(raw) => Some(
            raw.parse::<TelephoneNumber>()
                .map_err(|_| invalid_query(format!("after: {raw:?} is not an E.164 number such as +12025550123")))?,
        ),
        None => None,
    };
    let limit = match q.limit {
        Some(0) => return Err(invalid_query("limit: 0 numbers is no page; ask for 1 to 10000".into())),
        Some(l) => l.min(10_000) as usize,
        None => 1000,
    };
    let page = s.registry.campaign_numbers(&p, id, after, limit + 1).await?;
    let mut numbers = page.numbers;
    let more = numbers.len() > limit;
    numbers.truncate(limit);
    let next = numbers.last().filter(|_| more).map(|(n, _)| n.to_string());
    let view = CampaignNumbersView {
        campaign_id: id,
        campaign_status: page.campaign.status,
        dca_id: page.campaign.dca_id,
        total: page.total as u64,
        numbers: numbers.into_iter().map(|(number, suspended)| CampaignNumberView { number, suspended }).collect(),
        next: next.clone(),
    };
    Ok(paged(view, &format!("/v1/campaigns/{id}/numbers"), &[], next.map(|n| (n, limit))))
}

/// One campaign.
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns", security(("bearer" = [])), params(("id" = String, Path, description = "campaign id")),
    responses((status = 200, body = CampaignView), (status = 404, body = Problem)))]
async fn get_campaign(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Result<Json<CampaignView>> {
    let id: CampaignId = path_param("campaignId", &id)?;
    let c = s.registry.campaign(&p, id).await?;
    Ok(Json(CampaignView::new(c, class_of(&s, id))))
}

/// Replace a campaign's mutable fields (its CSP); brandId and usecase cannot change.
#[utoipa::path(put, path = "/v1/campaigns/{id}", tag = "campaigns", request_body = CampaignRequest, security(("bearer" = [])), params(("id" = String, Path, description = "campaign id")),
    responses((status = 200, body = CampaignView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_campaign(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CampaignRequest>,
) -> Result<Json<CampaignView>> {
    let id: CampaignId = path_param("campaignId", &id)?;
    let c = s.registry.update_campaign(&p, id, req).await?;
    Ok(Json(CampaignView::new(c, class_of(&s, id))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReasonQuery {
    /// Why.
    reason: Option<String>,
}

/// Deactivate a campaign for good (its CSP or the administrator); its numbers are released.
#[utoipa::path(delete, path = "/v1/campaigns/{id}", tag = "campaigns", security(("bearer" = [])), params(("id" = String, Path, description = "campaign id"), ReasonQuery),
    responses((status = 200, body = CampaignView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn expire_campaign(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    q: std::result::Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<Json<CampaignView>> {
    let id: CampaignId = path_param("campaignId", &id)?;
    let q = query(q)?;
    let c = s.registry.expire_campaign(&p, id, q.reason).await?;
    Ok(Json(CampaignView::new(c, class_of(&s, id))))
}

/// Share a campaign with a DCA (its CSP). The DCA then accepts or declines.
#[utoipa::path(put, path = "/v1/campaigns/{id}/sharing/{providerId}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "campaign id"), ("providerId" = String, Path, description = "the DCA's provider id")),
    responses((status = 200, body = CampaignView), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn share_campaign(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, dca)): Path<(String, String)>,
) -> Result<Json<CampaignView>> {
    let id: CampaignId = path_param("campaignId", &id)?;
    let dca: ProviderId = path_param("providerId", &dca)?;
    let c = s.registry.share_campaign(&p, id, dca).await?;
    Ok(Json(CampaignView::new(c, class_of(&s, id))))
}

/// Accept a campaign shared with you (the DCA named in the path).
#[utoipa::path(post, path = "/v1/campaigns/{id}/sharing/{providerId}/accept", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "campaign id"), ("providerId" = String, Path, description = "your provider id")),
    responses((status = 200, body = CampaignView), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn accept_sharing(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, dca)): Path<(String, String)>,
) -> Result<Json<CampaignView>> {
    let id: CampaignId = path_param("campaignId", &id)?;
    let dca: ProviderId = path_param("providerId", &dca)?;
    let c = s.registry.answer_sharing(&p, id, dca, true, None).await?;
    Ok(Json(CampaignView::new(c, class_of(&s, id))))
}

fn optional_reason(bytes: &[u8]) -> Result<ReasonBody> {
    if bytes.iter().all(u8::is_ascii_whitespace) { Ok(ReasonBody::default()) } else { parse_json(bytes) }
}

/// Decline a campaign shared with you, optionally with `{"reason": "…"}`.
#[utoipa::path(post, path = "/v1/campaigns/{id}/sharing/{providerId}/decline", tag = "campaigns", security(("bearer" = [])), request_body(content = ReasonBody, description = "optional"),
    params(("id" = String, Path, description = "campaign id"), ("providerId" = String, Path, description = "your provider id")),
    responses((status = 200, body = CampaignView), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn decline_sharing(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, dca)): Path<(String, String)>,
    body: bytes::Bytes,
) -> Result<Json<CampaignView>> {
    let id: CampaignId = path_param("campaignId", &id)?;
    let dca: ProviderId = path_param("providerId", &dca)?;
    let r = optional_reason(&body)?;
    let c = s.registry.answer_sharing(&p, id, dca, false, r.reason).await?;
    Ok(Json(CampaignView::new(c, class_of(&s, id))))
}

/// Suspend a campaign (its accepted DCA or the administrator), with `{"reason": "…"}`.
#[utoipa::path(post, path = "/v1/campaigns/{id}/suspend", tag = "campaigns", security(("bearer" = [])), request_body = ReasonBody,
    params(("id" = String, Path, description = "campaign id")),
    responses((status = 200, body = CampaignView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn suspend_campaign(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<ReasonBody>,
) -> Result<Json<CampaignView>> {
    let id: CampaignId = path_param("campaignId", &id)?;
    let c = s.registry.set_campaign_suspended(&p, id, true, r.reason.unwrap_or_default()).await?;
    Ok(Json(CampaignView::new(c, class_of(&s, id))))
}

/// Resume a suspended campaign (its accepted DCA or the administrator), with `{"reason": "…"}`.
#[utoipa::path(post, path = "/v1/campaigns/{id}/resume", tag = "campaigns", security(("bearer" = [])), request_body = ReasonBody,
    params(("id" = String, Path, description = "campaign id")),
    responses((status = 200, body = CampaignView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn resume_campaign(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<ReasonBody>,
) -> Result<Json<CampaignView>> {
    let id: CampaignId = path_param("campaignId", &id)?;
    let c = s.registry.set_campaign_suspended(&p, id, false, r.reason.unwrap_or_default()).await?;
    Ok(Json(CampaignView::new(c, class_of(&s, id))))
}

// ---------------------------------------------------------------------------------------------
// Numbers

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AtQuery {
    /// An RFC 3339 instant; answers who held the number then.
    at: Option<String>,
}

/// Public lookup (no authentication): which campaign holds the number, now or `at` an instant.
#[utoipa::path(get, path = "/v1/numbers/{number}", tag = "numbers", params(("number" = String, Path, description = "E.164 number, e.g. +12025550123"), AtQuery),
    responses((status = 200, body = NumberView), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn get_number(
    State(s): State<AppState>,
    Path(number): Path<String>,
    q: std::result::Result<Query<AtQuery>, QueryRejection>,
) -> Result<Json<NumberView>> {
    let number: TelephoneNumber = path_param("number", &number)?;
    let q = query(q)?;
    let not_assigned = |when: &str| {
        ApiError(Problem::new(
            StatusCode::NOT_FOUND,
            "number-not-assigned",
            "Number not assigned",
            format!("{number} is not assigned to any campaign{when}"),
        ))
    };
    match q.at {
        None => {
            s.registry.lookup_number(number).map(|a| Json(NumberView::new(a, None))).ok_or_else(|| not_assigned(""))
        }
        Some(at) => {
            let at = crate::problem::instant("at", &at)?;
            let a = s.registry.lookup_number_at(number, at).await?;
            a.map(|a| Json(NumberView::new(a, Some(at)))).ok_or_else(|| not_assigned(&format!(" at {at}")))
        }
    }
}

/// Assign a number to a campaign (its accepted DCA, its CSP once accepted, or the administrator).
/// 201 when assigned, 200 when the campaign already held it.
#[utoipa::path(put, path = "/v1/numbers/{number}", tag = "numbers", request_body = AssignNumber, security(("bearer" = [])),
    params(("number" = String, Path, description = "E.164 number")),
    responses((status = 201, body = NumberView), (status = 200, body = NumberView),
        (status = 400, description = "the number is not E.164 (invalid-number), or the body is not JSON", body = Problem),
        (status = 403, description = "the caller may not assign numbers to this campaign", body = Problem),
        (status = 404, description = "no such campaign visible to the caller", body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn assign_number(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(number): Path<String>,
    JsonBody(body): JsonBody<AssignNumber>,
) -> Result<Response> {
    let number: TelephoneNumber = path_param("number", &number)?;
    let (a, changed) = s.registry.assign_number(&p, number, body.campaign_id).await?;
    let status = if changed { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(NumberView::new(a, None))).into_response())
}

/// Release a number from its campaign (the campaign's CSP or DCA, or the administrator).
#[utoipa::path(delete, path = "/v1/numbers/{number}", tag = "numbers", security(("bearer" = [])), params(("number" = String, Path, description = "E.164 number"), ReasonQuery),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn release_number(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(number): Path<String>,
    q: std::result::Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<StatusCode> {
    let number: TelephoneNumber = path_param("number", &number)?;
    let q = query(q)?;
    s.registry.release_number(&p, number, q.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every interval the number was held, oldest first (public).
#[utoipa::path(get, path = "/v1/numbers/{number}/history", tag = "numbers", params(("number" = String, Path, description = "E.164 number")),
    responses((status = 200, body = HistoryView), (status = 400, body = Problem)))]
async fn number_history(State(s): State<AppState>, Path(number): Path<String>) -> Result<Json<HistoryView>> {
    let number: TelephoneNumber = path_param("number", &number)?;
    Ok(Json(HistoryView::new(number, s.registry.number_history(number).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ImportQuery {
    /// Line number of the body's first line in the caller's file, for the report.
    first_line: Option<u64>,
}

/// Bulk-assign numbers from CSV (`number,campaignId,dca`; header optional), up to 100,000 rows
/// per request, in one transaction. Idempotent: rows already in place count as unchanged.
#[utoipa::path(post, path = "/v1/numbers/import", tag = "numbers", security(("bearer" = [])), params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReportView), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn import_numbers(
    State(s): State<AppState>,
    Auth(p): Auth,
    q: std::result::Result<Query<ImportQuery>, QueryRejection>,
    RawBody(body): RawBody,
) -> Result<Json<ImportReportView>> {
    let first_line = query(q)?.first_line.unwrap_or(1);
    let rows = vouch_registry::parse_import_csv(&body, first_line).map_err(|e| {
        ApiError(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-csv", "Unreadable CSV", e.to_string()))
    })?;
    // Rows refused for their shape and exact repeats of an earlier row never reach the
    // registry; each repeat is then decided as the row it repeats was.
    let (rows, aside): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.refusal().is_none() && r.repeats.is_none());
    let mut report = s.registry.import_numbers(&p, rows).await?;
    settle_set_aside(&mut report, aside);
    Ok(Json(report.into()))
}

/// Adds the rows [`import_numbers`] kept from the registry to its report: a row with extra
/// fields is rejected naming the first; a repeat of a rejected row is rejected for the same
/// reason, a repeat of an assigned or unchanged row is unchanged. Rejections end in line order.
fn settle_set_aside(report: &mut vouch_service::ImportReport, aside: Vec<vouch_registry::ImportRow>) {
    if aside.is_empty() {
        return;
    }
    let reasons: std::collections::HashMap<u64, String> =
        report.rejected.iter().map(|r| (r.line, r.reason.clone())).collect();
    for row in aside {
        let reason = match (row.refusal(), row.repeats) {
            (Some(why), _) => Some(why),
            (None, Some(first)) => reasons.get(&first).cloned(),
            (None, None) => None,
        };
        match reason {
            Some(reason) => {
                report.rejected.push(vouch_service::ImportRejection { line: row.line, number: row.number, reason })
            }
            None => report.unchanged += 1,
        }
    }
    report.rejected.sort_by_key(|r| r.line);
}

/// Import a sanctions list in OFAC SDN CSV layout (administrator); brands are re-screened.
#[utoipa::path(post, path = "/v1/sanctions", tag = "brands", security(("bearer" = [])), request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = SanctionsImportView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn import_sanctions(
    State(s): State<AppState>,
    Auth(p): Auth,
    RawBody(body): RawBody,
) -> Result<Json<SanctionsImportView>> {
    let r = s.registry.import_sanctions(&p, &body).await?;
    Ok(Json(SanctionsImportView { entries: r.entries, sha256: r.sha256, revetted_brands: r.revetted }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Return events with a sequence number above this (default 0; at most 9223372036854775807).
    after: Option<u64>,
    /// At most this many (default 100; 1 or more, and more than 1000 is taken as 1000).
    limit: Option<u32>,
}

/// Registry events in order, in their canonical encoding (administrator).
#[utoipa::path(get, path = "/v1/events", tag = "operations", security(("bearer" = [])), params(EventsQuery),
    responses((status = 200, body = Vec<Object>),
        (status = 400, description = "`after` or `limit` out of range, or not a number (invalid-query)", body = Problem),
        (status = 403, body = Problem)))]
async fn list_events(
    State(s): State<AppState>,
    Auth(p): Auth,
    q: std::result::Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Vec<serde_json::Value>>> {
    if !p.is_admin() {
        return Err(
            vouch_service::ServiceError::Forbidden("only the administrator reads the raw event stream".into()).into()
        );
    }
    let q = query(q)?;
    let after = q.after.unwrap_or(0);
    if i64::try_from(after).is_err() {
        return Err(invalid_query(format!("after: {after} is above the largest sequence number, {}", i64::MAX)));
    }
    let limit = match q.limit {
        Some(0) => return Err(invalid_query("limit: 0 events is no page; ask for 1 to 1000".into())),
        Some(l) => l.min(1000),
        None => 100,
    };
    let rows = s.registry.store().events_after(after, limit).await.map_err(vouch_service::ServiceError::Store)?;
    Ok(Json(rows.into_iter().filter_map(|(_, c)| serde_json::from_str(&c).ok()).collect()))
}
