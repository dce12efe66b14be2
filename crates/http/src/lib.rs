//! vouch's REST adapter: the registry's JSON API under `/v1`, RFC 9457 problems for every
//! error, an OpenAPI 3.1 document at `/openapi.json`, Prometheus metrics at `/metrics` and
//! liveness at `/healthz`.

mod abuse;
mod console;
mod cps;
mod gateway;
mod handlers;
mod log;
mod problem;
mod stir;
mod trace;
mod views;
mod voice;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use vouch_service::{CallAuth, Registry};

pub use problem::{PROBLEM_BASE, Problem};

/// Largest JSON body accepted (brands and campaigns are a few kilobytes).
pub const JSON_BODY_LIMIT: usize = 64 * 1024;
/// Largest CSV upload accepted per request (the CLI sends imports in chunks well below this).
pub const CSV_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// What every handler shares: one `Arc`, so that the clone each request makes (axum's `State`,
/// the middleware) is one reference count, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

/// The services behind [`AppState`].
#[derive(Clone)]
pub struct Services {
    /// The registry.
    pub registry: Arc<Registry>,
    /// Call authentication, when running.
    pub callauth: Option<Arc<CallAuth>>,
    /// The transparency log, when running.
    pub log: Option<Arc<vouch_service::TransparencyLog>>,
    /// The SMPP gateway, when running.
    pub gateway: Option<Arc<vouch_service::SmppGateway>>,
    /// Risk scores and enforcement.
    pub abuse: Arc<vouch_service::Abuse>,
    /// The Call Placement Service, when running.
    pub cps: Option<Arc<vouch_service::Cps>>,
    metrics: Option<PrometheusHandle>,
    /// The networks `/metrics` answers without a key ([`AppState::with_metrics_allow`]).
    metrics_allow: Vec<ipnet::IpNet>,
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

impl AppState {
    /// State for `registry`, with a Prometheus recorder installed if none is yet.
    pub fn new(registry: Arc<Registry>) -> Self {
        let metrics = PrometheusBuilder::new()
            .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
            .ok()
            .and_then(|b| b.install_recorder().ok());
        let abuse = vouch_service::Abuse::new(registry.clone(), vouch_service::AbusePolicy::default());
        let metrics_allow = ["127.0.0.0/8", "::1/128"].iter().filter_map(|n| n.parse().ok()).collect();
        Self(Arc::new(Services {
            registry,
            callauth: None,
            log: None,
            gateway: None,
            abuse,
            cps: None,
            metrics,
            metrics_allow,
        }))
    }

    fn services(&mut self) -> &mut Services {
        Arc::make_mut(&mut self.0)
    }

    /// With the transparency log (`/log/` and `/v1/log/`).
    pub fn with_log(mut self, log: Arc<vouch_service::TransparencyLog>) -> Self {
        self.services().log = Some(log);
        self
    }

    /// With the SMPP gateway (`/v1/gateway/records`).
    pub fn with_gateway(mut self, gateway: Arc<vouch_service::SmppGateway>) -> Self {
        self.services().gateway = Some(gateway);
        self
    }

    /// With these risk and enforcement policies.
    pub fn with_abuse(mut self, abuse: Arc<vouch_service::Abuse>) -> Self {
        self.services().abuse = abuse;
        self
    }

    /// With call authentication (the `/stir/v1` interface and its REST resources).
    pub fn with_callauth(mut self, callauth: Arc<CallAuth>) -> Self {
        self.services().callauth = Some(callauth);
        self
    }

    /// `/metrics` answers, without a key, clients from `nets` (by default loopback only);
    /// others need the administrator's key.
    pub fn with_metrics_allow(mut self, nets: Vec<ipnet::IpNet>) -> Self {
        self.services().metrics_allow = nets;
        self
    }

    /// With the Call Placement Service.
    pub fn with_cps(mut self, cps: Arc<vouch_service::Cps>) -> Self {
        self.services().cps = Some(cps);
        self
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vouch registry API",
        description = "Providers, brands, campaigns and numbers with full history. Errors are RFC 9457 problem documents (application/problem+json) whose type is urn:vouch:problem:<slug>.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    paths(log::tile),
    tags(
        (name = "providers", description = "Providers and their API keys (the administrator registers providers)"),
        (name = "brands", description = "Brands with automated vetting"),
        (name = "campaigns", description = "Campaigns, sharing to a DCA, suspension"),
        (name = "numbers", description = "Number assignments, public lookup and history"),
        (name = "call authentication", description = "STIR/SHAKEN signing credentials, SIP peers, number blocks, the Robocall Mitigation Database; the ATIS-1000082 interface itself is at /stir/v1 (see docs/STIR-API.md)"),
        (name = "smpp gateway", description = "SMPP accounts of CSPs and the gateway's decision records (see docs/SMPP-GATEWAY.md)"),
        (name = "traceback", description = "Spam reports and traces: who held a number at an instant, with the registry events and log proofs it rests on; risk scores and enforcement (see docs/TRACEBACK.md)"),
        (name = "call placement service", description = "Out-of-band STIR/SHAKEN: publish and retrieve PASSporTs (ATIS-1000105) with vouch's privacy mode, HPKE keys of providers (see docs/CPS.md)"),
        (name = "transparency log", description = "The append-only log of every registry event and certificate: C2SP tiles and checkpoints under /log/, proofs under /v1/log/ (see docs/TRANSPARENCY-LOG.md)"),
        (name = "operations", description = "Health, metrics, events")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A vouch API key: vouch_<keyId>_<secret>"))
                    .build(),
            ),
        );
    }
}

/// Where a problem's schema is in the document.
const PROBLEM_SCHEMA: &str = "#/components/schemas/Problem";
/// The media type of every problem on the wire ([`Problem`]'s `IntoResponse`).
const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";

/// Makes the document say what the server sends, for every operation at once (the routes'
/// annotations declare their own responses): a response whose body is a [`Problem`] is
/// `application/problem+json`, not the `application/json` the annotations imply; every
/// operation with a security requirement answers 401 `unauthenticated` (the [`problem::Auth`]
/// extractor); and every response has a description (OpenAPI requires one), the status's
/// reason phrase when its annotation gives none.
struct ProblemResponses;

impl ProblemResponses {
    fn operation(op: &mut utoipa::openapi::path::Operation) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::security::SecurityRequirement;
        let secured = op.security.as_ref().is_some_and(|s| s.iter().any(|r| r != &SecurityRequirement::default()));
        if secured && !op.responses.responses.contains_key("401") {
            op.responses.responses.insert("401".into(), RefOr::T(Self::unauthenticated()));
        }
        for (status, response) in op.responses.responses.iter_mut() {
            let RefOr::T(response) = response else { continue };
            let is_problem = |c: &RefOr<utoipa::openapi::Content>| match c {
                RefOr::T(c) => matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location == PROBLEM_SCHEMA),
                RefOr::Ref(_) => false,
            };
            let content = std::mem::take(&mut response.content);
            response.content = content
                .into_iter()
                .map(|(media, c)| match media.as_str() {
                    "application/json" if is_problem(&c) => (PROBLEM_MEDIA_TYPE.to_owned(), c),
                    _ => (media, c),
                })
                .collect();
            if response.description.is_empty() {
                response.description = status
                    .parse::<u16>()
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Response")
                    .to_owned();
            }
        }
    }

    /// The 401 of a secured operation.
    fn unauthenticated() -> utoipa::openapi::Response {
        use utoipa::openapi::header::Header;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let mut challenge = Header::default();
        challenge.description = Some("Bearer realm=\"vouch\"".into());
        ResponseBuilder::new()
            .description("unauthenticated: no API key, a wrong key or a revoked key")
            .header("WWW-Authenticate", challenge)
            .content(PROBLEM_MEDIA_TYPE, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
            .build()
    }
}

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let methods = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
                &mut item.query,
            ];
            for op in methods.into_iter().flatten().chain(item.additional_operations.values_mut()) {
                Self::operation(op);
            }
        }
    }
}

/// The routes that the OpenAPI document describes, and that document.
fn documented_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (api_router, mut api) = cps::routes(abuse::routes(trace::routes(gateway::routes(log::routes(voice::routes(
        handlers::routes(OpenApiRouter::with_openapi(ApiDoc::openapi())),
    ))))))
    .split_for_parts();
    // After every route added its operations (`ApiDoc`'s own modifiers run before).
    utoipa::Modify::modify(&ProblemResponses, &mut api);
    (api_router, api)
}

/// The OpenAPI document and the router of every endpoint.
pub fn router(state: AppState) -> Router {
    let (api_router, api) = documented_routes();
    let api = Arc::new(api);
    api_router
        .route(
            "/openapi.json",
            get(move || {
                let api = api.clone();
                async move { Json(api.as_ref().clone()) }
            }),
        )
        .route("/metrics", get(metrics_text))
        .merge(stir::routes())
        .merge(console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), retry_concurrent))
        // A request body that stalls (a client that sent its head and then trickles or stops)
        // fails after BODY_IDLE without a byte: the connection does not stay held.
        .layer(axum::middleware::map_request(|req: axum::extract::Request| async move {
            req.map(|body| axum::body::Body::new(tower_http::timeout::TimeoutBody::new(BODY_IDLE, body)))
        }))
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn(log_refused_keys))
        .layer(middleware::from_fn(private_answers))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the server failed; the request was not applied",
            )
            .into_response()
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one request. A CPS path names the called and calling numbers of a call; it is
/// never written to the logs (docs/CPS.md), so only its first segment is.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let path = req.uri().path();
    let path = if path.starts_with("/passports/") { "/passports/…" } else { path };
    tracing::debug_span!("request", method = %req.method(), path = %path)
}

/// Longest wait for the next bytes of a request body (the whole body may take longer while
/// bytes keep coming: a large CSV import).
pub const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(15);

/// Times a write may run when another node keeps writing first.
const WRITE_ATTEMPTS: usize = 4;

/// The routes whose bodies may be as large as [`CSV_BODY_LIMIT`] (every other route takes
/// [`JSON_BODY_LIMIT`] at most).
const CSV_ROUTES: [&str; 3] = ["/v1/numbers/import", "/v1/sanctions", "/v1/rmd"];

/// The largest body the route at `path` accepts.
fn body_limit(path: &str) -> usize {
    if CSV_ROUTES.contains(&path) { CSV_BODY_LIMIT } else { JSON_BODY_LIMIT }
}

/// The `Authorization` header of a request, if it is text.
fn authorization(req: &axum::extract::Request) -> Option<String> {
    req.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Whether an `Authorization` header value carries an API key that authenticates.
async fn authenticated(state: &AppState, authorization: Option<String>) -> Option<vouch_service::Principal> {
    state.registry.authenticate(authorization.as_deref().and_then(problem::bearer_token)?).await.ok()
}

/// Runs a write again when it failed because another node on the same database wrote first
/// (a [`problem::Retryable`] response): the node has read that write by then, so the request
/// is decided on the registry as it now is. A body with a length is kept for that when the
/// route accepts it ([`body_limit`]), and one larger than [`JSON_BODY_LIMIT`] (a CSV import)
/// only when the request's API key authenticates: whoever sends a request, with or without a
/// key, never makes the server hold more than a JSON body's worth before the route turned it
/// away (401, 413). Reads, and bodies without a length or that the route refuses, run once.
async fn retry_concurrent(State(state): State<AppState>, mut req: axum::extract::Request, next: Next) -> Response {
    // The call authentication (ATIS-1000082) and CPS interfaces never write the registry, so
    // they have nothing to run again: they skip the copy of every request this takes.
    let path = req.uri().path();
    if path.starts_with("/stir/") || path.starts_with("/passports/") {
        return next.run(req).await;
    }
    let length = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let safe = matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    let Some(length) = length.filter(|&l| !safe && l <= body_limit(path)) else { return next.run(req).await };
    if length > JSON_BODY_LIMIT {
        // The route's own Auth extractor takes this principal instead of authenticating again.
        match authenticated(&state, authorization(&req)).await {
            Some(p) => {
                req.extensions_mut().insert(problem::Authenticated(p));
            }
            None => return next.run(req).await,
        }
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, length).await {
        Ok(b) => b,
        Err(_) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "unreadable-body",
                "Unreadable request body",
                "the request body ended before its Content-Length, or stalled (no byte for 15 s)",
            )
            .into_response();
        }
    };
    let mut attempt = 1;
    loop {
        let req = axum::extract::Request::from_parts(parts.clone(), axum::body::Body::from(bytes.clone()));
        let resp = next.clone().run(req).await;
        if attempt == WRITE_ATTEMPTS || resp.extensions().get::<problem::Retryable>().is_none() {
            return resp;
        }
        metrics::counter!("vouch_http_write_retries_total").increment(1);
        attempt += 1;
    }
}

/// `/metrics` (Prometheus text) to a client in the allowed networks, or with the
/// administrator's key: traffic volumes, upstream SMSC names and the routes' answers are the
/// operator's, not every API client's.
async fn metrics_text(State(state): State<AppState>, req: Request) -> Response {
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    if !peer.is_some_and(|ip| vouch_certfetch::ranges::in_networks(&state.metrics_allow, ip)) {
        let presented = authorization(&req);
        let forbidden = |detail: String| {
            Problem::new(StatusCode::FORBIDDEN, "metrics-forbidden", "Metrics not served to this client", detail)
                .into_response()
        };
        match (presented.is_some(), authenticated(&state, presented).await) {
            (_, Some(p)) if p.is_admin() => {}
            (_, Some(_)) => {
                return forbidden(
                    "outside the networks of --metrics-allow only the administrator's key reads /metrics".into(),
                );
            }
            // A key that does not authenticate is a refused key like any other (401, logged).
            (true, None) => {
                return problem::ApiError::from(vouch_service::ServiceError::Unauthenticated(
                    "the API key is not valid; check the Authorization: Bearer header".into(),
                ))
                .into_response();
            }
            (false, None) => {
                let from = peer.map_or_else(|| "this client".to_owned(), |ip| ip.to_canonical().to_string());
                return forbidden(format!(
                    "/metrics answers clients in the networks of vouch serve --metrics-allow (loopback by default), \
                     or the administrator's key; {from} is in none of them"
                ));
            }
        }
    }
    match &state.metrics {
        Some(h) => ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()).into_response(),
        None => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics-unavailable",
            "Metrics unavailable",
            "another metrics recorder is installed in this process",
        )
        .into_response(),
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no-such-endpoint",
        "No such endpoint",
        format!("{} is not an endpoint of this API; see /openapi.json", uri.path()),
    )
    .into_response()
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
    .into_response()
}

/// Answers to requests that carry credentials are a provider's own data: `Cache-Control:
/// no-store` unless the handler chose otherwise, so no browser cache or proxy keeps them (the
/// console's pages showed EINs and addresses that stayed in the browser's disk cache after
/// sign-out).
///
/// Every answer also says `X-Content-Type-Options: nosniff`: a browser takes a JSON answer
/// (which may echo a path or a registry field) for what its `Content-Type` says, never for
/// HTML or script.
async fn private_answers(req: Request, next: Next) -> Response {
    let credentialed = req.headers().contains_key(axum::http::header::AUTHORIZATION);
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    if credentialed && !headers.contains_key(axum::http::header::CACHE_CONTROL) {
        headers.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    }
    if !headers.contains_key(axum::http::header::X_CONTENT_TYPE_OPTIONS) {
        headers.insert(axum::http::header::X_CONTENT_TYPE_OPTIONS, axum::http::HeaderValue::from_static("nosniff"));
    }
    resp
}

/// The `method` label of a request: one of the methods of RFC 9110, or `OTHER`. A client
/// chooses the method token freely (`FOO1`, `FOO2`, …): as a label of its own, each would add
/// series that the server keeps and `/metrics` shows for as long as it runs.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("vouch_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("vouch_http_request_duration_seconds", "route" => route).record(start.elapsed().as_secs_f64());
    resp
}

/// Logs each request whose API key was refused (a 401 to a request that presented one): the
/// key's id as presented when it has the shape of a vouch key (never the secret; not proof of
/// whose key it is), the method and path, and last the peer's address (the server puts it in
/// the request as `ConnectInfo`), for an operator's
/// intrusion detection (fail2ban and the like), and counts them in
/// `vouch_http_refused_keys_total`. At most [`REFUSED_KEY_LINES`] lines a second: past that,
/// one line says how many were left out, so a flood of bad keys cannot fill the disk.
async fn log_refused_keys(req: Request, next: Next) -> Response {
    // Cheap copies (reference-counted bytes): this runs on every signing and verification.
    let Some(presented) = req.headers().get(axum::http::header::AUTHORIZATION).cloned() else {
        return next.run(req).await;
    };
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
    let method = method_label(req.method());
    let uri = req.uri().clone();
    let resp = next.run(req).await;
    if resp.status() == StatusCode::UNAUTHORIZED {
        metrics::counter!("vouch_http_refused_keys_total").increment(1);
        if let Some(left_out) = REFUSED_KEY_LOG.admit(Instant::now()) {
            if left_out > 0 {
                tracing::warn!(
                    left_out,
                    "refused API keys not logged since the last line (over {REFUSED_KEY_LINES} a second)"
                );
            }
            let token = presented.to_str().ok().and_then(problem::bearer_token).unwrap_or("");
            let key = key_id(token).unwrap_or("(not a vouch key)");
            // A CPS path names a call's numbers: never logged (docs/CPS.md).
            let path = if uri.path().starts_with("/passports/") { "/passports/…" } else { uri.path() };
            // The client's address last, and as IPv4 when it is (a dual-stack listener sees
            // `::ffff:a.b.c.d`): a filter anchored at the end of the line reads it, whatever
            // the path (the client's words) holds.
            let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_canonical().to_string());
            tracing::warn!(key, method, path, %peer, "API key refused");
        }
    }
    resp
}

/// The id of a presented vouch key (`vouch_<id>_<secret>`), or `None` for another token.
fn key_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("vouch_")?;
    let (id, secret) = rest.split_once('_')?;
    (!secret.is_empty() && (2..=16).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

/// Most "API key refused" lines a second.
const REFUSED_KEY_LINES: u32 = 20;

/// The budget of [`log_refused_keys`]' lines.
static REFUSED_KEY_LOG: LineBudget = LineBudget::new(REFUSED_KEY_LINES);

/// Lines a second, and how many were left out.
struct LineBudget {
    per_second: u32,
    /// (start of the current second, lines in it, lines left out in it and not yet reported)
    state: std::sync::Mutex<Option<(Instant, u32, u64)>>,
}

impl LineBudget {
    const fn new(per_second: u32) -> Self {
        Self { per_second, state: std::sync::Mutex::new(None) }
    }

    /// `Some(n)` when a line may be written now, `n` being the lines left out since the last
    /// line written; `None` when this one is left out.
    fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (start, lines, left_out) = state.get_or_insert((now, 0, 0));
        if now.duration_since(*start) >= std::time::Duration::from_secs(1) {
            *start = now;
            *lines = 0;
        }
        if *lines >= self.per_second {
            *left_out += 1;
            return None;
        }
        *lines += 1;
        Some(std::mem::take(left_out))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn refused_key_lines_are_bounded_and_what_was_left_out_is_reported() {
        let budget = super::LineBudget::new(2);
        let t0 = std::time::Instant::now();
        assert_eq!(budget.admit(t0), Some(0));
        assert_eq!(budget.admit(t0), Some(0));
        assert_eq!(budget.admit(t0), None);
        assert_eq!(budget.admit(t0 + std::time::Duration::from_millis(999)), None);
        assert_eq!(budget.admit(t0 + std::time::Duration::from_secs(1)), Some(2));
        assert_eq!(budget.admit(t0 + std::time::Duration::from_secs(1)), Some(0));
    }

    #[test]
    fn only_a_vouch_keys_id_is_logged() {
        assert_eq!(super::key_id("vouch_KAB12CD3_s3cr3t"), Some("KAB12CD3"));
        assert_eq!(super::key_id("vouch_KAB12CD3_"), None);
        assert_eq!(super::key_id("vouch_K\n evil_x"), None);
        assert_eq!(super::key_id("Bearer-ish"), None);
    }

    /// Every operation of the document, as `(METHOD path, operation)`.
    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                if ["get", "put", "post", "delete", "options", "head", "patch", "trace", "query"]
                    .contains(&method.as_str())
                {
                    out.push((format!("{} {path}", method.to_uppercase()), op));
                }
            }
        }
        out
    }

    /// The document says what the wire carries: problems as application/problem+json, a 401
    /// on every secured operation, a description on every response.
    #[test]
    fn problem_responses_and_401s_in_the_document() {
        let doc = serde_json::to_value(super::documented_routes().1).expect("the document serialises");
        let ops = operations(&doc);
        assert!(ops.len() > 50, "too few operations: {}", ops.len());
        let mut secured = 0;
        for (what, op) in &ops {
            let responses = op["responses"].as_object().expect("responses");
            for (status, r) in responses {
                assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()), "{what} {status}: no description");
                for (media, c) in r["content"].as_object().into_iter().flatten() {
                    let problem = c["schema"]["$ref"] == super::PROBLEM_SCHEMA;
                    assert_eq!(problem, media == super::PROBLEM_MEDIA_TYPE, "{what} {status}: {media} {c}");
                }
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                secured += 1;
                let r = &responses.get("401").unwrap_or_else(|| panic!("{what}: no 401"));
                assert_eq!(r["content"][super::PROBLEM_MEDIA_TYPE]["schema"]["$ref"], super::PROBLEM_SCHEMA, "{what}");
            }
        }
        assert!(secured > 50, "too few secured operations: {secured}");
        let put = &doc["paths"]["/v1/numbers/{number}"]["put"]["responses"];
        for status in ["400", "401", "403", "404", "409", "422"] {
            assert_eq!(
                put[status]["content"][super::PROBLEM_MEDIA_TYPE]["schema"]["$ref"],
                super::PROBLEM_SCHEMA,
                "{status}"
            );
        }
    }
}
