//! The Call Placement Service (docs/CPS.md): `POST` and `GET /passports/{spc}/{dest}/{orig}`
//! authorized by an ES256 bearer token signed with the caller's SHAKEN certificate (not a vouch
//! API key), the HPKE keys providers register for the privacy mode, and the key lookup
//! publishers use to seal PASSporTs.
//!
//! Errors are problem+json; a token that does not authenticate gets 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750). Responses are `no-store`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vouch_cps::CpsError;
use vouch_registry::ProviderId;
use vouch_service::Cps;
use vouch_store::CpsKeyRow;

use crate::problem::{ApiError, Auth, JsonBody, Problem, path_param, running};
use crate::{AppState, JSON_BODY_LIMIT};

type Result<T> = std::result::Result<T, ApiError>;

/// The largest publish body: ten items of 8 KiB and their JSON.
const PUBLISH_BODY_LIMIT: usize = 96 * 1024;

pub(crate) fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let keys = r.routes(routes!(register_key)).routes(routes!(key_of)).layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
    let passports =
        OpenApiRouter::new().routes(routes!(publish, retrieve)).layer(DefaultBodyLimit::max(PUBLISH_BODY_LIMIT));
    keys.merge(passports)
}

fn cps(s: &AppState) -> Result<&Arc<Cps>> {
    running(&s.cps, "cps-off", "The Call Placement Service", "the Call Placement Service")
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn cps_problem(e: &CpsError) -> Response {
    metrics::counter!("vouch_cps_refused_total", "reason" => e.slug()).increment(1);
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let title = match status {
        StatusCode::UNAUTHORIZED => "The CPS token does not authenticate",
        StatusCode::FORBIDDEN => "The CPS token does not allow this",
        StatusCode::NOT_FOUND => "No PASSporT for this call",
        StatusCode::SERVICE_UNAVAILABLE => "The CPS is full",
        _ => "Bad CPS request",
    };
    let mut resp = no_store(Problem::new(status, e.slug(), title, e.to_string()).into_response());
    if status == StatusCode::UNAUTHORIZED {
        let desc = e.to_string().replace(['"', '\\'], "'");
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer error=\"invalid_token\", error_description=\"{desc}\"")) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    resp
}

/// A publish body that cannot be read: problem+json like every other answer (413
/// `body-too-large` over [`PUBLISH_BODY_LIMIT`], as the other endpoints answer; else 400
/// `cps-body`), `no-store`.
fn body_refused(e: &BytesRejection) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        metrics::counter!("vouch_cps_refused_total", "reason" => "body-too-large").increment(1);
        no_store(
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Request body too large",
                format!(
                    "a publish body is at most {} KiB (10 items of 8 KiB and their JSON)",
                    PUBLISH_BODY_LIMIT >> 10
                ),
            )
            .into_response(),
        )
    } else {
        cps_problem(&CpsError::Body(format!("the body cannot be read: {}", e.body_text())))
    }
}

/// One call, one path: no query, no percent-encoding (a load balancer hashing paths must send
/// a publish and its retrieval to the same node).
fn canonical(uri: &Uri, spc: &str, dest: &str, orig: &str) -> std::result::Result<(), CpsError> {
    if uri.query().is_some() || uri.path() != format!("/passports/{spc}/{dest}/{orig}") {
        return Err(CpsError::Body(
            "a CPS path is /passports/{SPC}/{DEST}/{ORIG} in plain letters and digits, without a query".into(),
        ));
    }
    Ok(())
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// What a publish stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedView {
    /// Items this publish stored.
    pub items: usize,
    /// When the items just published are deleted (RFC 3339).
    pub expires: String,
    /// Whether they were sealed to the terminating provider (privacy mode).
    pub sealed: bool,
}

/// The `passports` of a publish, and of a retrieval's answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PassportsBody {
    /// Compact PASSporTs, or in privacy mode `hpke1.<enc>.<ciphertext>` items sealed to the
    /// terminating provider.
    pub passports: Vec<String>,
}

/// Publish the PASSporTs of a call being placed, for the terminating provider `spc` (ATIS-1000105).
/// The bearer token is an ES256 JWS signed with the publisher's SHAKEN certificate whose
/// `passports` claim is the SHA-256 of the RFC 8785 form of the body's array (docs/CPS.md).
#[utoipa::path(post, path = "/passports/{spc}/{dest}/{orig}", tag = "call placement service",
    request_body = PassportsBody,
    params(("spc" = String, Path, description = "the terminating provider's SPC"),
        ("dest" = String, Path, description = "called number"), ("orig" = String, Path, description = "calling number")),
    responses((status = 201, body = PublishedView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 503, body = Problem)))]
async fn publish(
    State(s): State<AppState>,
    Path((spc, dest, orig)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let cps = cps(&s)?;
    if let Err(e) = canonical(&uri, &spc, &dest, &orig) {
        return Ok(cps_problem(&e));
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => return Ok(body_refused(&e)),
    };
    Ok(match cps.publish(authorization(&headers), &spc, &dest, &orig, &body).await {
        Ok(p) => no_store(
            (
                StatusCode::CREATED,
                Json(PublishedView {
                    items: p.items,
                    expires: jiff::Timestamp::from_second(p.expires).map(|t| t.to_string()).unwrap_or_default(),
                    sealed: p.sealed,
                }),
            )
                .into_response(),
        ),
        Err(e) => cps_problem(&e),
    })
}

/// Retrieve the PASSporTs published for a call to provider `spc` (only `spc` may).
#[utoipa::path(get, path = "/passports/{spc}/{dest}/{orig}", tag = "call placement service",
    params(("spc" = String, Path, description = "the caller's own SPC"),
        ("dest" = String, Path, description = "called number"), ("orig" = String, Path, description = "calling number")),
    responses((status = 200, body = PassportsBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn retrieve(
    State(s): State<AppState>,
    Path((spc, dest, orig)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response> {
    let cps = cps(&s)?;
    if let Err(e) = canonical(&uri, &spc, &dest, &orig) {
        return Ok(cps_problem(&e));
    }
    Ok(match cps.retrieve(authorization(&headers), &spc, &dest, &orig).await {
        Ok(passports) => no_store(Json(PassportsBody { passports }).into_response()),
        Err(e) => cps_problem(&e),
    })
}

/// `POST /v1/providers/{id}/cps-keys` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CpsKeyRequest {
    /// The HPKE public key: an uncompressed P-256 point in base64url, or a `PUBLIC KEY` PEM.
    pub public_key: String,
}

/// A provider's HPKE key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpsKeyView {
    /// The provider's SPC (for the lookup) or id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spc: Option<String>,
    /// The provider.
    pub provider_id: ProviderId,
    /// First 16 hex digits of the SHA-256 of the point.
    pub key_id: String,
    /// The uncompressed P-256 point, base64url.
    pub public_key: String,
    /// The HPKE suite: kem, kdf, aead (RFC 9180 ids).
    pub suite: String,
    /// When it was registered.
    pub registered: String,
}

impl CpsKeyView {
    fn new(spc: Option<String>, row: CpsKeyRow) -> Self {
        Self {
            spc,
            provider_id: row.provider_id,
            key_id: row.key_id,
            public_key: row.public_key,
            suite: "DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM".into(),
            registered: row.created.to_string(),
        }
    }
}

/// Register the HPKE public key that PASSporTs published for this provider are sealed to in
/// privacy mode (replaces the last one).
#[utoipa::path(post, path = "/v1/providers/{id}/cps-keys", tag = "call placement service", request_body = CpsKeyRequest,
    security(("bearer" = [])), params(("id" = String, Path, description = "provider id")),
    responses((status = 201, body = CpsKeyView), (status = 422, body = Problem)))]
async fn register_key(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CpsKeyRequest>,
) -> Result<Response> {
    let id: ProviderId = path_param("providerId", &id)?;
    let row = cps(&s)?.register_key(&p, id, &req.public_key).await?;
    Ok((StatusCode::CREATED, Json(CpsKeyView::new(None, row))).into_response())
}

/// The HPKE key of the provider with this SPC, for sealing PASSporTs to it. Public.
#[utoipa::path(get, path = "/cps/v1/keys/{spc}", tag = "call placement service",
    params(("spc" = String, Path, description = "the provider's SPC")),
    responses((status = 200, body = CpsKeyView), (status = 404, body = Problem)))]
async fn key_of(State(s): State<AppState>, Path(spc): Path<String>) -> Result<Json<CpsKeyView>> {
    match cps(&s)?.key_of(&spc).await? {
        Some((spc, row)) => Ok(Json(CpsKeyView::new(Some(spc), row))),
        None => Err(ApiError(Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("no provider with SPC {spc:?} registered an HPKE key"),
        ))),
    }
}
