//! `vouch cps`: the Call Placement Service's client side (docs/CPS.md). Publish a call's
//! PASSporT for the terminating provider, retrieve it on the terminating side, mint tokens for
//! other clients, make and register HPKE keys for the privacy mode.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vouch_cps::{Action, HpkePrivateKey, HpkePublicKey, TokenClaims, open_passport, passports_digest, seal_passport};
use vouch_shaken::{IdentityHeader, SigningKey, Tn};

use crate::ClientArgs;
use crate::out;
use crate::shaken_cli::{random_uuid, read, unix_now};

/// `vouch cps …`.
#[derive(Debug, clap::Subcommand)]
pub enum CpsCommand {
    /// Publish a call's PASSporT(s) for the terminating provider (POST /passports/…).
    Publish(PublishArgs),
    /// Retrieve the PASSporT(s) published for a call to you (GET /passports/…); prints each as
    /// an Identity header value (`vouch verify --identity` reads it). Sealed items are opened
    /// with --hpke-key, else skipped with a warning. Exit 3 when nothing usable is held.
    Retrieve(RetrieveArgs),
    /// Print a CPS bearer token (for curl or another client).
    Token(TokenArgs),
    /// Make an HPKE key pair for the privacy mode: writes the private key (PEM) and prints the
    /// public key to register.
    Keygen {
        /// Where to write the private key (mode 600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Register your HPKE public key with vouch (POST /v1/providers/{id}/cps-keys).
    RegisterKey {
        /// Your provider id.
        #[arg(long)]
        provider: String,
        /// The public key: base64url point, or a file holding it or a PUBLIC KEY PEM.
        #[arg(long)]
        public_key: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// What every token needs: who signs, for which call, at which CPS.
#[derive(Debug, clap::Args)]
pub struct Signer {
    /// Base URL of the CPS.
    #[arg(long, env = "VOUCH_CPS", default_value = "http://127.0.0.1:8080")]
    cps: String,
    /// Your SHAKEN private key (PEM), whose certificate is at --x5u.
    #[arg(long)]
    key: PathBuf,
    /// Where the CPS fetches your certificate chain.
    #[arg(long)]
    x5u: String,
    /// Your SPC (your certificate's TNAuthList).
    #[arg(long)]
    signer_spc: String,
    /// The token's aud [default: --cps].
    #[arg(long)]
    aud: Option<String>,
    /// Calling number.
    #[arg(long)]
    orig: String,
    /// Called number.
    #[arg(long)]
    dest: String,
    /// Seconds the token lives (at most 60).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=60))]
    lifetime: i64,
}

/// `vouch cps publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    signer: Signer,
    /// The terminating provider's SPC (who may retrieve).
    #[arg(long)]
    spc: String,
    /// A PASSporT to publish; repeatable.
    #[arg(long)]
    passport: Vec<String>,
    /// An Identity header whose PASSporT to publish; repeatable.
    #[arg(long)]
    identity: Vec<String>,
    /// Seal each PASSporT to the terminating provider's HPKE key (privacy mode), fetched from
    /// the CPS (/cps/v1/keys/{spc}) unless --recipient-key names it.
    #[arg(long)]
    seal: bool,
    /// The terminating provider's HPKE public key (base64url point, or a file holding it or a
    /// PUBLIC KEY PEM), instead of asking the CPS.
    #[arg(long)]
    recipient_key: Option<String>,
}

/// `vouch cps retrieve`.
#[derive(Debug, clap::Args)]
pub struct RetrieveArgs {
    #[command(flatten)]
    signer: Signer,
    /// Your HPKE private key (PEM), to open sealed PASSporTs.
    #[arg(long)]
    hpke_key: Option<PathBuf>,
}

/// `vouch cps token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    signer: Signer,
    /// publish or retrieve.
    #[arg(long, value_parser = ["publish", "retrieve"])]
    action: String,
    /// For publish: the PASSporT(s) the body will carry, in order (the token covers them).
    #[arg(long)]
    passport: Vec<String>,
    /// Print this many tokens (distinct jti), one per line.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    count: u32,
    /// Load-test lines instead of bare tokens: `DEST<TAB>TOKEN<TAB>ITEM` per call, the called
    /// number counting up from --dest, each with its own PASSporT (for publish; signed with
    /// --key, attestation A) for the terminating provider --spc.
    #[arg(long)]
    load_lines: bool,
    /// With --load-lines: the terminating provider's SPC (publish).
    #[arg(long)]
    spc: Option<String>,
    /// With --load-lines: seal each PASSporT to this HPKE public key (privacy mode).
    #[arg(long)]
    seal_to: Option<String>,
    /// With --load-lines: the called numbers repeat after this many (retrievals of calls
    /// published earlier).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    cycle: Option<u64>,
}

struct Call {
    orig: Tn,
    dest: Tn,
}

impl Signer {
    /// The call's numbers, canonical and made global as vouch's SIP side makes them (a ten-digit
    /// North American number gets country code 1), so that a publish and a retrieval name one
    /// record whichever form each was given.
    fn call(&self) -> anyhow::Result<Call> {
        Ok(Call {
            orig: Tn::canonicalize(&self.orig).context("--orig")?.nanp_global(),
            dest: Tn::canonicalize(&self.dest).context("--dest")?.nanp_global(),
        })
    }

    fn signing_key(&self) -> anyhow::Result<SigningKey> {
        SigningKey::from_pem(&read(&self.key)?).with_context(|| self.key.display().to_string())
    }

    fn base(&self) -> &str {
        self.cps.trim_end_matches('/')
    }

    fn token(
        &self,
        key: &SigningKey,
        call: &Call,
        action: Action,
        passports: Option<String>,
        jti: String,
    ) -> anyhow::Result<String> {
        let iat = unix_now();
        let claims = TokenClaims {
            iat,
            exp: iat + self.lifetime,
            aud: vec![self.aud.clone().unwrap_or_else(|| self.base().to_owned())],
            iss: self.signer_spc.clone(),
            spc: self.signer_spc.clone(),
            action,
            jti,
            orig: call.orig.clone(),
            dest: call.dest.clone(),
            passports,
        };
        Ok(claims.sign(key, &self.x5u)?)
    }

    fn url(&self, spc: &str, call: &Call) -> String {
        format!("{}/passports/{spc}/{}/{}", self.base(), call.dest.as_str(), call.orig.as_str())
    }
}

fn public_key_arg(v: &str) -> anyhow::Result<HpkePublicKey> {
    let text = match std::fs::read(v) {
        Ok(b) => String::from_utf8(b).context("the public key file is not text")?,
        Err(_) => v.to_owned(),
    };
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return Ok(HpkePublicKey::from_spki_pem_or_der(text.as_bytes())?);
    }
    let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).context("the public key is not base64url")?;
    Ok(HpkePublicKey::from_sec1(&bytes)?)
}

async fn problem(url: &str, resp: reqwest::Response) -> anyhow::Error {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let detail = body.get("detail").and_then(|d| d.as_str()).unwrap_or("no detail");
    anyhow::anyhow!("{}: {status}: {detail}", crate::config::redact(url))
}

/// Why a request did not reach the CPS, without a password its URL may hold.
fn unreachable(url: &str) -> String {
    format!("cannot reach the CPS at {}", crate::config::redact(url))
}

fn http() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")
}

/// Runs a `vouch cps` verb.
pub fn run(cmd: CpsCommand) -> anyhow::Result<ExitCode> {
    let rt = crate::client::runtime()?;
    match cmd {
        CpsCommand::Publish(a) => rt.block_on(publish(a)),
        CpsCommand::Retrieve(a) => rt.block_on(retrieve(a)),
        CpsCommand::Token(a) => token(a),
        CpsCommand::Keygen { out } => {
            let key = HpkePrivateKey::generate()?;
            crate::serve::write_secret(&out, key.to_pem()?.trim_end())
                .with_context(|| format!("cannot write {}", out.display()))?;
            out!("{}", URL_SAFE_NO_PAD.encode(key.public_key().as_bytes()));
            Ok(ExitCode::SUCCESS)
        }
        CpsCommand::RegisterKey { provider, public_key, client } => {
            let key = public_key_arg(&public_key)?;
            let c = crate::client::Client::new(&client)?;
            let body = serde_json::json!({ "publicKey": URL_SAFE_NO_PAD.encode(key.as_bytes()) });
            let v = rt.block_on(c.post(
                &format!("/v1/providers/{provider}/cps-keys"),
                "application/json",
                serde_json::to_vec(&body)?,
            ))?;
            out!(
                "registered HPKE key {} for provider {provider}",
                v.get("keyId").and_then(|k| k.as_str()).unwrap_or("?")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn publish(a: PublishArgs) -> anyhow::Result<ExitCode> {
    let call = a.signer.call()?;
    let key = a.signer.signing_key()?;
    let mut passports = a.passport.clone();
    for h in &a.identity {
        passports.push(IdentityHeader::parse(h).context("--identity")?.passport);
    }
    if passports.is_empty() {
        bail!("give the PASSporT to publish: --passport TOKEN or --identity HEADER");
    }
    let http = http()?;
    if a.seal || a.recipient_key.is_some() {
        let recipient = match &a.recipient_key {
            Some(k) => public_key_arg(k)?,
            None => {
                let url = format!("{}/cps/v1/keys/{}", a.signer.base(), a.spc);
                let resp = http
                    .get(&url)
                    .send()
                    .await
                    .map_err(reqwest::Error::without_url)
                    .with_context(|| unreachable(&url))?;
                if !resp.status().is_success() {
                    return Err(problem(&url, resp).await);
                }
                let v: serde_json::Value = resp
                    .json()
                    .await
                    .map_err(reqwest::Error::without_url)
                    .with_context(|| format!("{}: unreadable answer", crate::config::redact(&url)))?;
                public_key_arg(v.get("publicKey").and_then(|k| k.as_str()).unwrap_or_default())
                    .with_context(|| format!("{}: publicKey", crate::config::redact(&url)))?
            }
        };
        passports = passports
            .iter()
            .map(|p| seal_passport(&recipient, &a.spc, &call.dest, &call.orig, p))
            .collect::<Result<_, _>>()?;
    }
    let digest = passports_digest(&passports)?;
    let token = a.signer.token(&key, &call, Action::Publish, Some(digest), random_uuid()?)?;
    let url = a.signer.url(&a.spc, &call);
    let resp = http
        .post(&url)
        .bearer_auth(token)
        .json(&serde_json::json!({ "passports": passports }))
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| unreachable(&url))?;
    if !resp.status().is_success() {
        return Err(problem(&url, resp).await);
    }
    let v: serde_json::Value = resp.json().await.unwrap_or_default();
    out!(
        "published {} PASSporT(s){} for SPC {}; held until {}",
        passports.len(),
        if v.get("sealed").and_then(|s| s.as_bool()) == Some(true) { " sealed" } else { "" },
        a.spc,
        v.get("expires").and_then(|e| e.as_str()).unwrap_or("?")
    );
    Ok(ExitCode::SUCCESS)
}

async fn retrieve(a: RetrieveArgs) -> anyhow::Result<ExitCode> {
    let call = a.signer.call()?;
    let key = a.signer.signing_key()?;
    let hpke = match &a.hpke_key {
        Some(p) => Some(HpkePrivateKey::from_pem(&read(p)?).with_context(|| p.display().to_string())?),
        None => None,
    };
    let token = a.signer.token(&key, &call, Action::Retrieve, None, random_uuid()?)?;
    let url = a.signer.url(&a.signer.signer_spc, &call);
    let resp = http()?
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| unreachable(&url))?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        eprintln!("vouch: no PASSporT is held for this call (none published, or it expired)");
        return Ok(ExitCode::from(3));
    }
    if !resp.status().is_success() {
        return Err(problem(&url, resp).await);
    }
    let v: serde_json::Value = resp
        .json()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("{}: unreadable answer", crate::config::redact(&url)))?;
    let items = v.get("passports").and_then(|p| p.as_array()).cloned().unwrap_or_default();
    let (mut printed, mut sealed) = (0, 0);
    for item in items.iter().filter_map(|i| i.as_str()) {
        let passport = if item.starts_with(vouch_cps::record::SEALED_PREFIX) {
            // Anyone may publish into a record: a sealed item (perhaps junk) does not keep the
            // PASSporTs in the clear from being printed.
            let Some(k) = &hpke else {
                sealed += 1;
                continue;
            };
            match open_passport(k, &a.signer.signer_spc, &call.dest, &call.orig, item) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("vouch: skipped an item that does not open with this key: {e}");
                    continue;
                }
            }
        } else {
            item.to_owned()
        };
        match vouch_shaken::Passport::decode(&passport) {
            Ok(decoded) => {
                out!("{}", IdentityHeader::shaken(passport.clone(), decoded.header().x5u.clone()));
                printed += 1;
            }
            Err(e) => eprintln!("vouch: skipped an item that is not a PASSporT: {e}"),
        }
    }
    if sealed > 0 {
        eprintln!("vouch: skipped {sealed} sealed item(s): give --hpke-key to open them");
    }
    if printed == 0 {
        eprintln!("vouch: no usable PASSporT is held for this call");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn token(a: TokenArgs) -> anyhow::Result<ExitCode> {
    let call = a.signer.call()?;
    let key = a.signer.signing_key()?;
    let action = if a.action == "publish" { Action::Publish } else { Action::Retrieve };
    if a.load_lines {
        return load_lines(&a, &call, &key, action);
    }
    let digest = match action {
        Action::Publish if a.passport.is_empty() => bail!("a publish token covers its body: give --passport"),
        Action::Publish => Some(passports_digest(&a.passport)?),
        Action::Retrieve => None,
    };
    let prefix = random_uuid()?;
    for i in 0..a.count {
        out!("{}", a.signer.token(&key, &call, action, digest.clone(), format!("{prefix}-{i}"))?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `vouch cps token --load-lines`: one call per line, the called number counting up.
fn load_lines(a: &TokenArgs, call: &Call, key: &SigningKey, action: Action) -> anyhow::Result<ExitCode> {
    use vouch_shaken::passport::{Claims, Destination, Origin, PPT_SHAKEN, PassportHeader};
    let first: u64 = call.dest.as_str().parse().context("--dest must be digits for --load-lines")?;
    let seal = a.seal_to.as_deref().map(public_key_arg).transpose()?;
    let spc = a.spc.clone().unwrap_or_else(|| a.signer.signer_spc.clone());
    let prefix = random_uuid()?;
    let header = PassportHeader { ppt: Some(PPT_SHAKEN.into()), x5u: a.signer.x5u.clone() };
    for i in 0..u64::from(a.count) {
        let dest = Tn::canonicalize(&(first + a.cycle.map_or(i, |c| i % c)).to_string())?;
        let this = Call { orig: call.orig.clone(), dest: dest.clone() };
        let jti = format!("{prefix}-{i}");
        let line = match action {
            Action::Retrieve => format!("{}\t{}\t", dest.as_str(), a.signer.token(key, &this, action, None, jti)?),
            Action::Publish => {
                let claims = Claims {
                    attest: Some(vouch_shaken::Attestation::A),
                    dest: Destination { tn: vec![dest.clone()], uri: vec![] },
                    iat: unix_now(),
                    orig: Origin::Tn(call.orig.clone()),
                    origid: Some(random_uuid()?),
                    rcd: None,
                    crn: None,
                    div: None,
                };
                let mut item = key.sign(&header, &claims)?;
                if let Some(to) = &seal {
                    item = seal_passport(to, &spc, &dest, &call.orig, &item)?;
                }
                let digest = passports_digest(std::slice::from_ref(&item))?;
                format!("{}\t{}\t{item}", dest.as_str(), a.signer.token(key, &this, action, Some(digest), jti)?)
            }
        };
        out!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
