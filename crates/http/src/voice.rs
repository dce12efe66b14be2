//! The call authentication REST endpoints (problem+json like the rest of `/v1`): signing
//! certificates, SIP peers, number blocks, the Robocall Mitigation Database, signed-call
//! records; and the certificate repository vouch serves at `x5u` URLs.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vouch_registry::{BrandId, CampaignId, Frn, ProviderId, TelephoneNumber};
use vouch_service::{CallAuth, KeySource, RegisteredCertificate};
use vouch_store::{NumberBlockRow, SignedCall, SipPeerRow};

use crate::handlers::query;
use crate::problem::{ApiError, Auth, JsonBody, Problem, RawBody, path_param, running};
use crate::{AppState, CSV_BODY_LIMIT, JSON_BODY_LIMIT};

type Result<T> = std::result::Result<T, ApiError>;

pub(crate) fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let json = r
        .routes(routes!(register_certificate, list_certificates))
        .routes(routes!(add_sip_peer, list_sip_peers, remove_sip_peer))
        .routes(routes!(add_number_block, list_number_blocks, remove_number_block))
        .routes(routes!(rmd_status))
        .routes(routes!(signed_call))
        .routes(routes!(served_certificate))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
    let csv = OpenApiRouter::new().routes(routes!(import_rmd)).layer(DefaultBodyLimit::max(CSV_BODY_LIMIT));
    json.merge(csv)
}

pub(crate) fn callauth(s: &AppState) -> Result<&Arc<CallAuth>> {
    running(&s.callauth, "call-authentication-off", "Call authentication", "call authentication")
}

/// `POST /v1/providers/{id}/certificates` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateRequest {
    /// The SHAKEN certificate chain, PEM, end-entity first.
    pub chain: String,
    /// The end-entity certificate's private key, PEM (PKCS#8 or SEC1). Stored by vouch.
    #[serde(default)]
    pub private_key: Option<String>,
    /// Instead of `privateKey`: the name of a key file in the server's key directory.
    #[serde(default)]
    pub key_file: Option<String>,
    /// Where verifiers fetch the chain, when the provider serves it itself; by default vouch
    /// serves it at `<public URL>/certs/<fingerprint>.pem`.
    #[serde(default)]
    pub x5u: Option<String>,
}

/// A registered signing certificate.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateView {
    /// Hex SHA-256 of the end-entity certificate.
    pub fingerprint: String,
    /// Its provider.
    pub provider_id: ProviderId,
    /// The SPC in its TNAuthList.
    pub spc: String,
    /// The PASSporT `x5u`.
    pub x5u: String,
    /// Validity end, RFC 3339.
    pub not_after: String,
    /// Whether this is the certificate vouch signs the provider's calls with.
    pub signing: bool,
    /// When it was registered.
    pub registered: String,
}

impl From<RegisteredCertificate> for CertificateView {
    fn from(c: RegisteredCertificate) -> Self {
        Self {
            fingerprint: c.row.fingerprint,
            provider_id: c.row.provider_id,
            spc: c.row.spc,
            x5u: c.row.x5u,
            not_after: jiff::Timestamp::from_second(c.not_after).map(|t| t.to_string()).unwrap_or_default(),
            signing: c.signing,
            registered: c.row.created.to_string(),
        }
    }
}

/// Register a SHAKEN signing certificate and its key (the voice provider itself, or the
/// administrator). The chain must pass the strict SHAKEN lint, carry the provider's SPC,
/// chain to the STI-PA trust list and be valid now; the key must be the certificate's.
#[utoipa::path(post, path = "/v1/providers/{id}/certificates", tag = "call authentication", request_body = CertificateRequest,
    security(("bearer" = [])), params(("id" = String, Path, description = "provider id")),
    responses((status = 201, body = CertificateView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn register_certificate(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CertificateRequest>,
) -> Result<Response> {
    let id: ProviderId = path_param("providerId", &id)?;
    let key = match (req.private_key, req.key_file) {
        (Some(pem), None) => KeySource::Pem(pem),
        (None, Some(file)) => KeySource::File(file),
        _ => {
            return Err(vouch_service::ServiceError::Invalid(vouch_registry::Violations(vec![
                vouch_registry::FieldViolation::new("privateKey", "give exactly one of privateKey and keyFile"),
            ]))
            .into());
        }
    };
    let c = callauth(&s)?.register_certificate(&p, id, &req.chain, key, req.x5u).await?;
    Ok((StatusCode::CREATED, Json(CertificateView::from(c))).into_response())
}

/// A provider's signing certificates.
#[utoipa::path(get, path = "/v1/providers/{id}/certificates", tag = "call authentication", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id")), responses((status = 200, body = Vec<CertificateView>)))]
async fn list_certificates(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<CertificateView>>> {
    let id: ProviderId = path_param("providerId", &id)?;
    Ok(Json(callauth(&s)?.certificates(&p, id).await?.into_iter().map(Into::into).collect()))
}

/// The certificate chain at a vouch-served `x5u` (public, as verifiers fetch it).
#[utoipa::path(get, path = "/certs/{file}", tag = "call authentication", params(("file" = String, Path, description = "<fingerprint>.pem")),
    responses((status = 200, content_type = "application/pem-certificate-chain", body = String),
        (status = 304, description = "If-None-Match names the chain's ETag"), (status = 404, body = Problem)))]
async fn served_certificate(
    State(s): State<AppState>,
    Path(file): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response> {
    let not_found = || {
        ApiError(Problem::new(
            StatusCode::NOT_FOUND,
            "certificate-not-found",
            "Not found",
            format!("no certificate is served at /certs/{file}"),
        ))
    };
    let fp = file.strip_suffix(".pem").ok_or_else(not_found)?;
    let (pem, remaining) = callauth(&s)?.served_chain(fp).ok_or_else(not_found)?;
    // Verifiers cache for at least a day (ATIS-1000074); never past the certificate's end.
    let max_age = remaining.min(86_400);
    let etag = format!("\"{fp}\"");
    // A verifier revalidating what it holds (RFC 9110 section 13.1.2): 304, no body.
    let unchanged = headers.get_all(header::IF_NONE_MATCH).iter().any(|v| etag_matches(v.as_bytes(), &etag));
    let mut resp = if unchanged { StatusCode::NOT_MODIFIED.into_response() } else { pem.to_string().into_response() };
    let h = resp.headers_mut();
    if !unchanged {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pem-certificate-chain"));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(resp)
}

/// Whether an `If-None-Match` value matches `etag` (a strong entity tag, quoted): `*`, or
/// one of its comma-separated tags, compared weakly (a `W/` prefix is ignored) as section
/// 13.1.2 of RFC 9110 says.
fn etag_matches(value: &[u8], etag: &str) -> bool {
    let Ok(value) = std::str::from_utf8(value) else { return false };
    value.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `POST /v1/providers/{id}/sip-peers` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SipPeerRequest {
    /// Source address or CIDR network of the provider's SBCs, e.g. `192.0.2.10` or `192.0.2.0/28`.
    pub address: String,
    /// When the peer is a customer trunk: the customer's brand (allows B attestation).
    #[serde(default)]
    pub brand_id: Option<BrandId>,
    /// The peer is a TDM gateway: an INVITE from it without Identity is verified with the
    /// PASSporT published to the Call Placement Service for the call (docs/CPS.md).
    #[serde(default)]
    pub tdm: bool,
    /// The peer only asks for verification (a terminating SBC): an INVITE from it without
    /// Identity gets a 302 marked `verstat=No-TN-Validation` (428 with `--require-identity`)
    /// and is never signed for the provider.
    #[serde(default)]
    pub verify_only: bool,
}

/// A SIP peer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SipPeerView {
    /// The network.
    pub address: String,
    /// Its provider.
    pub provider_id: ProviderId,
    /// The customer it carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<BrandId>,
    /// A TDM gateway.
    pub tdm: bool,
    /// Only asks for verification: its calls without Identity are never signed.
    pub verify_only: bool,
    /// When it was added.
    pub added: String,
}

impl From<SipPeerRow> for SipPeerView {
    fn from(r: SipPeerRow) -> Self {
        Self {
            address: r.address,
            provider_id: r.provider_id,
            brand_id: r.brand_id,
            tdm: r.tdm,
            verify_only: r.verify_only,
            added: r.created.to_string(),
        }
    }
}

/// Register a SIP peering source address of a provider: INVITEs from it are signed as the
/// provider's, and the provider is the upstream checked against the RMD for calls it hands over.
#[utoipa::path(post, path = "/v1/providers/{id}/sip-peers", tag = "call authentication", request_body = SipPeerRequest,
    security(("bearer" = [])), params(("id" = String, Path, description = "provider id")),
    responses((status = 201, body = SipPeerView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_sip_peer(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<SipPeerRequest>,
) -> Result<Response> {
    let id: ProviderId = path_param("providerId", &id)?;
    let row = callauth(&s)?.add_sip_peer(&p, id, &req.address, req.brand_id, req.tdm, req.verify_only).await?;
    Ok((StatusCode::CREATED, Json(SipPeerView::from(row))).into_response())
}

/// A provider's SIP peers.
#[utoipa::path(get, path = "/v1/providers/{id}/sip-peers", tag = "call authentication", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id")), responses((status = 200, body = Vec<SipPeerView>)))]
async fn list_sip_peers(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<SipPeerView>>> {
    let id: ProviderId = path_param("providerId", &id)?;
    Ok(Json(callauth(&s)?.sip_peers(&p, id).await?.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AddressQuery {
    /// The peer's network, as registered.
    address: String,
}

/// Remove a SIP peer.
#[utoipa::path(delete, path = "/v1/providers/{id}/sip-peers", tag = "call authentication", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id"), AddressQuery), responses((status = 204), (status = 404, body = Problem)))]
async fn remove_sip_peer(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    q: std::result::Result<Query<AddressQuery>, QueryRejection>,
) -> Result<StatusCode> {
    let id: ProviderId = path_param("providerId", &id)?;
    let q = query(q)?;
    callauth(&s)?.remove_sip_peer(&p, id, &q.address).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/providers/{id}/number-blocks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NumberBlockRequest {
    /// First number, E.164.
    pub first: TelephoneNumber,
    /// Last number (inclusive), E.164.
    pub last: TelephoneNumber,
    /// The customer (brand) the block is for; absent for the provider's own numbers.
    #[serde(default)]
    pub brand_id: Option<BrandId>,
}

/// A number block.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberBlockView {
    /// First number.
    pub first: TelephoneNumber,
    /// Last number.
    pub last: TelephoneNumber,
    /// Its provider.
    pub provider_id: ProviderId,
    /// The customer it is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<BrandId>,
    /// When it was registered.
    pub registered: String,
}

impl From<NumberBlockRow> for NumberBlockView {
    fn from(r: NumberBlockRow) -> Self {
        Self {
            first: r.first,
            last: r.last,
            provider_id: r.provider_id,
            brand_id: r.brand_id,
            registered: r.created.to_string(),
        }
    }
}

/// Register a block of numbers as the voice provider's own (A attestation) or a customer's.
#[utoipa::path(post, path = "/v1/providers/{id}/number-blocks", tag = "call authentication", request_body = NumberBlockRequest,
    security(("bearer" = [])), params(("id" = String, Path, description = "provider id")),
    responses((status = 201, body = NumberBlockView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_number_block(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<NumberBlockRequest>,
) -> Result<Response> {
    let id: ProviderId = path_param("providerId", &id)?;
    let row = callauth(&s)?.add_number_block(&p, id, req.first, req.last, req.brand_id).await?;
    Ok((StatusCode::CREATED, Json(NumberBlockView::from(row))).into_response())
}

/// A provider's number blocks.
#[utoipa::path(get, path = "/v1/providers/{id}/number-blocks", tag = "call authentication", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id")), responses((status = 200, body = Vec<NumberBlockView>)))]
async fn list_number_blocks(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<NumberBlockView>>> {
    let id: ProviderId = path_param("providerId", &id)?;
    Ok(Json(callauth(&s)?.number_blocks(&p, id).await?.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FirstQuery {
    /// The block's first number.
    first: String,
}

/// Remove a number block.
#[utoipa::path(delete, path = "/v1/providers/{id}/number-blocks", tag = "call authentication", security(("bearer" = [])),
    params(("id" = String, Path, description = "provider id"), FirstQuery), responses((status = 204), (status = 404, body = Problem)))]
async fn remove_number_block(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    q: std::result::Result<Query<FirstQuery>, QueryRejection>,
) -> Result<StatusCode> {
    let id: ProviderId = path_param("providerId", &id)?;
    let first: TelephoneNumber = path_param("first", &query(q)?.first)?;
    callauth(&s)?.remove_number_block(&p, id, first).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Result of an RMD import.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RmdImportView {
    /// Filings in the new snapshot.
    pub filings: u64,
    /// Rows refused.
    pub rejected: Vec<RmdRejectedRow>,
    /// FRNs newly listed.
    pub added: Vec<Frn>,
    /// FRNs no longer listed.
    pub removed: Vec<Frn>,
    /// FRNs whose filing changed.
    pub changed: Vec<Frn>,
}

/// A refused RMD row.
#[derive(Debug, Serialize, ToSchema)]
pub struct RmdRejectedRow {
    /// Line in the file.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// Import the FCC Robocall Mitigation Database CSV export (administrator), replacing the
/// snapshot; the change is recorded as an `rmd.imported` event.
#[utoipa::path(post, path = "/v1/rmd", tag = "call authentication", request_body(content = String, content_type = "text/csv"),
    params(RmdImportQuery),
    security(("bearer" = [])), responses((status = 200, body = RmdImportView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn import_rmd(
    State(s): State<AppState>,
    Auth(p): Auth,
    q: std::result::Result<Query<RmdImportQuery>, QueryRejection>,
    RawBody(body): RawBody,
) -> Result<Json<RmdImportView>> {
    let q = query(q)?;
    let r = callauth(&s)?.import_rmd(&p, &body, q.allow_shrink).await?;
    Ok(Json(RmdImportView {
        filings: r.filings,
        rejected: r.rejected.into_iter().map(|(line, reason)| RmdRejectedRow { line, reason }).collect(),
        added: r.changes.added,
        removed: r.changes.removed,
        changed: r.changes.changed,
    }))
}

/// How an RMD export is imported.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RmdImportQuery {
    /// Replace the snapshot even with an export of fewer than half its filings (otherwise
    /// refused as a likely partial download).
    #[serde(default)]
    allow_shrink: bool,
}

/// RMD status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RmdStatus {
    /// Whether a snapshot was imported (without one the RMD rule is not enforced).
    pub loaded: bool,
    /// Filings in it.
    pub filings: usize,
}

/// Whether an RMD snapshot is loaded, and its size.
#[utoipa::path(get, path = "/v1/rmd", tag = "call authentication", security(("bearer" = [])), responses((status = 200, body = RmdStatus)))]
async fn rmd_status(State(s): State<AppState>, Auth(_who): Auth) -> Result<Json<RmdStatus>> {
    let n = callauth(&s)?.rmd_size();
    Ok(Json(RmdStatus { loaded: n.is_some(), filings: n.unwrap_or(0) }))
}

/// What vouch signed under an `origid`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedCallView {
    /// The PASSporT's origid.
    pub origid: String,
    /// The signing provider.
    pub provider_id: ProviderId,
    /// The brand behind the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<BrandId>,
    /// The campaign holding the calling number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<CampaignId>,
    /// Calling number.
    pub orig: String,
    /// Called numbers.
    pub dest: Vec<String>,
    /// Attestation signed (`A`, `B`, `C`), or `div` for a forward vouch signed a diversion
    /// PASSporT for (RFC 8946): `providerId` is then the forwarding provider and `dest` the new
    /// target.
    pub attest: String,
    /// The PASSporT's iat.
    pub iat: i64,
    /// When vouch signed it.
    pub signed: String,
    /// How many calls (visible to the caller) were signed under this origid; this record is
    /// the newest. An origid names the origination point, so callers may reuse it.
    pub calls: usize,
}

impl SignedCallView {
    fn new(c: SignedCall, calls: usize) -> Self {
        Self {
            calls,
            origid: c.origid,
            provider_id: c.provider_id,
            brand_id: c.brand_id,
            campaign_id: c.campaign_id,
            orig: c.orig,
            dest: c.dest.split(',').map(str::to_owned).collect(),
            attest: c.attest,
            iat: c.iat,
            signed: c.created.to_string(),
        }
    }
}

/// The record of a call vouch signed (the signing provider or the administrator): who, for
/// which brand and campaign, what attestation.
#[utoipa::path(get, path = "/v1/signed-calls/{origid}", tag = "call authentication", security(("bearer" = [])),
    params(("origid" = String, Path, description = "the PASSporT's origid")), responses((status = 200, body = SignedCallView), (status = 404, body = Problem)))]
async fn signed_call(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(origid): Path<String>,
) -> Result<Json<SignedCallView>> {
    let mut calls = callauth(&s)?.signed_calls(&p, &origid).await?;
    let n = calls.len();
    let newest = calls.swap_remove(0);
    Ok(Json(SignedCallView::new(newest, n)))
}

#[cfg(test)]
mod tests {
    use super::etag_matches;

    #[test]
    fn if_none_match_compares_entity_tags_weakly() {
        let etag = "\"ab12\"";
        for matching in ["\"ab12\"", "*", "W/\"ab12\"", "\"x\", \"ab12\"", " \"x\" ,W/\"ab12\" "] {
            assert!(etag_matches(matching.as_bytes(), etag), "{matching}");
        }
        for other in ["\"ab1\"", "ab12", "\"AB12\"", "", "\"ab12\"x"] {
            assert!(!etag_matches(other.as_bytes(), etag), "{other}");
        }
        assert!(!etag_matches(b"\xff\"ab12\"", etag));
    }
}
