//! STIR/SHAKEN command-line verbs: `vouch sign`, `vouch verify`, `vouch lint`, `vouch ca`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::out;
use vouch_shaken::devca::DevCa;
use vouch_shaken::lint::{LintMode, lint_pem};
use vouch_shaken::passport::{Claims, Destination, Origin, PPT_SHAKEN, PassportHeader, RichCallData};
use vouch_shaken::{
    Attestation, Certificate, IdentityHeader, SigningKey, SipReason, Tn, TrustStore, VerifyOptions, Verstat, hex,
};

/// `vouch sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The signer's P-256 private key (PEM: PKCS#8 or SEC1).
    #[arg(long)]
    key: PathBuf,
    /// Where verifiers fetch the signer's certificate chain (https).
    #[arg(long)]
    x5u: String,
    /// Calling number (any common notation; canonicalised).
    #[arg(long)]
    orig: String,
    /// Called number; repeat for several.
    #[arg(long, required = true)]
    dest: Vec<String>,
    /// Attestation: A, B or C.
    #[arg(long)]
    attest: Attestation,
    /// Origination identifier (a UUID); a random one by default.
    #[arg(long)]
    origid: Option<String>,
    /// Verified caller name (RFC 9795 rcd nam).
    #[arg(long)]
    rcd_name: Option<String>,
    /// Issued-at, Unix seconds; now by default.
    #[arg(long)]
    iat: Option<i64>,
}

/// `vouch verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The Identity header value (without `Identity:`).
    #[arg(long)]
    identity: String,
    /// The signer's certificate chain (PEM, leaf first), instead of fetching the x5u URL.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// A network the x5u fetch may reach although it is special-purpose (loopback, private…),
    /// on any port: for test networks only. Repeatable.
    #[arg(long, value_name = "CIDR")]
    allow_net: Vec<vouch_certfetch::IpNet>,
    /// An extra TLS trust anchor (PEM) for the x5u server, e.g. a test CA.
    #[arg(long, value_name = "FILE")]
    tls_root: Option<PathBuf>,
    /// Directory of trust anchors (CA certificates, *.pem/*.crt), CRL signer certificates
    /// (non-CA certificates with cRLSign) and CRLs (*.crl, DER or PEM).
    #[arg(long)]
    trust: PathBuf,
    /// The verifier's time (Unix seconds or RFC 3339); now by default.
    #[arg(long)]
    now: Option<String>,
    /// Allowed distance between iat and now, seconds.
    #[arg(long, default_value_t = 60)]
    freshness: i64,
    /// The call's calling number, compared with orig.tn.
    #[arg(long)]
    orig: Option<String>,
    /// The call's called number, looked for in dest.tn.
    #[arg(long)]
    dest: Option<String>,
    /// Fail when no CRL covers a certificate of the chain.
    #[arg(long)]
    require_crl: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

/// `vouch lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// PEM files (every certificate in each is linted).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Lenient mode (for verifying calls): cosmetic profile errors become warnings.
    #[arg(long)]
    lenient: bool,
    /// Print the results as JSON (rule names with their sources).
    #[arg(long)]
    json: bool,
}

/// `vouch ca …`: a development SHAKEN PKI, for tests and demonstrations only.
#[derive(Debug, clap::Subcommand)]
pub enum CaCommand {
    /// Create a root, an STI-CA intermediate and a CRL signer in --dir.
    Init {
        /// Where the CA's files go (created; must not hold a CA already).
        #[arg(long, default_value = "./vouch-dev-ca")]
        dir: PathBuf,
        /// The CRL URL written into certificates (http).
        #[arg(long, default_value = "http://127.0.0.1:8080/dev-ca/crl")]
        crl_url: String,
    },
    /// Issue an end-entity SHAKEN certificate for an SPC (chain and key in --dir/issued/).
    Issue {
        /// The CA directory.
        #[arg(long, default_value = "./vouch-dev-ca")]
        dir: PathBuf,
        /// The service provider code (OCN), digits and upper-case letters.
        #[arg(long)]
        spc: String,
        /// Validity in days.
        #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: u32,
    },
    /// Revoke an issued certificate (it appears in the next `vouch ca crl`).
    Revoke {
        /// The CA directory.
        #[arg(long, default_value = "./vouch-dev-ca")]
        dir: PathBuf,
        /// The certificate (PEM; the first certificate in the file is revoked).
        cert: PathBuf,
    },
    /// Write a CRL signed by the CRL signer to --dir/crl.der.
    Crl {
        /// The CA directory.
        #[arg(long, default_value = "./vouch-dev-ca")]
        dir: PathBuf,
        /// Days until nextUpdate.
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
        days: u32,
        /// Issue it as of this instant (RFC 3339; default now): an instant far enough back
        /// makes a CRL that is already past its nextUpdate, to see what a lapsed CRL does.
        #[arg(long)]
        at: Option<String>,
    },
}

pub(crate) fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let t: jiff::Timestamp = s.parse().with_context(|| format!("--now {s:?} is neither Unix seconds nor RFC 3339"))?;
    Ok(t.as_second())
}

pub(crate) fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub(crate) fn random_uuid() -> anyhow::Result<String> {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut b).map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(vouch_callauth::atis::uuid_v4(b))
}

/// `vouch sign`: prints the Identity header.
pub fn sign(a: SignArgs) -> anyhow::Result<ExitCode> {
    let key = SigningKey::from_pem(&read(&a.key)?).with_context(|| format!("{}", a.key.display()))?;
    let claims = Claims {
        attest: Some(a.attest),
        dest: Destination {
            tn: a.dest.iter().map(|d| Tn::canonicalize(d)).collect::<Result<_, _>>().context("--dest")?,
            uri: vec![],
        },
        iat: a.iat.unwrap_or_else(unix_now),
        orig: Origin::Tn(Tn::canonicalize(&a.orig).context("--orig")?),
        origid: Some(match a.origid {
            Some(o) => o,
            None => random_uuid()?,
        }),
        rcd: a.rcd_name.map(|nam| RichCallData { nam, other: Default::default() }),
        crn: None,
        div: None,
    };
    let header = PassportHeader { ppt: Some(PPT_SHAKEN.into()), x5u: a.x5u.clone() };
    let token = key.sign(&header, &claims)?;
    out!("{}", IdentityHeader::shaken(token, a.x5u));
    Ok(ExitCode::SUCCESS)
}

/// Reads a trust directory: anchors, CRL signers, then CRLs (checked at `now`).
pub fn load_trust(dir: &Path, now: i64) -> anyhow::Result<TrustStore> {
    Ok(load_trust_keeping(dir, now, false)?.0)
}

/// [`load_trust`], but with `keep_stale` a CRL past its nextUpdate is kept (its revocations
/// still apply; it covers nothing for `--require-crl`) instead of refused: what a server
/// does, since a lapsed CRL download must not stop signing and verification at a restart.
/// Also returns the stale CRLs' files.
pub fn load_trust_keeping(dir: &Path, now: i64, keep_stale: bool) -> anyhow::Result<(TrustStore, Vec<PathBuf>)> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the trust directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let ext = |p: &Path| p.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let is_crl = |p: &Path| ext(p) == "crl" || p.to_string_lossy().to_ascii_lowercase().ends_with(".crl.pem");
    let mut trust = TrustStore::new();
    let mut signers = Vec::new();
    let mut stale = Vec::new();
    for p in entries.iter().filter(|p| !is_crl(p) && matches!(ext(p).as_str(), "pem" | "crt" | "cer")) {
        let bytes = read(p)?;
        if !bytes.windows(11).any(|w| w == b"CERTIFICATE") {
            continue; // a key or something else
        }
        for c in Certificate::chain_from_pem(&bytes).with_context(|| format!("{}", p.display()))? {
            if c.is_ca == Some(true) {
                trust.add_anchor(c).with_context(|| format!("{}", p.display()))?;
            } else if c.key_usage.is_some_and(|(_, _, crl_sign)| crl_sign) {
                signers.push((p.clone(), c));
            }
        }
    }
    for (p, c) in signers {
        trust.add_crl_signer(c).with_context(|| format!("{}", p.display()))?;
    }
    for p in entries.iter().filter(|p| is_crl(p)) {
        let bytes = read(p)?;
        let der = match x509_parser::pem::parse_x509_pem(&bytes) {
            Ok((_, pem)) if pem.label == "X509 CRL" => pem.contents,
            _ => bytes,
        };
        let expired_at = <x509_parser::revocation_list::CertificateRevocationList as x509_parser::prelude::FromDer<
            _,
        >>::from_der(&der)
        .ok()
        .and_then(|(_, crl)| crl.next_update().map(|t| t.timestamp()))
        .filter(|next| *next < now);
        match expired_at {
            Some(next) if keep_stale => {
                trust.add_crl_der(&der, next).with_context(|| format!("{}", p.display()))?;
                stale.push(p.clone());
            }
            _ => {
                trust.add_crl_der(&der, now).with_context(|| format!("{}", p.display()))?;
            }
        }
    }
    if trust.anchors().is_empty() {
        bail!("no CA certificate (trust anchor) in {}", dir.display());
    }
    Ok((trust, stale))
}

/// `vouch verify`: exit 0 when the Identity header verifies, 1 otherwise.
pub fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let now = match &a.now {
        Some(s) => parse_time(s)?,
        None => unix_now(),
    };
    let trust = load_trust(&a.trust, now)?;
    let chain = match &a.cert {
        Some(cert) => {
            // The chain is given, but what a verifier on the network fetches must be an https
            // URL (ATIS-1000074; they answer 436, ATIS-1000082 E8): said, not failed, so a lab
            // without TLS can still check its signatures offline.
            if let Ok(header) = IdentityHeader::parse(&a.identity)
                && !url::Url::parse(&header.info).is_ok_and(|u| u.scheme() == "https")
            {
                eprintln!(
                    "vouch: warning: x5u <{}> is not an https URL: verifiers that fetch it refuse the call (436, \
                     ATIS-1000082 E8)",
                    header.info
                );
            }
            Certificate::chain_from_pem(&read(cert)?).with_context(|| format!("{}", cert.display()))?
        }
        None => match fetch_chain(&a) {
            Ok(chain) => chain,
            Err(e) => {
                // Nothing to verify against: 436 Bad Identity Info (ATIS-1000082 E8).
                print_failure(a.json, Verstat::NoValidation, SipReason::BAD_IDENTITY_INFO, &format!("{e:#}"));
                return Ok(ExitCode::FAILURE);
            }
        },
    };
    let opts = VerifyOptions {
        now,
        freshness: a.freshness,
        require_crl: a.require_crl,
        orig: a.orig.as_deref().map(Tn::canonicalize).transpose().context("--orig")?,
        dest: a.dest.as_deref().map(Tn::canonicalize).transpose().context("--dest")?.into_iter().collect(),
    };
    let outcome = vouch_shaken::verify_identity(&a.identity, &chain, &trust, &opts);
    match outcome {
        Ok(v) => {
            let c = v.passport.claims();
            let orig = match &c.orig {
                Origin::Tn(t) => t.to_string(),
                Origin::Uri(u) => u.clone(),
            };
            let dest: Vec<&str> = c.dest.tn.iter().map(Tn::as_str).collect();
            if a.json {
                out!(
                    "{}",
                    serde_json::json!({
                        "verstat": "TN-Validation-Passed", "attest": v.attest.as_str(), "orig": orig, "dest": dest,
                        "origid": c.origid, "iat": c.iat, "spc": v.spc, "signer": v.signer, "anchor": v.anchor,
                        "callerName": c.rcd.as_ref().map(|r| &r.nam), "profileWarnings": v.profile_warnings,
                    })
                );
            } else {
                out!("verstat: TN-Validation-Passed");
                out!("attest: {}  orig: {orig}  dest: {}  iat: {}", v.attest, dest.join(","), c.iat);
                out!("origid: {}", c.origid.as_deref().unwrap_or("-"));
                out!("signer: {} (SPC {}), anchored at {}", v.signer, v.spc, v.anchor);
                if let Some(r) = &c.rcd {
                    out!("caller name (rcd): {}", r.nam);
                }
                for w in &v.profile_warnings {
                    out!("profile warning: {w}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            print_failure(a.json, e.verstat(), e.sip_reason(), &e.to_string());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints a failed verification: text, or the ATIS-1000082 response fields as JSON.
fn print_failure(json: bool, verstat: Verstat, reason: SipReason, desc: &str) {
    if json {
        out!(
            "{}",
            serde_json::json!({
                "verstat": verstat.as_str(), "reasoncode": reason.code, "reasontext": reason.phrase,
                "reasondesc": desc,
            })
        );
    } else {
        out!("verstat: {}", verstat.as_str());
        out!("reason: {} {}: {desc}", reason.code, reason.phrase);
    }
}

/// Fetches the chain at the Identity header's `info` (= `x5u`) under the x5u rules.
fn fetch_chain(a: &VerifyArgs) -> anyhow::Result<Vec<Certificate>> {
    let header = IdentityHeader::parse(&a.identity)?;
    let mut policy = vouch_certfetch::FetchPolicy { allow: a.allow_net.clone(), ..Default::default() };
    if let Some(root) = &a.tls_root {
        for c in Certificate::chain_from_pem(&read(root)?).with_context(|| format!("{}", root.display()))? {
            policy.extra_roots.push(c.der().to_vec());
        }
    }
    let fetcher = vouch_certfetch::CertFetcher::with_system_clock(policy)?;
    let rt = crate::client::runtime()?;
    let fetched = rt.block_on(fetcher.fetch(&header.info)).with_context(|| format!("x5u <{}>", header.info))?;
    fetched
        .certificates
        .iter()
        .map(|der| Certificate::from_der(der).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()
        .with_context(|| format!("x5u <{}>", header.info))
}

/// `vouch lint`: exit 0 when every certificate passes, 1 otherwise.
pub fn lint(a: LintArgs) -> anyhow::Result<ExitCode> {
    let mode = if a.lenient { LintMode::Lenient } else { LintMode::Strict };
    let mut all_passed = true;
    let mut json_out = Vec::new();
    for f in &a.files {
        let reports = lint_pem(&read(f)?, mode).with_context(|| format!("{}", f.display()))?;
        for r in reports {
            all_passed &= r.passed();
            if a.json {
                let mut v = serde_json::to_value(&r)?;
                v["file"] = serde_json::Value::from(f.display().to_string());
                json_out.push(v);
            } else {
                out!("{}: {} ({:?}): {}", f.display(), r.subject, r.kind, if r.passed() { "pass" } else { "FAIL" });
                for x in r.failures().chain(r.warnings()) {
                    out!(
                        "  {:?} {} [{}]: {}{}",
                        x.status,
                        x.rule,
                        x.source,
                        x.requirement,
                        x.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
                    );
                }
            }
        }
    }
    if a.json {
        out!("{}", serde_json::to_string_pretty(&json_out)?);
    }
    Ok(if all_passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

const DEV_WARNING: &str = "vouch: DEVELOPMENT PKI - for tests and demonstrations only; never trust it for real traffic";

/// The development CA's files, in the order of [`ca_parts`]; `true` for a private key (0600).
const CA_FILES: [(&str, bool); 6] = [
    ("root.pem", false),
    ("root.key", true),
    ("ca.pem", false),
    ("ca.key", true),
    ("crl-signer.pem", false),
    ("crl-signer.key", true),
];

fn ca_parts(ca: &DevCa) -> [&String; 6] {
    [&ca.root_pem, &ca.root_key_pem, &ca.ca_pem, &ca.ca_key_pem, &ca.crl_signer_pem, &ca.crl_signer_key_pem]
}

fn write_file(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn load_ca(dir: &Path) -> anyhow::Result<DevCa> {
    let [root_pem, root_key_pem, ca_pem, ca_key_pem, crl_signer_pem, crl_signer_key_pem] = CA_FILES.map(|(name, _)| {
        std::fs::read_to_string(dir.join(name))
            .with_context(|| format!("cannot read {} (run `vouch ca init --dir {}` first)", name, dir.display()))
    });
    Ok(DevCa {
        root_pem: root_pem?,
        root_key_pem: root_key_pem?,
        ca_pem: ca_pem?,
        ca_key_pem: ca_key_pem?,
        crl_signer_pem: crl_signer_pem?,
        crl_signer_key_pem: crl_signer_key_pem?,
    })
}

/// `vouch ca …`.
pub fn ca(cmd: CaCommand) -> anyhow::Result<ExitCode> {
    eprintln!("{DEV_WARNING}");
    match cmd {
        CaCommand::Init { dir, crl_url } => {
            if dir.join("root.pem").exists() {
                bail!("{} already holds a CA (root.pem); remove it or choose another --dir", dir.display());
            }
            std::fs::create_dir_all(dir.join("issued")).with_context(|| format!("cannot create {}", dir.display()))?;
            let ca = DevCa::init(unix_now(), &crl_url)?;
            for ((name, secret), text) in CA_FILES.iter().zip(ca_parts(&ca)) {
                write_file(&dir.join(name), text.as_bytes(), *secret)?;
            }
            write_file(&dir.join("crl-url"), crl_url.as_bytes(), false)?;
            out!("development CA in {}", dir.display());
            out!(
                "trust anchor: {}  (with crl-signer.pem, put it in a --trust directory)",
                dir.join("root.pem").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        CaCommand::Issue { dir, spc, days } => {
            let ca = load_ca(&dir)?;
            let crl_url = std::fs::read_to_string(dir.join("crl-url")).context("cannot read crl-url")?;
            let issued = ca.issue(&spc, unix_now(), days, crl_url.trim())?;
            let base = dir.join("issued").join(format!("{spc}-{}", issued.serial_hex));
            let chain = base.with_extension("pem");
            let key = base.with_extension("key");
            write_file(&chain, issued.chain_pem.as_bytes(), false)?;
            write_file(&key, issued.key_pem.as_bytes(), true)?;
            out!("chain: {}", chain.display());
            out!("key: {}", key.display());
            out!("serial: {}", issued.serial_hex);
            Ok(ExitCode::SUCCESS)
        }
        CaCommand::Revoke { dir, cert } => {
            load_ca(&dir)?;
            let c = Certificate::chain_from_pem(&read(&cert)?)?.remove(0);
            let serial = hex(&c.serial);
            let list = dir.join("revoked.txt");
            let mut text = std::fs::read_to_string(&list).unwrap_or_default();
            if !text.lines().any(|l| l.trim() == serial) {
                text.push_str(&serial);
                text.push('\n');
                write_file(&list, text.as_bytes(), false)?;
            }
            out!("revoked {} (serial {serial}); run `vouch ca crl` to publish", c.subject);
            Ok(ExitCode::SUCCESS)
        }
        CaCommand::Crl { dir, days, at } => {
            let at = match &at {
                Some(t) => parse_time(t)?,
                None => unix_now(),
            };
            let ca = load_ca(&dir)?;
            let revoked: Vec<String> = std::fs::read_to_string(dir.join("revoked.txt"))
                .unwrap_or_default()
                .lines()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect();
            let number_file = dir.join("crl-number");
            let number: u64 =
                std::fs::read_to_string(&number_file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0) + 1;
            let der = ca.crl(&revoked, at, days, number)?;
            write_file(&dir.join("crl.der"), &der, false)?;
            write_file(&number_file, number.to_string().as_bytes(), false)?;
            out!("CRL {number} with {} revoked: {}", revoked.len(), dir.join("crl.der").display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
