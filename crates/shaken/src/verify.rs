//! The SHAKEN verification procedure (ATIS-1000074 section 5.3, RFC 8224 section 6.2) over one
//! Identity header, given the signer's certificate chain: what an STI-VS does once it has
//! fetched `x5u`.

use crate::passport::Origin;
use crate::passport::VerifyingKey;
use crate::{Attestation, Certificate, IdentityHeader, Passport, ShakenError, Tn, TrustStore};

/// The verstat value a terminating network attaches (3GPP TS 24.229).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Verstat {
    /// The PASSporT verified.
    #[serde(rename = "TN-Validation-Passed")]
    Passed,
    /// The credential or the signature failed.
    #[serde(rename = "TN-Validation-Failed")]
    Failed,
    /// Verification was not possible (malformed, stale, unsupported).
    #[serde(rename = "No-TN-Validation")]
    NoValidation,
}

impl Verstat {
    /// The value as written in SIP.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "TN-Validation-Passed",
            Self::Failed => "TN-Validation-Failed",
            Self::NoValidation => "No-TN-Validation",
        }
    }
}

impl ShakenError {
    /// The verstat for this failure: TN-Validation-Failed when the credential (chain,
    /// revocation, profile, TNAuthList, key) or the signature was checked and failed
    /// (ATIS-1000082 E17, E18), No-TN-Validation otherwise.
    pub fn verstat(&self) -> Verstat {
        match self {
            Self::BadSignature
            | Self::Chain(_)
            | Self::Revoked { .. }
            | Self::TnAuthList(_)
            | Self::Certificate(_)
            | Self::Key(_) => Verstat::Failed,
            _ => Verstat::NoValidation,
        }
    }
}

/// What the verifier knows about the call, and its policy.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The verifier's time, Unix seconds.
    pub now: i64,
    /// How far `iat` may be from `now`, seconds (60 recommended).
    pub freshness: i64,
    /// Require a CRL covering every certificate below the anchor.
    pub require_crl: bool,
    /// The call's calling number (From / P-Asserted-Identity), when known.
    pub orig: Option<Tn>,
    /// The call's called numbers (To / Request-URI; an ATIS-1000082 request may list
    /// several): the PASSporT's `dest.tn` must hold at least one of them. Empty: not compared.
    pub dest: Vec<Tn>,
}

impl VerifyOptions {
    /// Defaults at `now`: 60 s freshness, CRLs used when held, numbers not compared.
    pub fn at(now: i64) -> Self {
        Self { now, freshness: 60, require_crl: false, orig: None, dest: Vec::new() }
    }
}

/// A verified SHAKEN PASSporT.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The PASSporT.
    pub passport: Passport,
    /// Its attestation.
    pub attest: Attestation,
    /// The signer's SPC (from the certificate's TNAuthList).
    pub spc: String,
    /// The signing certificate's subject.
    pub signer: String,
    /// The trust anchor reached.
    pub anchor: String,
    /// Cosmetic SHAKEN profile findings on the chain (lenient lint): `rule: subject`.
    pub profile_warnings: Vec<String>,
}

/// Lints the validated path in lenient mode: a security rule's failure is a credential failure
/// (437); cosmetic findings come back as warnings.
pub fn lint_path<'a>(path: impl IntoIterator<Item = &'a Certificate>) -> Result<Vec<String>, ShakenError> {
    let mut warnings = Vec::new();
    for c in path {
        let report = c.lenient_lint()?;
        if let Some(f) = report.failures().next() {
            return Err(ShakenError::Chain(format!(
                "{} fails the SHAKEN profile rule {} ({}): {}{}",
                c.subject,
                f.rule,
                f.source,
                f.requirement,
                f.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
            )));
        }
        warnings.extend(report.warnings().map(|w| format!("{}: {}", w.rule, c.subject)));
    }
    Ok(warnings)
}

/// A signer whose certificate chain validated to the trust list: what verification needs of
/// the chain, kept so that a verifier that sees the same `x5u` again does not validate it again.
#[derive(Debug, Clone)]
pub struct TrustedSigner {
    /// The SPC of the end-entity certificate's TNAuthList.
    pub spc: String,
    /// The end-entity certificate's subject.
    pub signer: String,
    /// The trust anchor reached.
    pub anchor: String,
    /// Cosmetic profile findings on the path (lenient lint).
    pub profile_warnings: Vec<String>,
    /// PASSporTs with an `iat` in `[valid_from, valid_until]` may use this validation: every
    /// certificate on the path, the anchor included, is valid throughout.
    pub valid_from: i64,
    /// See `valid_from`.
    pub valid_until: i64,
    key: VerifyingKey,
}

impl TrustedSigner {
    /// Validates `chain` (leaf first) to `trust` at `at`, lints the path's security rules and
    /// reads the leaf's SPC and key: ATIS-1000074 steps 5 and 6, once per chain.
    pub fn validate(
        chain: &[Certificate],
        trust: &TrustStore,
        at: i64,
        require_crl: bool,
    ) -> Result<Self, ShakenError> {
        let validated = trust.validate(chain, at, require_crl)?;
        let profile_warnings = lint_path(&validated.certificates)?;
        let leaf = validated.leaf();
        let spc = leaf.spc()?.to_owned();
        let key = leaf.verifying_key()?;
        let all = validated.certificates.iter().chain(std::iter::once(&validated.anchor));
        let valid_from = all.clone().map(|c| c.not_before).max().unwrap_or(at);
        let valid_until = all.map(|c| c.not_after).min().unwrap_or(at);
        // CRLs held can change what a later validation says: a caller keeping this should
        // validate again from time to time.
        Ok(Self {
            spc,
            signer: leaf.subject.clone(),
            anchor: validated.anchor.subject.clone(),
            profile_warnings,
            valid_from,
            valid_until,
            key,
        })
    }

    /// Checks a raw `r || s` ES256 signature over `message` with the end-entity certificate's
    /// key (for other JWS the signer issues, such as CPS tokens).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), ShakenError> {
        self.key.verify(message, signature)
    }

    /// Whether this validation holds for a PASSporT issued at `iat`.
    pub fn covers(&self, iat: i64) -> bool {
        self.valid_from <= iat && iat <= self.valid_until
    }
}

/// The received Identity header and its PASSporT, decoded and checked up to (not including)
/// the credential: header syntax and `ppt` (E4, E5), decoding (E9, E11-E14, E19), `info` =
/// `x5u` (E10), SHAKEN claims, freshness (E15).
pub fn decode_identity(identity: &str, opts: &VerifyOptions) -> Result<(IdentityHeader, Passport), ShakenError> {
    decode_typed(identity, opts, IdentityHeader::require_shaken, Passport::require_shaken)
}

/// [`decode_identity`] for a diversion Identity header (RFC 8946, `ppt=div`): the same checks,
/// with the div claims ([`Passport::require_div`]) in place of the SHAKEN ones. Every
/// PASSporT of a diverted call must be fresh, the div ones included.
pub fn decode_div_identity(identity: &str, opts: &VerifyOptions) -> Result<(IdentityHeader, Passport), ShakenError> {
    decode_typed(identity, opts, IdentityHeader::require_div, Passport::require_div)
}

fn decode_typed(
    identity: &str,
    opts: &VerifyOptions,
    header_type: fn(&IdentityHeader) -> Result<(), ShakenError>,
    passport_type: fn(&Passport) -> Result<(), ShakenError>,
) -> Result<(IdentityHeader, Passport), ShakenError> {
    let header = IdentityHeader::parse(identity)?;
    header_type(&header)?;
    let passport = Passport::decode(&header.passport)?;
    if passport.header().x5u != header.info {
        return Err(ShakenError::InfoMismatch { info: header.info, x5u: passport.header().x5u.clone() });
    }
    passport_type(&passport)?;
    passport.check_freshness(opts.now, opts.freshness)?;
    Ok((header, passport))
}

/// The signature over the received bytes (E18), then the calling number (E16), for any
/// PASSporT of the call (SHAKEN or div).
fn signed_by_for_caller(passport: &Passport, signer: &TrustedSigner, opts: &VerifyOptions) -> Result<(), ShakenError> {
    passport.verify_signature(&signer.key)?;
    match (&opts.orig, &passport.claims().orig) {
        (Some(want), Origin::Tn(got)) if !want.same_number(got) => {
            Err(ShakenError::NumberMismatch { claim: "orig.tn", passport: got.to_string(), call: want.to_string() })
        }
        _ => Ok(()),
    }
}

/// The steps after the credential: signature over the received bytes (E18), then the calling
/// number and the called numbers (E16: one of the call's must be among the PASSporT's).
pub fn verify_with_signer(
    passport: Passport,
    signer: &TrustedSigner,
    opts: &VerifyOptions,
) -> Result<Verified, ShakenError> {
    signed_by_for_caller(&passport, signer, opts)?;
    let claims = passport.claims();
    if !opts.dest.is_empty() && !opts.dest.iter().any(|want| want.among(&claims.dest.tn)) {
        let list = |tns: &[Tn]| tns.iter().map(Tn::as_str).collect::<Vec<_>>().join(",");
        return Err(ShakenError::NumberMismatch {
            claim: "dest.tn",
            passport: list(&claims.dest.tn),
            call: list(&opts.dest),
        });
    }
    let attest = claims.attest.ok_or_else(|| ShakenError::Claim { claim: "attest", problem: "is missing".into() })?;
    Ok(Verified {
        attest,
        spc: signer.spc.clone(),
        signer: signer.signer.clone(),
        anchor: signer.anchor.clone(),
        profile_warnings: signer.profile_warnings.clone(),
        passport,
    })
}

/// A verified diversion (RFC 8946): the call was retargeted from `from` to `to` by the holder
/// of the certificate with SPC `spc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diversion {
    /// The target the call was diverted from (`div.tn`).
    pub from: Tn,
    /// The new targets (`dest.tn`).
    pub to: Vec<Tn>,
    /// The diverting signer's SPC.
    pub spc: String,
    /// The div PASSporT.
    pub passport: Passport,
}

/// The steps after the credential for a div PASSporT: its signature over the received bytes,
/// and its `orig` is the call's (`opts.orig`; a diversion does not change the caller).
pub fn verify_div_with_signer(
    passport: Passport,
    signer: &TrustedSigner,
    opts: &VerifyOptions,
) -> Result<Diversion, ShakenError> {
    signed_by_for_caller(&passport, signer, opts)?;
    let claims = passport.claims();
    let Some(Origin::Tn(from)) = claims.div.clone() else {
        return Err(ShakenError::Claim { claim: "div.tn", problem: "is missing".into() });
    };
    Ok(Diversion { from, to: claims.dest.tn.clone(), spc: signer.spc.clone(), passport })
}

/// Most diversions a call is followed through (the French MAN profile allows five `div`
/// headers after the SHAKEN one).
pub const MAX_DIVERSIONS: usize = 5;

/// The verified diversions of a call, linked back from the targets the call now has (RFC 8946
/// section 4: each `div` names a `dest` of the PASSporT before it, the last `dest` is the
/// request's target).
#[derive(Debug, Clone, Default)]
pub struct DiversionChain {
    /// The targets the call has now (To, Request-URI).
    targets: Vec<Tn>,
    /// The diversions that lead to them, each reached from a target, at most
    /// [`MAX_DIVERSIONS`] steps back.
    hops: Vec<Diversion>,
}

impl DiversionChain {
    /// Links `diversions` back from `targets`: a diversion counts when its `dest` is a target,
    /// or the `div` of a diversion that counts, at most [`MAX_DIVERSIONS`] steps back. The
    /// others (another call's, or leading nowhere) are dropped.
    pub fn link(targets: &[Tn], diversions: Vec<Diversion>) -> Self {
        let mut reached: Vec<Tn> = targets.to_vec();
        let mut left = diversions;
        let mut hops = Vec::new();
        for _ in 0..MAX_DIVERSIONS {
            let (linked, rest): (Vec<_>, Vec<_>) =
                left.into_iter().partition(|d: &Diversion| d.to.iter().any(|t| t.among(&reached)));
            left = rest;
            if linked.is_empty() {
                break;
            }
            for d in linked {
                if !d.from.among(&reached) {
                    reached.push(d.from.clone());
                }
                hops.push(d);
            }
        }
        Self { targets: targets.to_vec(), hops }
    }

    /// The numbers an earlier PASSporT's `dest` may hold for this call: the targets and every
    /// number the call was diverted from on the way to them.
    pub fn acceptable_destinations(&self) -> Vec<Tn> {
        let mut out = self.targets.clone();
        out.extend(self.hops.iter().map(|d| d.from.clone()));
        out
    }

    /// The diversions that lead from `start` (a number of the SHAKEN PASSporT's `dest`) to
    /// `end` (a target of the call), in the order they happened: the shortest such path
    /// (breadth first, at most [`MAX_DIVERSIONS`] hops). Empty when `start` is `end` or does
    /// not lead there.
    pub fn path(&self, start: &Tn, end: &Tn) -> Vec<&Diversion> {
        // Each number reached, with the hop that reached it and the entry it came from.
        let mut reached: Vec<(Tn, Option<(usize, usize)>)> = vec![(start.clone(), None)];
        let mut frontier = 0;
        for _ in 0..MAX_DIVERSIONS {
            let level_end = reached.len();
            for at in frontier..level_end {
                if reached[at].0.same_number(end) {
                    break;
                }
                let here = reached[at].0.clone();
                for (i, d) in self.hops.iter().enumerate().filter(|(_, d)| d.from.same_number(&here)) {
                    for t in &d.to {
                        if !reached.iter().any(|(r, _)| r.same_number(t)) {
                            reached.push((t.clone(), Some((i, at))));
                        }
                    }
                }
            }
            frontier = level_end;
        }
        let Some(mut at) = reached.iter().position(|(r, _)| r.same_number(end)) else { return Vec::new() };
        let mut path = Vec::new();
        while let Some((hop, prev)) = reached[at].1 {
            path.push(&self.hops[hop]);
            at = prev;
        }
        path.reverse();
        path
    }
}

/// Where a call was last sent: the SHAKEN PASSporT's `dest`, followed forward through the
/// diversions made already (each one whose `div` is among the numbers reached so far and
/// whose `dest` is new), at most [`MAX_DIVERSIONS`] of them.
pub fn last_sent(dest: &[Tn], diversions: &[Diversion]) -> Vec<Tn> {
    let mut last = dest.to_vec();
    for _ in 0..MAX_DIVERSIONS {
        match diversions.iter().find(|d| d.from.among(&last) && !d.to.iter().any(|t| t.among(&last))) {
            Some(d) => last = d.to.clone(),
            None => break,
        }
    }
    last
}

/// Parses the Identity header value and verifies it against `chain` (the certificates at its
/// `info`/`x5u`, leaf first). Steps, each failing with its own reason: header syntax and
/// `ppt=shaken` (438/436), PASSporT decoding (438/437/436), `info` = `x5u` (436), SHAKEN claims
/// (438), freshness (403), chain to the trust list at `iat` with CRLs (437), the SHAKEN
/// profile's security rules on the path (lenient lint, 437), TNAuthList SPC (437), signature
/// over the received bytes (438), calling and called numbers (438).
pub fn verify_identity(
    identity: &str,
    chain: &[Certificate],
    trust: &TrustStore,
    opts: &VerifyOptions,
) -> Result<Verified, ShakenError> {
    let (_, passport) = decode_identity(identity, opts)?;
    let signer = TrustedSigner::validate(chain, trust, passport.claims().iat, opts.require_crl)?;
    verify_with_signer(passport, &signer, opts)
}
