//! `vouch report`, `vouch trace` and `vouch risk`: the traceback verbs, over the REST API.

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::ClientArgs;
use crate::client::Client;

/// `vouch report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The offending number (E.164).
    #[arg(long)]
    number: String,
    /// When the message or call happened (RFC 3339).
    #[arg(long)]
    at: String,
    /// sms or voice.
    #[arg(long, default_value = "sms", value_parser = ["sms", "voice"])]
    channel: String,
    /// spam, phishing, fraud, robocall, spoofed, unwanted or other.
    #[arg(long, default_value = "spam")]
    category: String,
    /// The message's text (kept only as a fingerprint unless --keep-content).
    #[arg(long)]
    content: Option<String>,
    /// Keep the text itself.
    #[arg(long)]
    keep_content: bool,
    /// The call's Identity header or PASSporT (voice).
    #[arg(long)]
    identity: Option<String>,
    /// Print the JSON answer.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// `vouch trace`.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// The number (E.164).
    #[arg(long, required_unless_present = "report", conflicts_with = "report")]
    tn: Option<String>,
    /// Or: the id of a filed report.
    #[arg(long)]
    report: Option<String>,
    /// The instant (RFC 3339; default now).
    #[arg(long)]
    at: Option<String>,
    /// sms or voice (default sms, or voice with --identity).
    #[arg(long, value_parser = ["sms", "voice"])]
    channel: Option<String>,
    /// A call's Identity header or PASSporT.
    #[arg(long)]
    identity: Option<String>,
    /// The message's text, to count similar messages.
    #[arg(long)]
    content: Option<String>,
    /// Check every cited event's inclusion in the transparency log against its signed
    /// checkpoint (exit 1 if one does not verify).
    #[arg(long)]
    verify: bool,
    /// The log's note verifier key for --verify (default: the one the server publishes).
    #[arg(long)]
    log_key: Option<String>,
    /// Print the JSON answer.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// `vouch risk`.
#[derive(Debug, clap::Subcommand)]
pub enum RiskCommand {
    /// One campaign's score, reasons and signals.
    Campaign {
        /// Campaign id.
        id: String,
        /// Print the JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// One brand's score over its campaigns.
    Brand {
        /// Brand id.
        id: String,
        /// Print the JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Campaigns with activity in the window, highest risk first.
    List {
        /// Only scores at least this.
        #[arg(long, default_value_t = 1)]
        min_score: u8,
        /// Print the JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn pretty(v: &Value) -> anyhow::Result<()> {
    crate::out!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// `vouch report`.
pub fn report(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let c = Client::new(&a.client)?;
    let body = json!({
        "channel": a.channel, "number": a.number, "at": a.at, "category": a.category,
        "content": a.content, "keepContent": a.keep_content, "identity": a.identity,
    });
    let v =
        crate::client::runtime()?.block_on(c.post("/v1/reports", "application/json", serde_json::to_vec(&body)?))?;
    if a.json {
        pretty(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    crate::out!("report {} filed", s(&v["id"]));
    match field(&v, "campaignId") {
        Some(cid) => crate::out!(
            "{} was held by campaign {} (brand {}) at {}",
            s(&v["number"]),
            s(cid),
            s(&v["brandId"]),
            s(&v["at"])
        ),
        None => crate::out!("{} was held by no campaign at {}", s(&v["number"]), s(&v["at"])),
    }
    for e in v["enforced"].as_array().into_iter().flatten() {
        crate::out!(
            "enforced: {} {} — {}",
            s(&e["action"]),
            field(e, "number").map_or_else(|| s(&e["campaignId"]), s),
            s(&e["reason"])
        );
    }
    crate::out!("trace: vouch trace --report {}", s(&v["id"]));
    Ok(ExitCode::SUCCESS)
}

/// `vouch trace`.
pub fn trace(a: TraceArgs) -> anyhow::Result<ExitCode> {
    let c = Client::new(&a.client)?;
    let rt = crate::client::runtime()?;
    let path = match (&a.report, &a.tn) {
        (Some(id), _) => format!("/v1/reports/{}/trace", urlencode(id)),
        (None, Some(tn)) => {
            let mut q = format!("/v1/trace?tn={}", urlencode(tn));
            for (k, v) in [("at", &a.at), ("channel", &a.channel), ("identity", &a.identity), ("content", &a.content)] {
                if let Some(v) = v {
                    q.push_str(&format!("&{k}={}", urlencode(v)));
                }
            }
            q
        }
        (None, None) => bail!("give --tn or --report"),
    };
    let v = rt.block_on(c.get(&path))?;
    let seqs: Vec<u64> = v["evidence"].as_array().into_iter().flatten().filter_map(|e| e["seq"].as_u64()).collect();
    let verified = if a.verify {
        Some(
            rt.block_on(crate::log_cli::check_events(
                &a.client.server,
                a.log_key.clone(),
                v["evidence"].as_array().map_or(&[][..], Vec::as_slice),
            ))
            .context("the cited events could not all be checked against the transparency log")?,
        )
    } else {
        None
    };
    if a.json {
        pretty(&v)?;
    } else {
        print_trace(&v);
    }
    if let Some((size, key)) = verified {
        crate::out!(
            "verified: all {} cited events are in the log's tree of size {size} (checkpoint signed by {key})",
            seqs.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A member of `v` that is present and not JSON null.
fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get(name).filter(|x| !x.is_null())
}

fn print_trace(v: &Value) {
    crate::out!("{} {} at {}", s(&v["channel"]), s(&v["number"]), s(&v["at"]));
    match field(v, "holder") {
        Some(h) => {
            crate::out!(
                "held by campaign {} ({}, {} then, {} now) from {} until {}",
                s(&h["campaignId"]),
                s(&h["usecase"]),
                s(&h["statusThen"]),
                s(&h["statusNow"]),
                s(&h["assigned"]),
                field(h, "released").map_or("now", s)
            );
            match (h["numberSuspendedThen"].as_bool(), h["numberSuspendedNow"].as_bool()) {
                (Some(true), Some(now)) => {
                    crate::out!("  the number itself was suspended then ({} now)", if now { "and is" } else { "not" })
                }
                (_, Some(true)) => crate::out!("  the number itself is suspended now (it was not then)"),
                _ => {}
            }
            let b = &h["brand"];
            let as_of = field(b, "asOf").map(|t| format!(", as of {}", s(t))).unwrap_or_default();
            let changed = if b["changedSince"].as_bool() == Some(true) { "; changed since" } else { "" };
            crate::out!(
                "  brand {} {:?} ({}, score {}{as_of}{changed})",
                s(&b["brandId"]),
                b["displayName"].as_str().unwrap_or("-"),
                s(&b["identityStatus"]),
                b["score"]
            );
            crate::out!("  CSP {} {:?}", s(&h["csp"]["id"]), s(&h["csp"]["legalName"]));
            crate::out!("  DCA {} {:?}", s(&h["dca"]["id"]), s(&h["dca"]["legalName"]));
        }
        None => crate::out!("held by nobody at that instant (no campaign)"),
    }
    // `currentHolder` is named only when it is another campaign than the one of the instant.
    match (field(v, "currentHolder"), field(v, "holder")) {
        (Some(c), _) => crate::out!("held now by campaign {}", s(c)),
        (None, Some(h)) if field(h, "released").is_none() => crate::out!("still held by that campaign"),
        (None, _) => crate::out!("held now by nobody"),
    }
    let gateway = field(v, "gateway");
    if gateway.is_some_and(|g| field(g, "since").is_none()) {
        crate::out!("gateway: no records (the SMPP gateway does not run on this server)");
    } else if let Some(g) = gateway {
        crate::out!(
            "gateway, {} to {}: {} messages ({} accepted, {} rejected, {} flagged){}",
            s(&g["since"]),
            s(&g["until"]),
            g["messages"],
            g["accepted"],
            g["rejected"],
            g["flagged"],
            field(g, "similar").map(|n| format!(", {n} similar to the reported content")).unwrap_or_default()
        );
        for a in g["accounts"].as_array().into_iter().flatten() {
            crate::out!("  account {} of {}: {} messages", s(&a["systemId"]), s(&a["providerId"]), a["messages"]);
        }
        if let Some(n) = g["accountsHidden"].as_u64().filter(|n| *n > 0) {
            crate::out!(
                "  {n} account(s) not shown to you (the administrator, the gateway's DCA and their CSP see them)"
            );
        }
        if let Some(r) = field(g, "nearest") {
            crate::out!(
                "  nearest: {} from account {} of {}: {} ({})",
                s(&r["at"]),
                s(&r["systemId"]),
                s(&r["providerId"]),
                s(&r["verdict"]),
                s(&r["status"])
            );
        }
        let listed = g["records"].as_array().map_or(0, Vec::len);
        if g["truncated"].as_bool() == Some(true) {
            crate::out!("  {listed} records listed nearest the instant; the window holds more (--json for the list)");
        }
    }
    if let Some(c) = field(v, "call") {
        let (who, spc) = match field(c, "signer") {
            Some(p) => (format!("signed by {}", s(&p["id"])), s(&c["spc"])),
            None => match field(c, "claimedSigner") {
                Some(p) => (format!("CLAIMS to be signed by {} (not verified)", s(&p["id"])), s(&c["claimedSpc"])),
                None => ("signer unknown".to_owned(), field(c, "claimedSpc").map_or_else(|| s(&c["spc"]), s)),
            },
        };
        crate::out!(
            "call: attestation {} origid {} {who} (SPC {spc}){}",
            s(&c["attest"]),
            s(&c["origid"]),
            if c["verified"].as_bool() == Some(true) { ", signature verified" } else { ", signature NOT verified" }
        );
        if let Some(p) = field(c, "problem") {
            crate::out!("  PROBLEM: {}", s(p));
        }
        for w in c["warnings"].as_array().into_iter().flatten() {
            crate::out!("  WARNING: {}", s(w));
        }
        if let Some(p) = field(c, "signedByVouch") {
            crate::out!(
                "  vouch signed it for {} (brand {}, campaign {}) with attestation {}",
                s(&p["provider"]["id"]),
                s(&p["brandId"]),
                s(&p["campaignId"]),
                s(&p["attest"])
            );
        }
    }
    crate::out!("reports about the number: {}", v["reports"]);
    let evidence = v["evidence"].as_array().map(Vec::as_slice).unwrap_or_default();
    crate::out!("evidence: {} registry events", evidence.len());
    for e in evidence {
        crate::out!("  #{} {} {} — {}", e["seq"], s(&e["kind"]), s(&e["at"]), s(&e["shows"]));
    }
    crate::out!("answered in {} µs", v["elapsedUs"]);
}

/// `vouch risk`.
pub fn risk(cmd: RiskCommand) -> anyhow::Result<ExitCode> {
    let (path, json, client) = match &cmd {
        RiskCommand::Campaign { id, json, client } => (format!("/v1/risk/campaigns/{}", urlencode(id)), *json, client),
        RiskCommand::Brand { id, json, client } => (format!("/v1/risk/brands/{}", urlencode(id)), *json, client),
        RiskCommand::List { min_score, json, client } => {
            (format!("/v1/risk/campaigns?minScore={min_score}"), *json, client)
        }
    };
    let c = Client::new(client)?;
    let v = crate::client::runtime()?.block_on(c.get(&path))?;
    if json {
        pretty(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let print = |r: &Value| {
        let what = field(r, "campaignId")
            .map_or_else(|| format!("brand {}", s(&r["brandId"])), |c| format!("campaign {}", s(c)));
        let status = field(r, "status").map(|st| format!(" ({})", s(st))).unwrap_or_default();
        crate::out!("{what}{status}: risk {}", r["score"]);
        for reason in r["reasons"].as_array().into_iter().flatten() {
            crate::out!("  +{} {}: {}", reason["points"], s(&reason["code"]), s(&reason["detail"]));
        }
    };
    match v.as_array() {
        Some(list) => {
            if list.is_empty() {
                crate::out!("no campaign scores that high");
            }
            list.iter().for_each(print);
        }
        None => {
            print(&v);
            for c in v["campaigns"].as_array().into_iter().flatten() {
                print(c);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Percent-encodes a query value or path segment.
fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
