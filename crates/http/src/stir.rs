//! ATIS-1000082: `POST /stir/v1/signing` and `POST /stir/v1/verification`, with the standard's
//! own error channel (`requestError` with SVC/POL message ids) rather than problem+json.
//!
//! Every response carries `X-RequestID`: the request's, when it sent a usable one, else a new
//! UUID. Callers authenticate with a provider API key (`Authorization: Bearer`).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use vouch_callauth::atis::{self, ServiceException, stale_request};
use vouch_callauth::{Signing, VerificationRequest, VerificationResponse};
use vouch_registry::{BrandId, Role};
use vouch_service::{CallToVerify, Principal, ServiceError, Upstream};
use vouch_shaken::Verstat;

use crate::AppState;

/// The `/stir/v1` routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/stir/v1/signing", any(signing))
        .route("/stir/v1/verification", any(verification))
        .route("/stir/{*rest}", any(unknown))
        .route("/stir", any(unknown))
}

const REQUEST_ID: &str = "x-requestid";

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| atis::uuid_v4(rand::random()))
}

/// How long a client may take to send a request's body once its head has arrived.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The body, at most [`atis::MAX_BODY`] bytes, arrived whole within [`BODY_TIMEOUT`] (SVC4006
/// otherwise: what arrived cannot be parsed; the connection is then closed, since what follows
/// on it cannot be framed).
async fn read_body(body: Body) -> Result<Bytes, ServiceException> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, atis::MAX_BODY)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ServiceException::invalid("body", format!("the body is over {} bytes", atis::MAX_BODY))),
        Err(_) => Err(ServiceException::MalformedJson(format!(
            "the body did not arrive whole within {} s",
            BODY_TIMEOUT.as_secs()
        ))),
    }
}

fn json_response(status: u16, body: serde_json::Value, id: &str) -> Response {
    let mut resp =
        (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

fn exception(e: &ServiceException, id: &str) -> Response {
    metrics::counter!("vouch_stir_exceptions_total", "id" => e.message_id()).increment(1);
    let mut resp = json_response(e.http_status(), e.to_json(), id);
    if e.http_status() == 405 {
        resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if e.http_status() == 401 {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"vouch\""));
    }
    resp
}

fn from_service(e: ServiceError) -> ServiceException {
    match e {
        ServiceError::Unauthenticated(d) => ServiceException::Unauthorized(d),
        ServiceError::Forbidden(d) => ServiceException::Forbidden(d),
        ServiceError::Conflict { detail, .. } => ServiceException::Forbidden(detail),
        ServiceError::Invalid(v) => match v.0.first() {
            Some(f) => ServiceException::invalid(&f.field, f.detail.clone()),
            None => ServiceException::invalid("body", v.to_string()),
        },
        ServiceError::NotFound { what, id } => ServiceException::invalid(what, format!("{id} does not exist")),
        other => {
            tracing::error!(error = %other, "STI service failure");
            ServiceException::Internal("the service failed; retry".into())
        }
    }
}

/// Method, media types, Content-Length, then authentication: the checks both resources share.
async fn admit(
    s: &AppState,
    method: &Method,
    headers: &HeaderMap,
    roles: &[Role],
) -> Result<Principal, ServiceException> {
    if method != Method::POST {
        return Err(ServiceException::MethodNotAllowed(method.to_string()));
    }
    let h = |n: header::HeaderName| headers.get(n).and_then(|v| v.to_str().ok());
    atis::check_content_type(h(header::CONTENT_TYPE))?;
    atis::check_accept(h(header::ACCEPT))?;
    if headers.get(header::CONTENT_LENGTH).is_none() && headers.get(header::TRANSFER_ENCODING).is_none() {
        return Err(ServiceException::ContentLength("Content-Length is required".into()));
    }
    let token = h(header::AUTHORIZATION).and_then(crate::problem::bearer_token).ok_or_else(|| {
        ServiceException::Unauthorized("send a provider API key as Authorization: Bearer <key>".into())
    })?;
    let p = s.registry.authenticate(token).await.map_err(from_service)?;
    match &p {
        Principal::Provider { roles: have, .. } if roles.iter().any(|r| have.contains(r)) => Ok(p),
        Principal::Admin if roles.contains(&Role::Carrier) => Ok(p),
        _ => Err(ServiceException::Forbidden(format!(
            "this needs the API key of a provider with the {} role",
            roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ")
        ))),
    }
}

async fn signing(State(s): State<AppState>, method: Method, headers: HeaderMap, body: Body) -> Response {
    let id = request_id(&headers);
    match sign(&s, &method, &headers, body).await {
        Ok(v) => json_response(200, v, &id),
        Err(e) => exception(&e, &id),
    }
}

async fn sign(
    s: &AppState,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Value, ServiceException> {
    let p = admit(s, method, headers, &[Role::Voice]).await?;
    let body = read_body(body).await?;
    let ca = s.callauth.as_ref().ok_or_else(|| ServiceException::Internal("call authentication is off".into()))?;
    let provider = p.provider().ok_or_else(|| ServiceException::Forbidden("only a provider signs".into()))?;
    let req = match Signing::parse(&body)? {
        Signing::Shaken(req) => req,
        Signing::Div(d) => {
            let diversions: Vec<&str> = d.diversions.iter().map(String::as_str).collect();
            let forward = vouch_service::Forward {
                identity: &d.identity,
                diversions: &diversions,
                caller: d.orig.as_ref(),
                target: &d.dest,
                from: std::slice::from_ref(&d.div),
            };
            return Ok(ca.sign_forward(provider, &forward).await.map_err(from_service)?.to_json());
        }
    };
    let customer = match &req.customer {
        Some(c) => Some(
            c.parse::<BrandId>()
                .map_err(|_| ServiceException::invalid("customer", format!("{c:?} is not a brand id")))?,
        ),
        None => None,
    };
    let r =
        ca.sign(provider, req.attest, req.orig, req.dest, req.iat, req.origid, customer).await.map_err(from_service)?;
    Ok(r.to_json())
}

async fn verification(State(s): State<AppState>, method: Method, headers: HeaderMap, body: Body) -> Response {
    let id = request_id(&headers);
    match verify(&s, &method, &headers, body).await {
        Ok(r) => json_response(200, r.to_json(), &id),
        Err(e) => exception(&e, &id),
    }
}

async fn verify(
    s: &AppState,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<VerificationResponse, ServiceException> {
    admit(s, method, headers, &[Role::Voice, Role::Carrier]).await?;
    let body = read_body(body).await?;
    let ca = s.callauth.as_ref().ok_or_else(|| ServiceException::Internal("call authentication is off".into()))?;
    let req = VerificationRequest::parse(&body)?;
    let upstream = match req.upstream.as_deref() {
        None => Upstream::None,
        // An FRN; spreadsheets drop its leading zeros, which are put back.
        Some(u) if u.bytes().all(|b| b.is_ascii_digit()) => {
            Upstream::Frn(vouch_callauth::rmd::frn(u).map_err(|e| ServiceException::invalid("upstream", e))?)
        }
        Some(u) => Upstream::Provider(u.parse().map_err(|_| {
            ServiceException::invalid("upstream", "must be an FRN (up to ten digits) or a vouch provider id")
        })?),
    };
    // E3: the request's own time.
    if let Some(f) = stale_request(req.time, ca.now_secs(), ca.freshness()) {
        return Ok(VerificationResponse {
            verstat: Verstat::NoValidation,
            failure: Some(f),
            details: Default::default(),
        });
    }
    let call = CallToVerify {
        identity: &req.identity,
        from: Some(req.from.clone()),
        to: req.to.clone(),
        call_id: req.call_id.as_deref(),
        upstream,
        diversions: req.diversions.iter().map(String::as_str).collect(),
        retarget: req.target.clone().filter(|t| !req.to.iter().any(|to| to.same_number(t))),
    };
    Ok(ca.verify(&call).await.response)
}

async fn unknown(headers: HeaderMap, uri: axum::http::Uri) -> Response {
    exception(&ServiceException::NotFound(uri.path().to_owned()), &request_id(&headers))
}
