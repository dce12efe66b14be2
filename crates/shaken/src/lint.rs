//! The SHAKEN certificate profile linter (ATIS-1000080 section 6.4.1, US SHAKEN CP).
//!
//! Each rule carries the name of the equivalent lint of the SHAKEN fork of ZLint
//! (`martinisecurity/zlint`, lint names as of commit a7f11f7), and in [`LintMode::Strict`] reports
//! exactly the status that lint reports: `NA` when the rule does not apply to the certificate's
//! kind (or to what the certificate contains), `NE` when the certificate's notBefore is earlier
//! than the rule's effective date, else pass or the rule's severity. Rules that vouch adds are
//! named `vouch_…`.
//!
//! [`LintMode::Lenient`] is for verifying calls: a cosmetic rule's error becomes a warning, a
//! security rule's error stays an error. See `docs/SHAKEN-LINT.md` for the table of rules.
//!
//! The certificate kind: end-entity = not a CA (no Basic Constraints with `cA` true); root = a CA
//! whose signature verifies under its own public key (when the signature algorithm is one
//! vouch cannot verify, a CA whose issuer and subject are byte-identical); intermediate = any
//! other CA.

use serde::Serialize;
use serde::ser::SerializeStruct;
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension, X509Extension};
use x509_parser::oid_registry::{
    OID_PKCS9_EMAIL_ADDRESS, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_X509_COMMON_NAME,
    OID_X509_COUNTRY_NAME, OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_BASIC_CONSTRAINTS,
    OID_X509_EXT_CERTIFICATE_POLICIES, OID_X509_EXT_CRL_DISTRIBUTION_POINTS, OID_X509_EXT_KEY_USAGE,
    OID_X509_EXT_SUBJECT_KEY_IDENTIFIER, OID_X509_LOCALITY_NAME, OID_X509_ORGANIZATION_NAME, OID_X509_SERIALNUMBER,
    OID_X509_STATE_OR_PROVINCE_NAME,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use crate::tnauth::TnAuthList;
use crate::{ShakenError, TN_AUTH_LIST_OID};

/// What kind of certificate a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertKind {
    /// A self-signed CA certificate (a trust anchor).
    Root,
    /// A CA certificate that is not self-signed.
    Intermediate,
    /// A certificate that is not a CA (an STI certificate of a service provider).
    EndEntity,
}

/// How strictly to judge a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LintMode {
    /// For registering or issuing certificates: every rule at its own severity, as ZLint reports it.
    #[default]
    Strict,
    /// For verifying calls: cosmetic errors are reported as warnings; security errors stay errors.
    Lenient,
}

/// The outcome of one rule on one certificate (ZLint's statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum LintStatus {
    /// The certificate meets the rule.
    #[serde(rename = "pass")]
    Pass,
    /// Informational finding.
    #[serde(rename = "notice")]
    Notice,
    /// A should-level finding, or a cosmetic error in lenient mode.
    #[serde(rename = "warn")]
    Warn,
    /// A shall-level violation.
    #[serde(rename = "error")]
    Error,
    /// The rule does not apply to this certificate.
    #[serde(rename = "NA")]
    NotApplicable,
    /// The rule was not yet in force when the certificate was issued (its notBefore).
    #[serde(rename = "NE")]
    NotEffective,
    /// The rule could not be evaluated (reserved; no current rule reports it).
    #[serde(rename = "fatal")]
    Fatal,
}

/// Which certificates a rule is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppliesTo {
    /// Every certificate.
    All,
    /// End-entity certificates.
    EndEntity,
    /// Root and intermediate certificates.
    Ca,
    /// Intermediate certificates.
    Intermediate,
    /// Root certificates.
    Root,
}

impl AppliesTo {
    fn covers(self, kind: CertKind) -> bool {
        match self {
            Self::All => true,
            Self::EndEntity => kind == CertKind::EndEntity,
            Self::Ca => kind != CertKind::EndEntity,
            Self::Intermediate => kind == CertKind::Intermediate,
            Self::Root => kind == CertKind::Root,
        }
    }
}

/// One rule of the profile.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RuleInfo {
    /// The rule's name (ZLint's lint name, or `vouch_…` for vouch's own rules).
    pub name: &'static str,
    /// Which certificates it is written for (it may further apply only when an extension is present).
    pub applies_to: AppliesTo,
    /// The requirement in plain words.
    pub requirement: &'static str,
    /// The document (and section) the requirement comes from.
    pub source: &'static str,
    /// The status reported in strict mode when the requirement is not met (error, warn or notice).
    pub severity: LintStatus,
    /// True for a security rule (an error stays an error in lenient mode); false for a cosmetic one.
    pub security: bool,
    /// The first notBefore (UTC date, `YYYY-MM-DD`) the rule is enforced for.
    pub effective: &'static str,
    #[serde(skip)]
    effective_at: i64,
    #[serde(skip)]
    check: fn(&Ctx<'_, '_>) -> Outcome,
}

impl RuleInfo {
    /// The status reported when the rule is violated in `mode`.
    pub fn severity_in(&self, mode: LintMode) -> LintStatus {
        match (mode, self.severity) {
            (LintMode::Lenient, LintStatus::Error) if !self.security => LintStatus::Warn,
            (_, s) => s,
        }
    }
}

/// The result of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintResult {
    /// The rule's name.
    pub rule: &'static str,
    /// The outcome.
    pub status: LintStatus,
    /// The document the requirement comes from.
    pub source: &'static str,
    /// The requirement in plain words.
    pub requirement: &'static str,
    /// Why the rule failed (or did not apply), when there is something to say.
    pub detail: Option<String>,
}

/// The results of all rules on one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintReport {
    /// The certificate's kind.
    pub kind: CertKind,
    /// The certificate's subject, as text.
    pub subject: String,
    /// One result per rule, in the order of [`rules`].
    pub results: Vec<LintResult>,
}

impl LintReport {
    /// True when no rule reported an error or a fatal status.
    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The results with status error or fatal.
    pub fn failures(&self) -> impl Iterator<Item = &LintResult> {
        self.results.iter().filter(|r| matches!(r.status, LintStatus::Error | LintStatus::Fatal))
    }

    /// The results with status warn or notice.
    pub fn warnings(&self) -> impl Iterator<Item = &LintResult> {
        self.results.iter().filter(|r| matches!(r.status, LintStatus::Warn | LintStatus::Notice))
    }

    /// The result of the named rule.
    pub fn get(&self, rule: &str) -> Option<&LintResult> {
        self.results.iter().find(|r| r.rule == rule)
    }
}

impl Serialize for LintReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("LintReport", 4)?;
        s.serialize_field("kind", &self.kind)?;
        s.serialize_field("subject", &self.subject)?;
        s.serialize_field("passed", &self.passed())?;
        s.serialize_field("results", &self.results)?;
        s.end()
    }
}

/// Lints one DER certificate. Fails only when the bytes are not an X.509 certificate.
pub fn lint_der(der: &[u8], mode: LintMode) -> Result<LintReport, ShakenError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| ShakenError::Certificate(format!("not an X.509 certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(ShakenError::Certificate(format!("{} bytes after the certificate", rest.len())));
    }
    Ok(lint_parsed(&cert, mode))
}

/// Lints every `CERTIFICATE` block of a PEM text, in order. Fails when there is none, or when a
/// block is not valid PEM or not a certificate.
pub fn lint_pem(pem: &[u8], mode: LintMode) -> Result<Vec<LintReport>, ShakenError> {
    crate::cert::pem_certificates(pem)?.iter().map(|der| lint_der(der, mode)).collect()
}

/// Every rule, in report order.
pub fn rules() -> &'static [RuleInfo] {
    RULES
}

/// The kind of a parsed certificate (see the module documentation).
pub fn cert_kind(cert: &X509Certificate<'_>) -> CertKind {
    let is_ca = matches!(
        first_ext(cert, &OID_X509_EXT_BASIC_CONSTRAINTS).map(|e| e.parsed_extension()),
        Some(ParsedExtension::BasicConstraints(bc)) if bc.ca
    );
    if !is_ca {
        return CertKind::EndEntity;
    }
    let self_signed = match cert.verify_signature(None) {
        Ok(()) => true,
        Err(X509Error::SignatureUnsupportedAlgorithm) => cert.issuer().as_raw() == cert.subject().as_raw(),
        Err(_) => false,
    };
    if self_signed { CertKind::Root } else { CertKind::Intermediate }
}

fn lint_parsed(cert: &X509Certificate<'_>, mode: LintMode) -> LintReport {
    let kind = cert_kind(cert);
    let ctx = Ctx { cert, kind };
    let not_before = cert.validity().not_before.timestamp();
    let results = RULES
        .iter()
        .map(|rule| {
            let (status, detail) = if !rule.applies_to.covers(kind) {
                (LintStatus::NotApplicable, None)
            } else {
                match (rule.check)(&ctx) {
                    Outcome::NotApplicable(why) => (LintStatus::NotApplicable, why.map(str::to_owned)),
                    _ if not_before < rule.effective_at => (
                        LintStatus::NotEffective,
                        Some(format!("notBefore is earlier than the rule's effective date {}", rule.effective)),
                    ),
                    Outcome::Pass => (LintStatus::Pass, None),
                    Outcome::Fail(why) => (rule.severity_in(mode), Some(why)),
                }
            };
            LintResult { rule: rule.name, status, source: rule.source, requirement: rule.requirement, detail }
        })
        .collect();
    LintReport { kind, subject: cert.subject().to_string(), results }
}

// ---------------------------------------------------------------------------------------------
// Rule machinery

struct Ctx<'c, 'a> {
    cert: &'c X509Certificate<'a>,
    kind: CertKind,
}

enum Outcome {
    Pass,
    Fail(String),
    NotApplicable(Option<&'static str>),
}

fn fail(s: impl Into<String>) -> Outcome {
    Outcome::Fail(s.into())
}

fn pass_if(ok: bool, why: impl FnOnce() -> String) -> Outcome {
    if ok { Outcome::Pass } else { Outcome::Fail(why()) }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const fn at(y: i64, m: i64, d: i64) -> i64 {
    days_from_civil(y, m, d) * 86_400
}

// Effective dates (ZLint's util/time.go): a document's date, and for end-entity rules that date
// plus the CA conformance period (90 days after an ATIS version, 145 after CP v1.3).
const ATIS_V003: (&str, i64) = ("2020-09-04", at(2020, 9, 4));
const ATIS_V003_LEAF: (&str, i64) = ("2020-12-03", at(2020, 12, 3));
const ATIS_V004: (&str, i64) = ("2021-10-18", at(2021, 10, 18));
const ATIS_V004_LEAF: (&str, i64) = ("2022-01-16", at(2022, 1, 16));
const ATIS_V005: (&str, i64) = ("2022-12-12", at(2022, 12, 12));
const ATIS_V005_LEAF: (&str, i64) = ("2023-03-12", at(2023, 3, 12));
const CP_V1_1: (&str, i64) = ("2020-04-07", at(2020, 4, 7));
const CP_V1_1_LEAF: (&str, i64) = ("2020-07-06", at(2020, 7, 6));
const CP_V1_4: (&str, i64) = ("2023-06-06", at(2023, 6, 6));
const RFC_5280: (&str, i64) = ("2008-05-01", at(2008, 5, 1));
/// Certificates issued after this instant must assert the CP v1.3 policy OID (CP v1.3 + 145 days).
const CP_V1_3_LEAF_AT: i64 = at(2022, 1, 10);

const SRC_V003: &str = "ATIS-1000080 v003 (6.4.1)";
const SRC_V004: &str = "ATIS-1000080 v004 (6.4.1)";
const SRC_V005: &str = "ATIS-1000080 v005 (6.4.1)";
const SRC_EXT_UNKNOWN: &str = "ATIS-1000080, version not stated (the Go file's citation is a placeholder; its effective date is v004's plus 90 days)";
const SRC_BEST_PRACTICE: &str = "SHAKEN PKI best practice (zlint's own source, no ATIS or CP version)";
const SRC_CP_1_1_3_1: &str = "US SHAKEN CP v1.1 (3.1)";

const SHAKEN_CP_V1_1: &str = "2.16.840.1.114569.1.1.1";
const SHAKEN_CP_V1_2: &str = "2.16.840.1.114569.1.1.2";
const SHAKEN_CP_V1_3: &str = "2.16.840.1.114569.1.1.3";
const SHAKEN_CP_V1_4: &str = "2.16.840.1.114569.1.1.4";
/// The policy OIDs a certificate issued after 10 Jan 2022 may assert: CP v1.3's, and CP v1.4's
/// (CP v1.4 section 1.2 assigns it; ZLint's `e_shaken_certificate_policies_id` accepts both).
const CURRENT_CP_OIDS: [&str; 2] = [SHAKEN_CP_V1_3, SHAKEN_CP_V1_4];

#[allow(clippy::too_many_arguments)]
const fn rule(
    name: &'static str,
    applies_to: AppliesTo,
    severity: LintStatus,
    security: bool,
    source: &'static str,
    effective: (&'static str, i64),
    requirement: &'static str,
    check: fn(&Ctx<'_, '_>) -> Outcome,
) -> RuleInfo {
    RuleInfo {
        name,
        applies_to,
        requirement,
        source,
        severity,
        security,
        effective: effective.0,
        effective_at: effective.1,
        check,
    }
}

use AppliesTo::{All, Ca, EndEntity, Intermediate, Root};
use LintStatus::{Error, Notice, Warn};

const SECURITY: bool = true;
const COSMETIC: bool = false;

static RULES: &[RuleInfo] = &[
    // --- every certificate
    rule(
        "e_atis_basic_constraints",
        All,
        Error,
        SECURITY,
        SRC_V003,
        ATIS_V003,
        "A Basic Constraints extension must be present, marked critical, and decodable.",
        basic_constraints,
    ),
    rule(
        "e_cp_1_1_key_size",
        All,
        Error,
        SECURITY,
        "US SHAKEN CP v1.1 (6.1.5)",
        CP_V1_1,
        "Certificates asserting the CP v1.1, v1.2 or v1.3 policy OID must be signed with ecdsa-with-SHA256.",
        |c| {
            let p = policy_oids(c.cert);
            if !p.iter().any(|o| [SHAKEN_CP_V1_1, SHAKEN_CP_V1_2, SHAKEN_CP_V1_3].contains(&o.as_str())) {
                return Outcome::NotApplicable(Some("no CP v1.1, v1.2 or v1.3 policy OID"));
            }
            sig_alg_is(c, &[&OID_SIG_ECDSA_WITH_SHA256])
        },
    ),
    rule(
        "e_cp_1_4_key_size",
        All,
        Error,
        SECURITY,
        "US SHAKEN CP v1.4 (6.1.5)",
        CP_V1_4,
        "Certificates asserting the CP v1.4 policy OID must be signed with ecdsa-with-SHA256 or ecdsa-with-SHA384.",
        |c| {
            if !policy_oids(c.cert).iter().any(|o| o == SHAKEN_CP_V1_4) {
                return Outcome::NotApplicable(Some("no CP v1.4 policy OID"));
            }
            sig_alg_is(c, &[&OID_SIG_ECDSA_WITH_SHA256, &OID_SIG_ECDSA_WITH_SHA384])
        },
    ),
    rule(
        "vouch_duplicate_extension",
        All,
        Error,
        SECURITY,
        "RFC 5280 (4.2)",
        RFC_5280,
        "No extension may appear more than once (two differing copies make the certificate ambiguous).",
        |c| {
            let exts = c.cert.extensions();
            for (i, e) in exts.iter().enumerate() {
                if exts[..i].iter().any(|p| p.oid == e.oid) {
                    return fail(format!("extension {} appears more than once", e.oid));
                }
            }
            Outcome::Pass
        },
    ),
    rule(
        "vouch_serial_positive",
        All,
        Error,
        SECURITY,
        "RFC 5280 (4.1.2.2)",
        RFC_5280,
        "The serial number must be a positive integer.",
        |c| pass_if(serial_sign(c.cert) == Some(true), || "the serial number is zero or negative".into()),
    ),
    // --- end-entity
    rule(
        "e_atis_authority_key_identifier",
        EndEntity,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003_LEAF,
        "An Authority Key Identifier extension must be present.",
        |c| has(c, &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, "Authority Key Identifier"),
    ),
    rule(
        "e_atis_certificate_policies",
        EndEntity,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003_LEAF,
        "Certificate Policies must list exactly one policy OID; for certificates issued after 10 Jan 2022 that OID must be 2.16.840.1.114569.1.1.3 (CP v1.3) or 2.16.840.1.114569.1.1.4 (CP v1.4).",
        single_policy,
    ),
    rule(
        "n_atis_certificate_policy_critical",
        EndEntity,
        Notice,
        COSMETIC,
        SRC_V003,
        ATIS_V003_LEAF,
        "The Certificate Policies extension should not be marked critical.",
        policy_not_critical,
    ),
    rule(
        "e_atis_crl_distribution",
        EndEntity,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003_LEAF,
        "A CRL Distribution Points extension must be present and yield exactly one CRL URI, which must begin with http.",
        crl_distribution,
    ),
    rule(
        "e_atis_crl_distribution_not_reachable",
        EndEntity,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003_LEAF,
        "The CRL URL should be reachable. Not checked (the linter does no I/O; ZLint does not implement it either): always NA.",
        |_| Outcome::NotApplicable(Some("reachability is not checked (no I/O)")),
    ),
    rule(
        "e_atis_extension_unknown",
        EndEntity,
        Error,
        COSMETIC,
        SRC_EXT_UNKNOWN,
        ATIS_V004_LEAF,
        "Only these extensions are allowed: subject key identifier, authority key identifier, basic constraints, key usage, TNAuthList, CRL distribution points, certificate policies.",
        |c| only_extensions(c, EE_EXTENSIONS),
    ),
    rule(
        "e_atis_issuer_dn",
        EndEntity,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003_LEAF,
        "The issuer name must include CN, C and O attributes.",
        |c| name_has_cn_c_o(c.cert.issuer(), "issuer"),
    ),
    rule(
        "e_atis_key_usage",
        EndEntity,
        Error,
        SECURITY,
        SRC_V003,
        ATIS_V003_LEAF,
        "Key Usage must be present and critical and must be exactly digitalSignature.",
        |c| key_usage(c, KU_DIGITAL_SIGNATURE, 0),
    ),
    rule(
        "e_atis_serial_number",
        EndEntity,
        Error,
        COSMETIC,
        SRC_V004,
        ATIS_V004_LEAF,
        "The serial number must be positive and at least 0x0100000000000000 (64 bits of CSPRNG output).",
        serial_number,
    ),
    rule(
        "e_atis_signature_algorithm",
        EndEntity,
        Error,
        SECURITY,
        SRC_V004,
        ATIS_V004_LEAF,
        "The signature algorithm must be ecdsa-with-SHA256 (or ecdsa-with-SHA384 when the certificate asserts the CP v1.4 policy, US SHAKEN CP v1.4 6.1.5).",
        sig_alg_sha256_or_cp14,
    ),
    rule(
        "e_atis_subject",
        EndEntity,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003_LEAF,
        "The subject name must include CN, C and O attributes.",
        |c| name_has_cn_c_o(c.cert.subject(), "subject"),
    ),
    rule(
        "e_atis_subject_cn",
        EndEntity,
        Error,
        COSMETIC,
        SRC_V004,
        ATIS_V004_LEAF,
        "The subject common name must contain 'SHAKEN ' followed by the SPC of the TNAuthList; a missing or malformed TNAuthList is an error.",
        |c| match tn_spc(c.cert) {
            Err(e) => fail(format!("cannot get the SPC from the TNAuthList: {e}")),
            Ok(spc) => {
                let want = format!("SHAKEN {spc}");
                let cn = common_name(c.cert.subject()).unwrap_or_default();
                pass_if(cn.contains(&want), || format!("common name {cn:?} does not contain {want:?}"))
            }
        },
    ),
    rule(
        "e_atis_subject_key_identifier",
        EndEntity,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003_LEAF,
        "A Subject Key Identifier extension must be present.",
        |c| has(c, &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER, "Subject Key Identifier"),
    ),
    rule(
        "e_atis_subject_public_key",
        EndEntity,
        Error,
        SECURITY,
        SRC_V003,
        ATIS_V003_LEAF,
        "The public key must be an EC key (id-ecPublicKey) on curve P-256.",
        public_key_p256,
    ),
    rule(
        "e_atis_tn_auth_list",
        EndEntity,
        Error,
        SECURITY,
        SRC_V003,
        ATIS_V003_LEAF,
        "A TNAuthList extension must be present and decodable and hold exactly one SPC entry with a non-empty value, and no telephone number or range (ATIS-1000080 v005 6.4.1; ZLint counts only the SPC entries).",
        |c| match tn_spc(c.cert) {
            Err(e) => fail(e),
            Ok(_) => {
                let others = tn_non_spc_entries(c.cert);
                pass_if(others == 0, || {
                    format!("the TNAuthList holds {others} telephone number or range entries besides the SPC")
                })
            }
        },
    ),
    rule(
        "e_atis_version",
        EndEntity,
        Error,
        SECURITY,
        SRC_V003,
        ATIS_V003_LEAF,
        "The certificate must be X.509 version 3.",
        version3,
    ),
    rule(
        "e_us_cp_ambiguous_identifier",
        EndEntity,
        Error,
        COSMETIC,
        "US SHAKEN CP v1.1 (3.1)",
        CP_V1_1_LEAF,
        "The subject common name must be exactly 'SHAKEN ' followed by the SPC of the TNAuthList (an unambiguous name); a missing or malformed TNAuthList is an error.",
        |c| match tn_spc(c.cert) {
            Err(e) => fail(e),
            Ok(spc) => {
                let want = format!("SHAKEN {spc}");
                let cn = common_name(c.cert.subject()).unwrap_or_default();
                pass_if(cn == want, || format!("common name {cn:?} is not {want:?}"))
            }
        },
    ),
    rule(
        "e_us_cp_subject_sn",
        EndEntity,
        Error,
        COSMETIC,
        SRC_CP_1_1_3_1,
        CP_V1_1_LEAF,
        "The subject must contain exactly one serialNumber attribute.",
        |c| {
            let n = c.cert.subject().iter_by_oid(&OID_X509_SERIALNUMBER).count();
            pass_if(n == 1, || format!("the subject has {n} serialNumber attributes"))
        },
    ),
    rule(
        "w_cp_1_3_subject_email",
        EndEntity,
        Warn,
        COSMETIC,
        "US SHAKEN CP v1.1 (3.2)",
        CP_V1_1_LEAF,
        "The subject should not contain an emailAddress attribute (unverifiable information).",
        |c| {
            let n = c.cert.subject().iter_by_oid(&OID_PKCS9_EMAIL_ADDRESS).count();
            pass_if(n == 0, || "the subject contains an emailAddress attribute".into())
        },
    ),
    rule(
        "w_shaken_subject_rdn_unknown",
        EndEntity,
        Warn,
        COSMETIC,
        SRC_BEST_PRACTICE,
        CP_V1_1_LEAF,
        "The subject should hold only CN, C, O, L, ST and serialNumber attributes.",
        |c| subject_rdns(c, true),
    ),
    rule(
        "vouch_spc_format",
        EndEntity,
        Error,
        COSMETIC,
        SRC_V005,
        ATIS_V005_LEAF,
        "The SPC in the TNAuthList must be four digits or upper-case letters (^[0-9A-Z]{4}$).",
        |c| match tn_spc(c.cert) {
            Err(_) => Outcome::NotApplicable(Some("no single SPC (see e_atis_tn_auth_list)")),
            Ok(spc) => {
                pass_if(spc.len() == 4 && spc.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()), || {
                    format!("SPC {spc:?} is not four digits or upper-case letters")
                })
            }
        },
    ),
    // --- root and intermediate
    rule(
        "e_atis_ca_issuer_dn",
        Ca,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003,
        "The issuer name must include CN, C and O attributes.",
        |c| name_has_cn_c_o(c.cert.issuer(), "issuer"),
    ),
    rule(
        "e_atis_ca_key_usage",
        Ca,
        Error,
        SECURITY,
        SRC_V003,
        ATIS_V003,
        "Key Usage must be present and critical, must include keyCertSign and may add only digitalSignature and/or cRLSign.",
        |c| key_usage(c, KU_KEY_CERT_SIGN, KU_DIGITAL_SIGNATURE | KU_CRL_SIGN),
    ),
    rule(
        "e_atis_ca_serial_number",
        Ca,
        Error,
        COSMETIC,
        SRC_V004,
        ATIS_V004,
        "The serial number must be positive and at least 0x0100000000000000 (64 bits of CSPRNG output).",
        serial_number,
    ),
    rule(
        "e_atis_ca_signature_algorithm",
        Ca,
        Error,
        SECURITY,
        SRC_V003,
        ATIS_V003,
        "The signature algorithm must be ecdsa-with-SHA256 (or ecdsa-with-SHA384 for a root, or for a CA asserting the CP v1.4 policy, US SHAKEN CP v1.4 6.1.5).",
        sig_alg_sha256_or_cp14,
    ),
    rule(
        "e_atis_ca_subject",
        Ca,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003,
        "The subject name must include CN, C and O attributes.",
        |c| name_has_cn_c_o(c.cert.subject(), "subject"),
    ),
    rule(
        "e_atis_ca_subject_cn",
        Ca,
        Error,
        COSMETIC,
        SRC_V004,
        ATIS_V004,
        "The subject common name must contain the text SHAKEN.",
        |c| {
            let cn = common_name(c.cert.subject()).unwrap_or_default();
            pass_if(cn.contains("SHAKEN"), || format!("common name {cn:?} does not contain SHAKEN"))
        },
    ),
    rule(
        "e_atis_ca_subject_key_identifier",
        Ca,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003,
        "A Subject Key Identifier extension must be present.",
        |c| has(c, &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER, "Subject Key Identifier"),
    ),
    rule(
        "e_atis_ca_subject_public_key",
        Ca,
        Error,
        SECURITY,
        SRC_V003,
        ATIS_V003,
        "The public key must be an EC key (id-ecPublicKey) on curve P-256 (or P-384 when the CA asserts the CP v1.4 policy, US SHAKEN CP v1.4 6.1.5).",
        ca_public_key,
    ),
    rule(
        "e_atis_ca_version",
        Ca,
        Error,
        SECURITY,
        SRC_V003,
        ATIS_V003,
        "The certificate must be X.509 version 3.",
        version3,
    ),
    rule(
        "e_us_cp_ca_key_usage_crl_sign",
        Ca,
        Error,
        COSMETIC,
        "US SHAKEN CP v1.1 (4.9)",
        CP_V1_1,
        "Key Usage must not include cRLSign (CRLs are issued by the STI-PA).",
        |c| match key_usage_flags(c.cert) {
            Some((flags, _)) if flags & KU_CRL_SIGN != 0 => fail("Key Usage includes cRLSign"),
            _ => Outcome::Pass,
        },
    ),
    rule(
        "w_shaken_ca_subject_rdn_unknown",
        Ca,
        Warn,
        COSMETIC,
        SRC_BEST_PRACTICE,
        CP_V1_1,
        "The subject should hold only CN, C, O, L and ST attributes.",
        |c| subject_rdns(c, false),
    ),
    rule(
        "vouch_ca_tn_auth_list",
        Ca,
        Error,
        COSMETIC,
        SRC_V005,
        ATIS_V005,
        "A CA certificate must not carry a TNAuthList extension.",
        |c| pass_if(find_ext(c.cert, TN_AUTH_LIST_OID).is_none(), || "a CA certificate carries a TNAuthList".into()),
    ),
    // --- intermediate
    rule(
        "e_atis_ca_authority_key_identifier",
        Intermediate,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003,
        "An Authority Key Identifier extension must be present.",
        |c| has(c, &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, "Authority Key Identifier"),
    ),
    rule(
        "e_atis_ca_certificate_policies",
        Intermediate,
        Error,
        COSMETIC,
        SRC_V004,
        ATIS_V004,
        "Certificate Policies must list exactly one policy OID; for certificates issued after 10 Jan 2022 that OID must be 2.16.840.1.114569.1.1.3 (CP v1.3) or 2.16.840.1.114569.1.1.4 (CP v1.4).",
        single_policy,
    ),
    rule(
        "n_atis_ca_certificate_policy_critical",
        Intermediate,
        Notice,
        COSMETIC,
        SRC_V004,
        ATIS_V004,
        "The Certificate Policies extension should not be marked critical.",
        policy_not_critical,
    ),
    rule(
        "e_atis_ca_crl_distribution",
        Intermediate,
        Error,
        COSMETIC,
        SRC_V004,
        ATIS_V004,
        "A CRL Distribution Points extension must be present and yield exactly one CRL URI, which must begin with http.",
        crl_distribution,
    ),
    rule(
        "e_atis_ca_crl_distribution_not_reachable",
        Intermediate,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003,
        "The CRL URL should be reachable. Not checked (the linter does no I/O; ZLint does not implement it either): always NA.",
        |_| Outcome::NotApplicable(Some("reachability is not checked (no I/O)")),
    ),
    rule(
        "e_atis_ca_extension_unknown",
        Intermediate,
        Error,
        COSMETIC,
        SRC_V004,
        ATIS_V004,
        "Only these extensions are allowed: subject key identifier, authority key identifier, basic constraints, key usage, CRL distribution points, certificate policies.",
        |c| only_extensions(c, INTERMEDIATE_EXTENSIONS),
    ),
    // --- root
    rule(
        "e_atis_root_authority_key_identifier",
        Root,
        Error,
        COSMETIC,
        SRC_V003,
        ATIS_V003,
        "When an Authority Key Identifier is present, a Subject Key Identifier must be present and equal its key identifier.",
        root_aki,
    ),
    rule(
        "e_atis_root_certificate_policies",
        Root,
        Error,
        COSMETIC,
        SRC_V004,
        ATIS_V004,
        "A Certificate Policies extension must not be present.",
        |c| {
            pass_if(first_ext(c.cert, &OID_X509_EXT_CERTIFICATE_POLICIES).is_none(), || {
                "a root certificate carries Certificate Policies".into()
            })
        },
    ),
    rule(
        "e_atis_root_extension_unknown",
        Root,
        Error,
        COSMETIC,
        SRC_V004,
        ATIS_V004,
        "Only these extensions are allowed: subject key identifier, authority key identifier, basic constraints, key usage.",
        |c| only_extensions(c, ROOT_EXTENSIONS),
    ),
    // --- vouch's own, more than one kind
    rule(
        "vouch_ski_sha1",
        All,
        Error,
        COSMETIC,
        SRC_V005,
        ATIS_V005,
        "When present, the Subject Key Identifier must be the 160-bit SHA-1 hash of the subject public key bits (RFC 5280 4.2.1.2 method 1).",
        ski_sha1,
    ),
    rule(
        "vouch_crl_issuer",
        All,
        Error,
        COSMETIC,
        SRC_V005,
        ATIS_V005,
        "When a CRL Distribution Points extension is present (end-entity and intermediate), its one distribution point must name its cRLIssuer (the STI-PA CRL issuer).",
        |c| {
            if c.kind == CertKind::Root {
                return Outcome::NotApplicable(Some("root certificates carry no CRL distribution point"));
            }
            match first_ext(c.cert, &OID_X509_EXT_CRL_DISTRIBUTION_POINTS).map(|e| e.parsed_extension()) {
                None => Outcome::NotApplicable(Some("no CRL Distribution Points extension")),
                Some(ParsedExtension::CRLDistributionPoints(dps)) => match dps.points.as_slice() {
                    [dp] if dp.crl_issuer.as_ref().is_some_and(|v| !v.is_empty()) => Outcome::Pass,
                    [_] => fail("the distribution point has no cRLIssuer"),
                    many => fail(format!("{} distribution points; one is expected", many.len())),
                },
                Some(_) => fail("the CRL Distribution Points extension does not decode"),
            }
        },
    ),
];

// ---------------------------------------------------------------------------------------------
// Helpers

const KU_DIGITAL_SIGNATURE: u16 = 1;
const KU_KEY_CERT_SIGN: u16 = 1 << 5;
const KU_CRL_SIGN: u16 = 1 << 6;

const OID_SKI: &str = "2.5.29.14";
const OID_AKI: &str = "2.5.29.35";
const OID_BC: &str = "2.5.29.19";
const OID_KU: &str = "2.5.29.15";
const OID_CRLDP: &str = "2.5.29.31";
const OID_CP: &str = "2.5.29.32";
const EE_EXTENSIONS: &[&str] = &[OID_SKI, OID_AKI, OID_BC, OID_KU, TN_AUTH_LIST_OID, OID_CRLDP, OID_CP];
const INTERMEDIATE_EXTENSIONS: &[&str] = &[OID_SKI, OID_AKI, OID_BC, OID_KU, OID_CRLDP, OID_CP];
const ROOT_EXTENSIONS: &[&str] = &[OID_SKI, OID_AKI, OID_BC, OID_KU];

fn first_ext<'c, 'a>(
    cert: &'c X509Certificate<'a>,
    oid: &x509_parser::der_parser::oid::Oid<'_>,
) -> Option<&'c X509Extension<'a>> {
    cert.extensions().iter().find(|e| e.oid == *oid)
}

fn find_ext<'c, 'a>(cert: &'c X509Certificate<'a>, oid: &str) -> Option<&'c X509Extension<'a>> {
    cert.extensions().iter().find(|e| e.oid.to_id_string() == oid)
}

fn has(c: &Ctx<'_, '_>, oid: &x509_parser::der_parser::oid::Oid<'_>, what: &str) -> Outcome {
    pass_if(first_ext(c.cert, oid).is_some(), || format!("no {what} extension"))
}

fn basic_constraints(c: &Ctx<'_, '_>) -> Outcome {
    match first_ext(c.cert, &OID_X509_EXT_BASIC_CONSTRAINTS) {
        None => fail("no Basic Constraints extension"),
        Some(e) => match e.parsed_extension() {
            ParsedExtension::BasicConstraints(_) if e.critical => Outcome::Pass,
            ParsedExtension::BasicConstraints(_) => fail("Basic Constraints is not marked critical"),
            _ => fail("Basic Constraints does not decode"),
        },
    }
}

fn sig_alg_is(c: &Ctx<'_, '_>, allowed: &[&x509_parser::der_parser::oid::Oid<'_>]) -> Outcome {
    let alg = &c.cert.signature_algorithm.algorithm;
    pass_if(allowed.contains(&alg), || format!("signature algorithm {alg} is not allowed"))
}

/// Whether the certificate asserts the CP v1.4 policy OID.
fn asserts_cp14(cert: &X509Certificate<'_>) -> bool {
    policy_oids(cert).iter().any(|o| o == SHAKEN_CP_V1_4)
}

/// ecdsa-with-SHA256; ecdsa-with-SHA384 too for a root or a certificate asserting the CP v1.4
/// policy (CP v1.4 6.1.5 allows it; ZLint's current `e_atis_signature_algorithm` agrees).
fn sig_alg_sha256_or_cp14(c: &Ctx<'_, '_>) -> Outcome {
    if c.cert.signature_algorithm.algorithm == OID_SIG_ECDSA_WITH_SHA384
        && (c.kind == CertKind::Root || asserts_cp14(c.cert))
    {
        return Outcome::Pass;
    }
    sig_alg_is(c, &[&OID_SIG_ECDSA_WITH_SHA256])
}

/// P-256; P-384 too for a CA asserting the CP v1.4 policy (CP v1.4 6.1.5; ZLint's current
/// `e_atis_subject_public_key_ca` agrees).
fn ca_public_key(c: &Ctx<'_, '_>) -> Outcome {
    let spki = c.cert.public_key();
    let p384 = spki.algorithm.algorithm == x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
        && spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|curve| curve == x509_parser::oid_registry::OID_NIST_EC_P384);
    if p384 && asserts_cp14(c.cert) {
        return Outcome::Pass;
    }
    public_key_p256(c)
}

fn public_key_p256(c: &Ctx<'_, '_>) -> Outcome {
    match crate::cert::p256_point(c.cert.public_key()) {
        Ok(_) => Outcome::Pass,
        Err(why) => fail(why),
    }
}

fn version3(c: &Ctx<'_, '_>) -> Outcome {
    let v = c.cert.version().0;
    pass_if(v == 2, || format!("X.509 version {} (the version field is {v}), not 3", v.saturating_add(1)))
}

/// Some(true) when the serial is positive, Some(false) when zero or negative, None when empty.
fn serial_sign(cert: &X509Certificate<'_>) -> Option<bool> {
    let raw = cert.raw_serial();
    let first = *raw.first()?;
    Some(first & 0x80 == 0 && raw.iter().any(|b| *b != 0))
}

fn serial_number(c: &Ctx<'_, '_>) -> Outcome {
    if serial_sign(c.cert) != Some(true) {
        return fail("the serial number is not positive");
    }
    // Positive: the minimal magnitude (without leading zero bytes) must be at least 8 bytes, i.e. >= 2^56.
    let raw = c.cert.raw_serial();
    let magnitude = raw.iter().position(|b| *b != 0).map_or(0, |i| raw.len() - i);
    pass_if(magnitude >= 8, || format!("the serial number has {magnitude} significant bytes; at least 8 are required"))
}

fn attr_text(attr: &x509_parser::x509::AttributeTypeAndValue<'_>) -> String {
    match attr.as_str() {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(attr.as_slice()).into_owned(),
    }
}

/// The subject common name as Go's pkix.Name reads it (the last CN attribute).
fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name().last().map(attr_text)
}

fn name_has_cn_c_o(name: &X509Name<'_>, which: &str) -> Outcome {
    let present = |oid: &x509_parser::der_parser::oid::Oid<'_>| name.iter_by_oid(oid).any(|a| !a.as_slice().is_empty());
    let mut missing = Vec::new();
    if !present(&OID_X509_COMMON_NAME) {
        missing.push("CN");
    }
    if !present(&OID_X509_COUNTRY_NAME) {
        missing.push("C");
    }
    if !present(&OID_X509_ORGANIZATION_NAME) {
        missing.push("O");
    }
    pass_if(missing.is_empty(), || format!("the {which} name lacks {}", missing.join(", ")))
}

fn subject_rdns(c: &Ctx<'_, '_>, allow_serial: bool) -> Outcome {
    for attr in c.cert.subject().iter_attributes() {
        let t = attr.attr_type();
        let ok = *t == OID_X509_COMMON_NAME
            || *t == OID_X509_COUNTRY_NAME
            || *t == OID_X509_ORGANIZATION_NAME
            || *t == OID_X509_LOCALITY_NAME
            || *t == OID_X509_STATE_OR_PROVINCE_NAME
            || (allow_serial && *t == OID_X509_SERIALNUMBER);
        if !ok {
            return fail(format!("the subject holds attribute {t}, which is not expected"));
        }
    }
    Outcome::Pass
}

fn policy_oids(cert: &X509Certificate<'_>) -> Vec<String> {
    match first_ext(cert, &OID_X509_EXT_CERTIFICATE_POLICIES).map(|e| e.parsed_extension()) {
        Some(ParsedExtension::CertificatePolicies(ps)) => ps.iter().map(|p| p.policy_id.to_id_string()).collect(),
        _ => Vec::new(),
    }
}

fn single_policy(c: &Ctx<'_, '_>) -> Outcome {
    let oids = policy_oids(c.cert);
    match oids.as_slice() {
        [oid] => {
            let after_cp13 = c.cert.validity().not_before.timestamp() > CP_V1_3_LEAF_AT;
            pass_if(!after_cp13 || CURRENT_CP_OIDS.contains(&oid.as_str()), || {
                format!(
                    "policy {oid} is not the SHAKEN CP v1.3 policy {SHAKEN_CP_V1_3} or the CP v1.4 policy {SHAKEN_CP_V1_4}"
                )
            })
        }
        [] => fail("no Certificate Policies extension (or no policy in it)"),
        many => fail(format!("{} policies; exactly one is required", many.len())),
    }
}

fn policy_not_critical(c: &Ctx<'_, '_>) -> Outcome {
    match first_ext(c.cert, &OID_X509_EXT_CERTIFICATE_POLICIES) {
        None => Outcome::NotApplicable(Some("no Certificate Policies extension")),
        Some(e) => pass_if(!e.critical, || "Certificate Policies is marked critical".into()),
    }
}

/// The URIs of the distribution points' full names (what Go's x509 calls CRLDistributionPoints).
fn crl_distribution(c: &Ctx<'_, '_>) -> Outcome {
    let Some(ext) = first_ext(c.cert, &OID_X509_EXT_CRL_DISTRIBUTION_POINTS) else {
        return fail("no CRL Distribution Points extension");
    };
    let ParsedExtension::CRLDistributionPoints(dps) = ext.parsed_extension() else {
        return fail("the CRL Distribution Points extension does not decode");
    };
    let uris: Vec<&str> = dps
        .points
        .iter()
        .filter_map(|dp| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|n| match n {
            GeneralName::URI(u) => Some(*u),
            _ => None,
        })
        .collect();
    match uris.as_slice() {
        [uri] => pass_if(uri.starts_with("http"), || format!("CRL URI {uri:?} is not an HTTP URL")),
        other => fail(format!("{} CRL URIs; exactly one is required", other.len())),
    }
}

fn key_usage_flags(cert: &X509Certificate<'_>) -> Option<(u16, bool)> {
    let e = first_ext(cert, &OID_X509_EXT_KEY_USAGE)?;
    match e.parsed_extension() {
        ParsedExtension::KeyUsage(ku) => Some((ku.flags, e.critical)),
        _ => None,
    }
}

fn key_usage(c: &Ctx<'_, '_>, required: u16, optional: u16) -> Outcome {
    let Some(e) = first_ext(c.cert, &OID_X509_EXT_KEY_USAGE) else {
        return fail("no Key Usage extension");
    };
    let ParsedExtension::KeyUsage(ku) = e.parsed_extension() else {
        return fail("Key Usage does not decode");
    };
    if !e.critical {
        return fail("Key Usage is not marked critical");
    }
    if ku.flags & required != required {
        return fail(format!("Key Usage ({ku}) lacks a required usage"));
    }
    pass_if(ku.flags & !(required | optional) == 0, || format!("Key Usage ({ku}) has a usage that is not allowed"))
}

fn only_extensions(c: &Ctx<'_, '_>, allowed: &[&str]) -> Outcome {
    let unknown: Vec<String> = c
        .cert
        .extensions()
        .iter()
        .map(|e| e.oid.to_id_string())
        .filter(|oid| !allowed.contains(&oid.as_str()))
        .collect();
    pass_if(unknown.is_empty(), || format!("extensions not allowed: {}", unknown.join(", ")))
}

fn key_id<'c>(cert: &'c X509Certificate<'_>) -> Option<&'c [u8]> {
    match first_ext(cert, &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)?.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
        _ => None,
    }
}

fn root_aki(c: &Ctx<'_, '_>) -> Outcome {
    let Some(aki) = first_ext(c.cert, &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER) else {
        return Outcome::NotApplicable(Some("no Authority Key Identifier extension"));
    };
    let aki_id = match aki.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref().map(|k| k.0),
        _ => return fail("the Authority Key Identifier does not decode"),
    };
    match (key_id(c.cert), aki_id) {
        (None, _) => fail("no Subject Key Identifier"),
        (Some(ski), Some(aki)) if ski == aki => Outcome::Pass,
        _ => fail("the Authority Key Identifier's key identifier differs from the Subject Key Identifier"),
    }
}

fn ski_sha1(c: &Ctx<'_, '_>) -> Outcome {
    let Some(ext) = first_ext(c.cert, &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER) else {
        return Outcome::NotApplicable(Some("no Subject Key Identifier"));
    };
    let ParsedExtension::SubjectKeyIdentifier(ski) = ext.parsed_extension() else {
        return fail("the Subject Key Identifier does not decode");
    };
    let bits = &c.cert.public_key().subject_public_key.data;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, bits);
    pass_if(ski.0 == digest.as_ref(), || "the Subject Key Identifier is not the SHA-1 hash of the public key".into())
}

/// The one SPC of the TNAuthList, as ZLint reads it: the extension must be present and decode,
/// and exactly one of its entries must be an SPC, with a non-empty value.
/// How many TNAuthList entries are telephone numbers or ranges (0 when there is no list).
fn tn_non_spc_entries(cert: &X509Certificate<'_>) -> usize {
    find_ext(cert, TN_AUTH_LIST_OID)
        .and_then(|ext| TnAuthList::from_der(ext.value).ok())
        .map_or(0, |list| list.entries().len().saturating_sub(list.spcs().count()))
}

fn tn_spc(cert: &X509Certificate<'_>) -> Result<String, String> {
    let ext = find_ext(cert, TN_AUTH_LIST_OID).ok_or_else(|| "no TNAuthList extension".to_owned())?;
    let list = TnAuthList::from_der(ext.value).map_err(|e| e.to_string())?;
    let spcs: Vec<&str> = list.spcs().collect();
    match spcs.as_slice() {
        [""] => Err("the SPC is empty".into()),
        [spc] => Ok((*spc).to_owned()),
        [] => Err("the TNAuthList holds no SPC".into()),
        many => Err(format!("the TNAuthList holds {} SPCs; exactly one is required", many.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/shaken-certs/");

    fn lint(file: &str, mode: LintMode) -> LintReport {
        let pem = std::fs::read(format!("{DIR}{file}")).unwrap();
        let mut reports = lint_pem(&pem, mode).unwrap();
        assert_eq!(reports.len(), 1);
        reports.remove(0)
    }

    fn status(r: &LintReport, rule: &str) -> LintStatus {
        r.get(rule).unwrap().status
    }

    /// certificatePolicies with one policy OID (DER content of the extension).
    fn policy_ext(oid: &str) -> rcgen::CustomExtension {
        use der::Encode;
        let oid = der::asn1::ObjectIdentifier::new(oid).unwrap().to_der().unwrap();
        let inner = [&[0x30, oid.len() as u8][..], &oid].concat();
        let value = [&[0x30, inner.len() as u8][..], &inner].concat();
        rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 32], value)
    }

    /// A CA certificate with a key for `alg` and the given policy, signed by a P-256 root, and
    /// an end-entity certificate (TNAuthList `tn_auth_list`) it signs. DER of both.
    fn issued(alg: &'static rcgen::SignatureAlgorithm, policy: &str, tn_auth_list: &TnAuthList) -> (Vec<u8>, Vec<u8>) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let params = |cn: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(DnType::CountryName, "US");
            p.distinguished_name.push(DnType::OrganizationName, "Test");
            p.distinguished_name.push(DnType::CommonName, cn);
            p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x41, 2, 3, 4, 5, 6, 7, 8, 9]));
            p.not_before = time::OffsetDateTime::from_unix_timestamp(at(2024, 1, 1)).unwrap();
            p.not_after = time::OffsetDateTime::from_unix_timestamp(at(2025, 1, 1)).unwrap();
            p
        };
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut root = params("Test SHAKEN ROOT");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let root = Issuer::new(root, &root_key);
        let ca_key = KeyPair::generate_for(alg).unwrap();
        let mut ca = params("Test SHAKEN CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        ca.custom_extensions = vec![policy_ext(policy)];
        let ca_der = ca.signed_by(&ca_key, &root).unwrap().der().to_vec();
        let ca = Issuer::new(ca, &ca_key);
        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut leaf = params("SHAKEN 1234");
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.custom_extensions = vec![
            rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 26], tn_auth_list.to_der().unwrap()),
            policy_ext(policy),
        ];
        let leaf_der = leaf.signed_by(&leaf_key, &ca).unwrap().der().to_vec();
        (ca_der, leaf_der)
    }

    #[test]
    fn cp_1_4_policy_sha384_and_p384_cas_are_accepted() {
        let spc = TnAuthList::spc("1234");
        let (ca, leaf) = issued(&rcgen::PKCS_ECDSA_P256_SHA256, SHAKEN_CP_V1_4, &spc);
        for (der, rule) in [(&leaf, "e_atis_certificate_policies"), (&ca, "e_atis_ca_certificate_policies")] {
            let r = lint_der(der, LintMode::Strict).unwrap();
            assert_eq!(status(&r, rule), LintStatus::Pass, "{:?}", r.get(rule));
        }
        // CP v1.4 6.1.5: a CA may hold a P-384 key and sign with ecdsa-with-SHA384.
        let (ca, leaf) = issued(&rcgen::PKCS_ECDSA_P384_SHA384, SHAKEN_CP_V1_4, &spc);
        let r = lint_der(&ca, LintMode::Strict).unwrap();
        assert_eq!(
            status(&r, "e_atis_ca_subject_public_key"),
            LintStatus::Pass,
            "{:?}",
            r.get("e_atis_ca_subject_public_key")
        );
        let r = lint_der(&leaf, LintMode::Strict).unwrap();
        assert_eq!(status(&r, "e_atis_signature_algorithm"), LintStatus::Pass);
        assert_eq!(status(&r, "e_cp_1_4_key_size"), LintStatus::Pass);
        // Not under CP v1.3, and never another policy after 10 Jan 2022.
        let (ca, leaf) = issued(&rcgen::PKCS_ECDSA_P384_SHA384, SHAKEN_CP_V1_3, &spc);
        let r = lint_der(&ca, LintMode::Lenient).unwrap();
        assert_eq!(status(&r, "e_atis_ca_subject_public_key"), LintStatus::Error);
        let r = lint_der(&leaf, LintMode::Lenient).unwrap();
        assert_eq!(status(&r, "e_atis_signature_algorithm"), LintStatus::Error);
        let (_, leaf) = issued(&rcgen::PKCS_ECDSA_P256_SHA256, SHAKEN_CP_V1_2, &spc);
        let r = lint_der(&leaf, LintMode::Strict).unwrap();
        assert_eq!(status(&r, "e_atis_certificate_policies"), LintStatus::Error);
    }

    #[test]
    fn a_tn_auth_list_with_numbers_besides_the_spc_fails() {
        let mixed = TnAuthList::new(vec![
            crate::tnauth::TnEntry::Spc("1234".into()),
            crate::tnauth::TnEntry::One("12025550100".into()),
        ]);
        let (_, leaf) = issued(&rcgen::PKCS_ECDSA_P256_SHA256, SHAKEN_CP_V1_3, &mixed);
        let r = lint_der(&leaf, LintMode::Lenient).unwrap();
        assert_eq!(status(&r, "e_atis_tn_auth_list"), LintStatus::Error, "{:?}", r.get("e_atis_tn_auth_list"));
        // The name rules still read the one SPC.
        assert_eq!(status(&r, "e_us_cp_ambiguous_identifier"), LintStatus::Pass);
        let (_, leaf) = issued(&rcgen::PKCS_ECDSA_P256_SHA256, SHAKEN_CP_V1_3, &TnAuthList::spc("1234"));
        let r = lint_der(&leaf, LintMode::Strict).unwrap();
        assert_eq!(status(&r, "e_atis_tn_auth_list"), LintStatus::Pass);
    }

    #[test]
    fn kinds() {
        assert_eq!(lint("shakenCert.pem", LintMode::Strict).kind, CertKind::EndEntity);
        assert_eq!(lint("shakenCa.pem", LintMode::Strict).kind, CertKind::Intermediate);
        assert_eq!(lint("shakenRoot.pem", LintMode::Strict).kind, CertKind::Root);
        // Empty subject and issuer, but the signature does not verify under its own key.
        assert_eq!(lint("shakenCaEmpty.pem", LintMode::Strict).kind, CertKind::Intermediate);
        // No Basic Constraints: an end-entity certificate.
        assert_eq!(lint("shakenBasicConstNo.pem", LintMode::Strict).kind, CertKind::EndEntity);
    }

    #[test]
    fn reference_certificates_pass_strict() {
        for f in ["shakenCert.pem", "shakenCa.pem", "shakenRoot.pem"] {
            let r = lint(f, LintMode::Strict);
            let failures: Vec<_> = r.failures().map(|x| x.rule).collect();
            assert!(r.passed(), "{f}: {failures:?}");
        }
    }

    #[test]
    fn version_2_certificate_parses_and_fails_version() {
        let r = lint("shakenCertV2.pem", LintMode::Lenient);
        assert_eq!(status(&r, "e_atis_version"), LintStatus::Error);
        assert!(!r.passed());
    }

    #[test]
    fn lenient_downgrades_cosmetic_only() {
        let strict = lint("shakenSubjectCN.pem", LintMode::Strict);
        let lenient = lint("shakenSubjectCN.pem", LintMode::Lenient);
        assert_eq!(status(&strict, "e_atis_subject_cn"), LintStatus::Error);
        assert_eq!(status(&lenient, "e_atis_subject_cn"), LintStatus::Warn);
        let lenient = lint("shakenKeyAlgP384.pem", LintMode::Lenient);
        assert_eq!(status(&lenient, "e_atis_subject_public_key"), LintStatus::Error);
    }

    #[test]
    fn negative_serial_is_a_security_error_even_when_lenient() {
        let r = lint("shakenSerialNumberNegative.pem", LintMode::Lenient);
        assert_eq!(status(&r, "e_atis_serial_number"), LintStatus::Warn);
        assert_eq!(status(&r, "vouch_serial_positive"), LintStatus::Error);
        let r = lint("shakenSerialNumberPadded.pem", LintMode::Lenient);
        assert_eq!(status(&r, "e_atis_serial_number"), LintStatus::Warn);
        assert_eq!(status(&r, "vouch_serial_positive"), LintStatus::Pass);
    }

    #[test]
    fn effective_dates_gate_rules() {
        // notBefore 2022-10-24, before ATIS-1000080 v005 (end-entity date 2023-03-12).
        assert_eq!(status(&lint("shakenCert.pem", LintMode::Strict), "vouch_spc_format"), LintStatus::NotEffective);
        // notBefore 2023-06-06: a CP v1.4 certificate.
        let r = lint("shakenCP1_4WSHA1.pem", LintMode::Strict);
        assert_eq!(status(&r, "e_cp_1_4_key_size"), LintStatus::Error);
        assert_eq!(status(&r, "e_cp_1_1_key_size"), LintStatus::NotApplicable);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(at(2020, 9, 4), 1_599_177_600);
    }

    #[test]
    fn ski_sha1_check_ignoring_effective_date() {
        // The vectors predate ATIS-1000080 v005, so the rule reports NE on them; run the check itself.
        let judge = |file: &str| {
            let pem = std::fs::read(format!("{DIR}{file}")).unwrap();
            let block = x509_parser::pem::Pem::iter_from_buffer(&pem).next().unwrap().unwrap();
            let (_, cert) = X509Certificate::from_der(&block.contents).unwrap();
            let ctx = Ctx { kind: cert_kind(&cert), cert: &cert };
            matches!(ski_sha1(&ctx), Outcome::Pass)
        };
        assert!(judge("shakenCert.pem"));
        assert!(judge("shakenRoot.pem"));
        assert!(!judge("shakenCa.pem")); // its SKI is not the SHA-1 of its key
    }

    #[test]
    fn json_shape() {
        let r = lint("shakenSubjectWEmail.pem", LintMode::Strict);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["kind"], "end-entity");
        assert_eq!(v["passed"], false);
        let email = v["results"].as_array().unwrap().iter().find(|x| x["rule"] == "w_cp_1_3_subject_email").unwrap();
        assert_eq!(email["status"], "warn");
        assert!(email["source"].is_string() && email["requirement"].is_string() && email.get("detail").is_some());
        let rules = serde_json::to_value(rules()).unwrap();
        assert_eq!(rules[0]["name"], "e_atis_basic_constraints");
    }

    #[test]
    fn not_a_certificate() {
        assert!(matches!(lint_der(b"\x30\x03\x02\x01\x01", LintMode::Strict), Err(ShakenError::Certificate(_))));
        assert!(matches!(lint_pem(b"no pem here", LintMode::Strict), Err(ShakenError::Certificate(_))));
    }

    #[test]
    fn rule_names_are_unique() {
        let mut names: Vec<_> = rules().iter().map(|r| r.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }
}
