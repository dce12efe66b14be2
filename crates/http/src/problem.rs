//! RFC 9457 problem details, the error type of every handler, and the extractors that turn
//! bad requests into problems instead of panics or plain-text errors.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use vouch_registry::FieldViolation;
use vouch_service::{Principal, ServiceError};

use crate::AppState;

/// Prefix of every problem type URI; the slugs are listed in `docs/API.md`.
pub const PROBLEM_BASE: &str = "urn:vouch:problem:";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:vouch:problem:<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this request, naming the field or resource.
    pub detail: String,
    /// Every failing field, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldViolation>,
    /// Whether the request may succeed if run again (not part of the document).
    #[serde(skip)]
    #[schema(ignore)]
    pub(crate) retryable: bool,
    /// Retryable by the client only: the server does not run the request again itself (it
    /// already waited as long as running it again would).
    #[serde(skip)]
    #[schema(ignore)]
    pub(crate) client_retries: bool,
}

impl Problem {
    /// A problem of type `slug`.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("{PROBLEM_BASE}{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retryable: false,
            client_retries: false,
        }
    }

    /// With field violations attached.
    pub fn with_errors(mut self, errors: Vec<FieldViolation>) -> Self {
        self.errors = errors;
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.retryable {
            if !self.client_retries {
                resp.extensions_mut().insert(Retryable);
            }
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"vouch\""));
        }
        resp
    }
}

/// The error of every handler.
#[derive(Debug)]
pub struct ApiError(pub Problem);

/// Marks a response whose request may succeed if run again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retryable;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let p = match e {
            ServiceError::Unauthenticated(d) => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", "Authentication required", d)
            }
            ServiceError::Forbidden(d) => Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", d),
            ServiceError::RateLimited(d) => {
                let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", "Too many requests", d);
                p.retryable = true;
                p
            }
            ServiceError::NotFound { what, id } => Problem::new(
                StatusCode::NOT_FOUND,
                &format!("{}-not-found", what.replace(' ', "-")),
                "Not found",
                format!("{what} {id} does not exist or is not visible to you"),
            ),
            ServiceError::Invalid(v) => {
                let detail = v.to_string();
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation-failed",
                    "The request failed validation",
                    detail,
                )
                .with_errors(v.0)
            }
            ServiceError::Conflict { kind, detail } => {
                Problem::new(StatusCode::CONFLICT, kind.slug(), "Conflict with the registry's state", detail)
            }
            ServiceError::Store(e @ vouch_store::StoreError::TooLarge { .. }) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "change-too-large",
                "The change is too large to record",
                format!("{e}: every change is an entry of the transparency log; send less (fewer or shorter values)"),
            ),
            ServiceError::Store(e) if e.is_unavailable() => {
                let mut p = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database-unavailable",
                    "The database cannot be reached",
                    format!("{e}; the request was not applied"),
                );
                // A write is run again by crate::retry_concurrent (the store answers at once
                // for a second after a wait ran out); the client sees Retry-After.
                p.retryable = true;
                p
            }
            ServiceError::Store(e) if e.is_retryable() => {
                let mut p = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "registry-busy",
                    "The registry changed while the request ran",
                    format!("{e}; the request was not applied"),
                );
                // Running the same request again may not meet the same race (another node
                // wrote first): crate::retry_concurrent runs it again, and the client sees
                // Retry-After if it still fails. A lock wait that ran out already took the
                // lock timeout: running it again would only multiply that wait.
                p.retryable = true;
                p.client_retries = matches!(e, vouch_store::StoreError::LockTimeout(_));
                p
            }
            other => {
                tracing::error!(error = %other, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "the server failed; the request was not applied",
                )
            }
        };
        Self(p)
    }
}

/// A JSON request body, parsed with the failing field named in the problem.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn body_problem(e: axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
            "the request body is larger than this endpoint accepts",
        )
    } else {
        Problem::new(StatusCode::BAD_REQUEST, "unreadable-body", "Unreadable request body", e.body_text())
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as JSON with Content-Type: application/json",
            )
            .into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_problem)?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON, naming the failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde reports a missing field at its parent's path; name the field itself.
        let missing =
            inner.to_string().strip_prefix("missing field `").and_then(|m| m.split('`').next()).map(str::to_owned);
        let field = match (path.as_str(), missing) {
            (".", Some(m)) => m,
            (".", None) => "body".to_owned(),
            (p, Some(m)) => format!("{p}.{m}"),
            (p, None) => p.to_owned(),
        };
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError(Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                format!("the body is not valid JSON: {inner}"),
            )),
            Category::Data => {
                let detail = format!("{field}: {}", strip_position(&inner.to_string()));
                ApiError(
                    Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-field",
                        "A field has a wrong type or value",
                        detail.clone(),
                    )
                    .with_errors(vec![FieldViolation::new(field, strip_position(&inner.to_string()))]),
                )
            }
        }
    })
}

fn strip_position(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// A raw body of a given media type (CSV uploads).
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !matches!(mime.as_str(), "text/csv" | "text/plain" | "application/octet-stream") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the file with Content-Type: text/csv",
            )
            .into());
        }
        Ok(RawBody(Bytes::from_request(req, state).await.map_err(body_problem)?))
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

/// A request extension: the principal a middleware already authenticated this request's key
/// as (a client cannot set extensions, only the server's layers can).
#[derive(Debug, Clone)]
pub(crate) struct Authenticated(pub(crate) Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Already authenticated by crate::retry_concurrent (a large body): not again.
        if let Some(Authenticated(p)) = parts.extensions.get::<Authenticated>() {
            return Ok(Auth(p.clone()));
        }
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::from(ServiceError::Unauthenticated(
                "send your API key as Authorization: Bearer <key>".into(),
            )));
        };
        let token = value.to_str().ok().and_then(bearer_token).ok_or_else(|| {
            ApiError::from(ServiceError::Unauthenticated("the Authorization header must be `Bearer <key>`".into()))
        })?;
        Ok(Auth(state.registry.authenticate(token).await?))
    }
}

/// The token of an `Authorization: Bearer <token>` header value. The scheme is compared
/// ignoring ASCII case (RFC 9110 §11.1: `BEARER` and `bearer` are `Bearer`); the token is what
/// follows its space, trimmed; `None` for another scheme or no token.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}

/// A path segment parsed as a domain type, with a problem naming it when it does not parse.
pub fn path_param<T: std::str::FromStr<Err = vouch_registry::RegistryError>>(
    field: &str,
    raw: &str,
) -> Result<T, ApiError> {
    raw.parse::<T>().map_err(|e| {
        let detail = match &e {
            vouch_registry::RegistryError::Invalid(v) => {
                v.0.first().map(|f| f.detail.clone()).unwrap_or_else(|| e.to_string())
            }
            other => other.to_string(),
        };
        ApiError(
            Problem::new(
                StatusCode::BAD_REQUEST,
                &format!("invalid-{}", kebab(field)),
                "Invalid path parameter",
                format!("{field}: {detail}"),
            )
            .with_errors(vec![FieldViolation::new(field, detail)]),
        )
    })
}

/// `providerId` → `provider-id`, for problem slugs.
fn kebab(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 2);
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A part of the server that may be off (`--smpp`, call authentication, the log): the part,
/// or 503 with `<slug>` saying what is not running and what the server was started without.
pub(crate) fn running<'a, T>(
    part: &'a Option<std::sync::Arc<T>>,
    slug: &str,
    what: &str,
    started_without: &str,
) -> Result<&'a std::sync::Arc<T>, ApiError> {
    part.as_ref().ok_or_else(|| {
        ApiError(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            slug,
            &format!("{what} is not running"),
            format!("this server was started without {started_without}"),
        ))
    })
}

/// An RFC 3339 instant from query parameter `field`, or 400 `invalid-<field>`.
pub(crate) fn instant(field: &str, raw: &str) -> Result<jiff::Timestamp, ApiError> {
    raw.parse().map_err(|e| {
        ApiError(Problem::new(
            StatusCode::BAD_REQUEST,
            &format!("invalid-{field}"),
            "Invalid instant",
            format!("{field}: `{raw}` is not an RFC 3339 instant such as 2024-05-28T10:00:00Z ({e})"),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in
            ["Bearer vouch_K_s", "bearer vouch_K_s", "BEARER vouch_K_s", "bEaReR  vouch_K_s ", "Bearer\u{20}vouch_K_s"]
        {
            assert_eq!(bearer_token(value), Some("vouch_K_s"), "{value:?}");
        }
        for value in
            ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearervouch_K_s", " Bearer vouch_K_s", "Bearerx vouch_K_s", ""]
        {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
