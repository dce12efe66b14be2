//! The transparency log over HTTP: the C2SP `tlog-tiles` read path under `/log/` (checkpoint,
//! hash tiles, entry bundles, the verifier key) and the proof API under `/v1/log/`.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vouch_service::{InclusionProof, ProofError, ProofView, TransparencyLog};
use vouch_tlog::TilePath;

use crate::AppState;
use crate::handlers::query;
use crate::problem::{ApiError, Auth, Problem, running};

type Result<T> = std::result::Result<T, ApiError>;

pub(crate) fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(checkpoint))
        .routes(routes!(verifier_key))
        // A catch-all: tile paths have several segments (documented in the OpenAPI document
        // through `ApiDoc`'s paths).
        .route("/log/tile/{*path}", axum::routing::get(tile))
        .routes(routes!(inclusion))
        .routes(routes!(consistency))
        .routes(routes!(openings))
        .routes(routes!(checkpoints))
}

fn log(s: &AppState) -> Result<&Arc<TransparencyLog>> {
    running(&s.log, "log-off", "The transparency log", "the transparency log")
}

fn with_headers(body: impl IntoResponse, content_type: &'static str, cache: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// The newest signed checkpoint (C2SP tlog-checkpoint in a signed note).
#[utoipa::path(get, path = "/log/checkpoint", tag = "transparency log",
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = Problem)))]
async fn checkpoint(State(s): State<AppState>) -> Result<Response> {
    let cp = log(&s)?.checkpoint().ok_or_else(|| {
        ApiError(Problem::new(
            StatusCode::NOT_FOUND,
            "no-checkpoint",
            "No checkpoint yet",
            "the log has not signed a checkpoint yet",
        ))
    })?;
    Ok(with_headers(cp.note, "text/plain; charset=utf-8", "no-store"))
}

/// The note verifier key of the log (`name+id+key`), to check checkpoint signatures with.
#[utoipa::path(get, path = "/log/key", tag = "transparency log", responses((status = 200, content_type = "text/plain", body = String)))]
async fn verifier_key(State(s): State<AppState>) -> Result<Response> {
    let key = format!("{}\n", log(&s)?.verifier().to_key_string());
    Ok(with_headers(key, "text/plain; charset=utf-8", "public, max-age=86400"))
}

/// A hash tile (`tile/<L>/<N>[.p/<W>]`) or an entry bundle (`tile/entries/<N>[.p/<W>]`).
/// Tiles never change once served (a partial tile of width W is a prefix of every later one).
#[utoipa::path(get, path = "/log/tile/{path}", tag = "transparency log",
    params(("path" = String, Path, description = "e.g. 0/x001/234, 1/000.p/7, entries/000")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn tile(State(s): State<AppState>, Path(path): Path<String>) -> Result<Response> {
    let bad = |e: vouch_tlog::TlogError| {
        ApiError(Problem::new(StatusCode::BAD_REQUEST, "bad-tile-path", "Bad tile path", e.to_string()))
    };
    let parsed = TilePath::parse(&format!("tile/{path}")).map_err(bad)?;
    let log = log(&s)?;
    let bytes = match parsed {
        TilePath::Hashes { id, width } => log.hash_tile(id, width).await?,
        TilePath::Entries { index, width } => log.entry_bundle(index, width).await?,
    };
    let bytes = bytes.ok_or_else(|| {
        ApiError(Problem::new(
            StatusCode::NOT_FOUND,
            "tile-not-found",
            "No such tile",
            format!("the tree (size {}) has no tile/{path}", log.size()),
        ))
    })?;
    Ok(with_headers(bytes, "application/octet-stream", "public, max-age=31536000, immutable"))
}

/// Which entry to prove, and against which tree size.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The event's sequence number.
    pub event: Option<u64>,
    /// Or: the hex SHA-256 fingerprint of a registered SHAKEN certificate.
    pub fingerprint: Option<String>,
    /// The tree size (default: the newest checkpoint's).
    pub size: Option<u64>,
}

/// An inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InclusionView {
    /// The event's sequence number.
    pub event: u64,
    /// The proof.
    #[serde(flatten)]
    pub proof: ProofView,
    /// The signed checkpoint, when `treeSize` is the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

fn inclusion_view(log: &TransparencyLog, p: InclusionProof) -> InclusionView {
    let checkpoint = log.checkpoint().filter(|c| c.size == p.size).map(|c| c.note);
    InclusionView { event: p.seq, proof: ProofView::from(&p), checkpoint }
}

/// A refused inclusion proof as a problem: 422 `no-such-event` (event 0) and
/// `event-not-in-tree` (a tree of a fixed size that does not hold the event) are permanent;
/// 409 `not-yet-integrated` (the newest tree does not hold it yet) is worth retrying.
fn proof_problem(e: ProofError) -> ApiError {
    let detail = e.to_string();
    let (status, slug, title, field) = match e {
        ProofError::NoSuchEvent { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "no-such-event", "No such event", "event"),
        ProofError::NotInTree { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "event-not-in-tree", "The event is not in that tree", "size")
        }
        ProofError::NotYetIntegrated { .. } => {
            return ApiError(Problem::new(StatusCode::CONFLICT, "not-yet-integrated", "Not integrated yet", detail));
        }
        ProofError::Service(e) => return e.into(),
    };
    ApiError(
        Problem::new(status, slug, title, detail.clone())
            .with_errors(vec![vouch_registry::FieldViolation::new(field, detail)]),
    )
}

/// The inclusion proof of a registry event, or of the event that registered a certificate.
/// Event 0, or an event past a tree size given that is not the newest, get 422 (permanent);
/// an event not integrated yet gets 409 (retry).
#[utoipa::path(get, path = "/v1/log/proofs/inclusion", tag = "transparency log", params(InclusionQuery),
    responses((status = 200, body = InclusionView), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn inclusion(
    State(s): State<AppState>,
    q: std::result::Result<Query<InclusionQuery>, QueryRejection>,
) -> Result<Json<InclusionView>> {
    let q = query(q)?;
    let log = log(&s)?;
    let proof = match (q.event, q.fingerprint) {
        (Some(seq), None) => log.prove(seq, q.size).await.map_err(proof_problem)?,
        (None, Some(fp)) => log.prove_certificate(&fp, q.size).await.map_err(proof_problem)?,
        _ => {
            return Err(ApiError(Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-query",
                "Bad query",
                "give exactly one of event and fingerprint",
            )));
        }
    };
    Ok(Json(inclusion_view(log, proof)))
}

/// Two tree sizes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older size (at least 1).
    pub from: u64,
    /// The newer size (default: the newest checkpoint's).
    pub to: Option<u64>,
}

/// A consistency proof.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyView {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The proof, base64 hashes.
    pub proof: Vec<String>,
    /// The older tree head, base64.
    pub old_root: String,
    /// The newer tree head, base64.
    pub new_root: String,
}

/// The consistency proof between two tree sizes.
#[utoipa::path(get, path = "/v1/log/proofs/consistency", tag = "transparency log", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyView), (status = 400, body = Problem)))]
async fn consistency(
    State(s): State<AppState>,
    q: std::result::Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<ConsistencyView>> {
    let q = query(q)?;
    let (to, proof, old, new) = log(&s)?.prove_consistency(q.from, q.to).await?;
    Ok(Json(ConsistencyView {
        from: q.from,
        to,
        proof: proof.iter().map(|h| h.to_base64()).collect(),
        old_root: old.to_base64(),
        new_root: new.to_base64(),
    }))
}

/// One opened commitment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpeningView {
    /// The sealed field: a brand field (`ein`), or a vetting reason's text
    /// (`reasons.<i>.message`, `reasons.<i>.fix`).
    pub field: String,
    /// The salt, base64.
    pub salt: String,
    /// The field's value.
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    /// SHA-256(salt || canonical JSON of value), base64, as in the entry's `body.sealed`.
    pub commitment: String,
}

/// The openings of an event's sealed fields.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpeningsView {
    /// The event.
    pub event: u64,
    /// One per sealed field present.
    pub openings: Vec<OpeningView>,
}

/// The openings of a brand event's commitments (confidential fields, vetting reasons' texts),
/// for the parties that may read the brand (its CSP, a DCA it is shared with, the
/// administrator).
#[utoipa::path(get, path = "/v1/log/openings/{event}", tag = "transparency log", security(("bearer" = [])),
    params(("event" = u64, Path, description = "the event's sequence number")),
    responses((status = 200, body = OpeningsView), (status = 404, body = Problem)))]
async fn openings(State(s): State<AppState>, Auth(p): Auth, Path(event): Path<String>) -> Result<Json<OpeningsView>> {
    let seq: u64 = event.parse().map_err(|_| {
        ApiError(Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-path",
            "Bad event number",
            format!("{event:?} is not an event sequence number"),
        ))
    })?;
    let openings = log(&s)?.openings(&p, seq).await?;
    Ok(Json(OpeningsView {
        event: seq,
        openings: openings
            .into_iter()
            .map(|o| OpeningView {
                field: o.field,
                salt: vouch_service::salt_base64(&o.salt),
                value: o.value,
                commitment: o.commitment.to_base64(),
            })
            .collect(),
    }))
}

/// Paging through checkpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckpointsQuery {
    /// Only sizes below this.
    pub before: Option<u64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// A signed checkpoint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointView {
    /// Tree size.
    pub size: u64,
    /// Tree head, base64.
    pub root: String,
    /// When it was signed.
    pub signed: String,
    /// The signed note.
    pub note: String,
}

/// The log's checkpoints, newest first: the tree size over time.
#[utoipa::path(get, path = "/v1/log/checkpoints", tag = "transparency log", params(CheckpointsQuery),
    responses((status = 200, body = Vec<CheckpointView>)))]
async fn checkpoints(
    State(s): State<AppState>,
    q: std::result::Result<Query<CheckpointsQuery>, QueryRejection>,
) -> Result<Json<Vec<CheckpointView>>> {
    let q = query(q)?;
    let rows = log(&s)?.checkpoints(q.before, q.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|c| CheckpointView {
                size: c.size,
                root: STANDARD.encode(&c.root),
                signed: jiff::Timestamp::from_microsecond(c.ts_us).map(|t| t.to_string()).unwrap_or_default(),
                note: c.note,
            })
            .collect(),
    ))
}
