//! Notifications to providers: a POST of a JSON document to the URL a provider set, signed
//! with HMAC-SHA256 under the secret vouch issued it, retried with back-off
//! (docs/TRACEBACK.md, "Webhooks").
//!
//! The signature header is `Vouch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>`; a receiver recomputes it over the raw body and refuses a stale `t`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::Notify;
use vouch_registry::{CampaignId, Event, EventBody, ProviderId, Role};
use vouch_store::{AttemptOutcome, DeliveryStatus, NewDelivery, Store, WebhookDelivery, WebhookRow};

use crate::auth::random_chars;
use crate::{Clock, Principal, Registry, ServiceError};

/// How long a delivery is retried before it is given up (it can still be retried by hand).
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The longest wait between two attempts (the waits double from 1 s up to this).
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// One attempt's time limit.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a claimed delivery is held by its sender before another may take it (a sender
/// that crashed mid-attempt): well past an attempt's time limit.
const CLAIM: Duration = Duration::from_secs(60);
/// Deliveries one sender claims at a time, and attempts under way at once.
const BATCH: u32 = 32;
/// Events the notifier reads at a time.
const EVENTS_PAGE: u32 = 500;
/// How often the loops look without being woken (other nodes' commits, due retries).
const POLL: Duration = Duration::from_secs(1);
/// Delivered and failed deliveries are kept this long for `GET …/webhook/deliveries`.
const KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// A notification as POSTed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Unique per notification and receiver (`Vouch-Delivery` too): a receiver drops repeats.
    pub id: String,
    /// The event kind: `campaign.suspended`, `campaign.resumed`, `number.suspended`,
    /// `number.reinstated`, `campaign.updated`, `campaign.shared`.
    pub kind: &'static str,
    /// The registry event (its transparency-log entry).
    pub seq: u64,
    /// When it was committed.
    pub at: Timestamp,
    /// Who caused it: a provider id, `admin`, or `system` (an enforcement policy).
    pub actor: String,
    /// The campaign.
    pub campaign_id: CampaignId,
    /// The number, for number events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Why.
    pub reason: String,
}

impl Notification {
    /// The notification for an event a CSP and DCA are told about, if it is one.
    pub(crate) fn of(e: &Event) -> Option<Self> {
        let (campaign_id, number, reason) = match &e.body {
            EventBody::CampaignSuspended { campaign_id, reason }
            | EventBody::CampaignResumed { campaign_id, reason } => (*campaign_id, None, reason.clone()),
            EventBody::NumberSuspended { number, campaign_id, reason }
            | EventBody::NumberReinstated { number, campaign_id, reason } => {
                (*campaign_id, Some(number.to_string()), reason.clone())
            }
            EventBody::CampaignUpdated { campaign_id, .. } => {
                (*campaign_id, None, "the CSP changed the campaign's declaration (GET the campaign)".into())
            }
            EventBody::CampaignShared { campaign_id, dca_id } => {
                (*campaign_id, None, format!("shared with DCA {dca_id}, which accepts or declines it"))
            }
            _ => return None,
        };
        Some(Self {
            id: String::new(),
            kind: e.body.kind(),
            seq: e.seq.0,
            at: e.time,
            actor: e.actor.to_string(),
            campaign_id,
            number,
            reason,
        })
    }
}

/// The `Vouch-Signature` value of `body` sent at `t` (unix seconds).
pub fn webhook_signature(secret: &str, t: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={t},v1={}", vouch_shaken::hex(ctx.sign().as_ref()))
}

/// The outbox's two loops: the notifier turns committed events into deliveries, the sender
/// posts them. Each is woken after this node's commits and looks every second besides.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    notifier: Arc<Notify>,
    sender: Arc<Notify>,
    allow: AllowedNets,
}

/// Special-purpose networks an operator lets webhooks reach (`--webhook-allow-net`: receivers
/// inside its own network), shared by the URL checks, the resolver and the sender.
type AllowedNets = Arc<std::sync::RwLock<Vec<ipnet::IpNet>>>;

fn allowed(allow: &AllowedNets) -> Vec<ipnet::IpNet> {
    allow.read().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Webhooks {
    /// Starts both loops on `store`.
    pub(crate) fn start(store: Store, clock: Arc<dyn Clock>) -> Self {
        let (notifier, sender) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let allow: AllowedNets = Arc::default();
        let client = vouch_certfetch::client_tls_config(&[]).ok().and_then(|tls| {
            reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                // Straight to the receiver: through HTTP(S)_PROXY the proxy would resolve the
                // name and reach addresses the resolver below refuses.
                .no_proxy()
                .dns_resolver(Arc::new(OrdinaryAddresses(allow.clone())))
                .build()
                .ok()
        });
        tokio::spawn(notify_loop(store.clone(), clock.clone(), notifier.clone(), sender.clone()));
        match client {
            Some(client) => {
                tokio::spawn(send_loop(store, clock, client, sender.clone(), allow.clone()));
            }
            None => tracing::error!("webhooks: cannot build an HTTP client; notifications wait in the outbox"),
        }
        Self { notifier, sender, allow }
    }

    /// Sets the special-purpose networks (loopback included) webhooks may reach.
    pub(crate) fn set_allowed(&self, nets: Vec<ipnet::IpNet>) {
        *self.allow.write().unwrap_or_else(|e| e.into_inner()) = nets;
    }

    /// Something was committed: look for new notifications now.
    pub(crate) fn kick(&self) {
        self.notifier.notify_one();
    }

    /// A delivery was made due: send now.
    fn kick_sender(&self) {
        self.sender.notify_one();
    }
}

/// Waits for a wake-up or `POLL`.
async fn nap(wake: &Notify) {
    let _ = tokio::time::timeout(POLL, wake.notified()).await;
}

/// The notifier: events of the notified kinds after the cursor become deliveries, one per
/// receiver with a webhook, written with the cursor's move (on several nodes, one wins each
/// move and the others read the next events).
async fn notify_loop(store: Store, clock: Arc<dyn Clock>, wake: Arc<Notify>, sender: Arc<Notify>) {
    loop {
        nap(&wake).await;
        loop {
            match notify_page(&store, clock.as_ref()).await {
                Ok(Some(written)) => {
                    if written > 0 {
                        sender.notify_one();
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot turn events into notifications; trying again");
                    break;
                }
            }
        }
    }
}

/// One page of the notifier's work: `None` when the cursor is at the last event, else how many
/// deliveries it wrote (0 also when another node moved the cursor first).
async fn notify_page(store: &Store, clock: &dyn Clock) -> Result<Option<usize>, ServiceError> {
    let cursor = store.webhook_cursor().await?;
    let (events, upto) = store.notified_events(cursor, EVENTS_PAGE).await?;
    if upto <= cursor {
        return Ok(None);
    }
    let mut deliveries = Vec::new();
    // When each receiver's webhook was set (None: it has none), read once per page.
    let mut created = std::collections::HashMap::new();
    for (_, canonical) in &events {
        let e = Event::from_canonical(canonical.as_bytes())?;
        let Some(n) = Notification::of(&e) else { continue };
        let Some(c) = store.campaign(n.campaign_id).await? else { continue };
        let mut to = vec![c.csp_id];
        to.extend(c.dca_id);
        // A DCA asked to review it (a new sharing, or a change to review again) too.
        for s in c.sharing.iter().filter(|s| s.status == vouch_registry::SharingStatus::Pending) {
            to.push(s.dca_id);
        }
        for (i, p) in to.iter().enumerate() {
            // Only a webhook set before the event hears of it: the notifier may reach an event
            // after the receiver set its webhook (another node's commit, a busy moment), and
            // what happened before the webhook was set is not sent to it.
            if to[..i].contains(p) {
                continue;
            }
            let set = match created.get(p) {
                Some(set) => *set,
                None => *created.entry(*p).or_insert(store.webhook(*p).await?.map(|h| h.created)),
            };
            if set.is_none_or(|set| set > e.time) {
                continue;
            }
            let id = format!("N{}", random_chars(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 15));
            let body = serde_json::to_string(&Notification { id: id.clone(), ..n.clone() })
                .map_err(|e| ServiceError::invalid("notification", e.to_string()))?;
            deliveries.push(NewDelivery { id, provider_id: *p, seq: e.seq.0, kind: n.kind.to_owned(), body });
        }
    }
    if store.advance_webhook_cursor(cursor, upto, &deliveries, clock.now()).await? {
        Ok(Some(deliveries.len()))
    } else {
        Ok(Some(0))
    }
}

/// The sender: claims due deliveries and attempts each, at most [`BATCH`] at once; once an hour
/// drops what is older than [`KEEP`] and done.
async fn send_loop(
    store: Store,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    wake: Arc<Notify>,
    allow: AllowedNets,
) {
    let mut pruned = std::time::Instant::now();
    loop {
        nap(&wake).await;
        if pruned.elapsed() > Duration::from_secs(3600) {
            pruned = std::time::Instant::now();
            let before = clock.now() - jiff::SignedDuration::try_from(KEEP).unwrap_or_default();
            if let Err(e) = store.prune_webhook_deliveries(before).await {
                tracing::warn!(error = %e, "webhooks: cannot prune old deliveries");
            }
        }
        loop {
            let now = clock.now();
            let hold = now + jiff::SignedDuration::try_from(CLAIM).unwrap_or_default();
            let due = match store.claim_webhook_deliveries(now, hold, BATCH).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot read due deliveries; trying again");
                    break;
                }
            };
            let full = due.len() == BATCH as usize;
            let mut attempts = tokio::task::JoinSet::new();
            for d in due {
                let (store, clock, client, allow) = (store.clone(), clock.clone(), client.clone(), allowed(&allow));
                attempts.spawn(async move {
                    let outcome = attempt(&store, clock.as_ref(), &client, &d, &allow).await;
                    if let Err(e) = store.finish_webhook_attempt(&d.id, &outcome).await {
                        tracing::warn!(delivery = %d.id, error = %e, "webhooks: cannot record an attempt");
                    }
                });
            }
            while attempts.join_next().await.is_some() {}
            if !full {
                break;
            }
        }
    }
}

/// One attempt at `d`: what it came to.
async fn attempt(
    store: &Store,
    clock: &dyn Clock,
    client: &reqwest::Client,
    d: &WebhookDelivery,
    allow: &[ipnet::IpNet],
) -> AttemptOutcome {
    let hook = match store.webhook(d.provider_id).await {
        Ok(Some(h)) => h,
        Ok(None) => {
            metrics::counter!("vouch_webhook_deliveries_total", "outcome" => "failed").increment(1);
            return AttemptOutcome::GaveUp("the provider has no webhook set".into());
        }
        Err(e) => return retry_or_give_up(clock, d, format!("cannot read the webhook: {e}")),
    };
    // A webhook set before special-purpose addresses were refused is refused now.
    if let Err(e) = check_url(&hook.url, allow) {
        metrics::counter!("vouch_webhook_deliveries_total", "outcome" => "failed").increment(1);
        return AttemptOutcome::GaveUp(e.to_string());
    }
    let t = clock.now().as_second();
    let sent = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("vouch-signature", webhook_signature(&hook.secret, t, d.body.as_bytes()))
        .header("vouch-delivery", &d.id)
        .header("vouch-event", &d.kind)
        .body(d.body.clone())
        .send()
        .await;
    let error = match sent {
        Ok(r) if r.status().is_success() => {
            metrics::counter!("vouch_webhook_deliveries_total", "outcome" => "delivered").increment(1);
            return AttemptOutcome::Delivered;
        }
        Ok(r) => format!("answered {}", r.status()),
        Err(e) => format!("{}", e.without_url()),
    };
    tracing::info!(url = %hook.url, delivery = %d.id, attempt = d.attempts, error = %error, "webhook attempt failed");
    retry_or_give_up(clock, d, error)
}

/// The next attempt after a failed one: waits of 1, 2, 4 … s up to [`MAX_WAIT`], until the
/// delivery is [`GIVE_UP_AFTER`] old.
fn retry_or_give_up(clock: &dyn Clock, d: &WebhookDelivery, error: String) -> AttemptOutcome {
    let now = clock.now();
    let wait = Duration::from_secs(1u64 << d.attempts.saturating_sub(1).min(20)).min(MAX_WAIT);
    let age = now.duration_since(d.created).unsigned_abs();
    if age >= GIVE_UP_AFTER {
        metrics::counter!("vouch_webhook_deliveries_total", "outcome" => "failed").increment(1);
        tracing::warn!(delivery = %d.id, "webhook: gave up after {} attempts over {} h", d.attempts, age.as_secs() / 3600);
        return AttemptOutcome::GaveUp(error);
    }
    AttemptOutcome::RetryAt(now + jiff::SignedDuration::try_from(wait).unwrap_or_default(), error)
}

/// Why a webhook may not reach `addr`: it is special-purpose (loopback, private, link-local
/// such as a cloud's metadata service, unspecified, …) and in no network the operator allows.
/// `None` for a public address or an allowed one. Loopback is refused too unless allowed: a
/// receiver on the vouch host itself would let any provider probe that host's ports (through
/// a delivery's `lastError`) and post to services that trust local callers.
fn refused_address(addr: IpAddr, allow: &[ipnet::IpNet]) -> Option<String> {
    // An IPv4-mapped IPv6 address is its IPv4 address (`::ffff:127.0.0.1` is in 127.0.0.0/8).
    if vouch_certfetch::ranges::in_networks(allow, addr) {
        return None;
    }
    vouch_certfetch::ranges::classify(addr).map(|range| format!("{addr} is in the special-purpose range {range}"))
}

/// The resolver of webhook hosts: a name must resolve to public addresses or ones in the
/// networks the operator allows, and the client connects to exactly the addresses checked, so
/// a name that resolves (or is made to resolve) to a private, link-local or loopback address
/// cannot carry a delivery into the operator's network. IP-literal hosts are checked by
/// [`check_url`].
struct OrdinaryAddresses(AllowedNets);

impl reqwest::dns::Resolve for OrdinaryAddresses {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let allow = allowed(&self.0);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs = checked_addresses(&host, addrs, &allow).map_err(std::io::Error::other)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The addresses `host` resolved to, if a webhook may connect to all of them; else why not.
/// `localhost` keeps those of its loopback addresses the operator allows (`127.0.0.0/8`
/// allowed and `::1` not: the IPv4 one).
fn checked_addresses(host: &str, addrs: Vec<SocketAddr>, allow: &[ipnet::IpNet]) -> Result<Vec<SocketAddr>, String> {
    let addrs = if host.eq_ignore_ascii_case("localhost") {
        if let Some(a) = addrs.iter().find(|a| !a.ip().to_canonical().is_loopback()) {
            return Err(format!("localhost resolves to {}, which is not loopback", a.ip()));
        }
        addrs.into_iter().filter(|a| refused_address(a.ip(), allow).is_none()).collect()
    } else {
        addrs
    };
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address a webhook may reach; {ALLOW_HINT}"));
    }
    for a in &addrs {
        if let Some(why) = refused_address(a.ip(), allow) {
            return Err(format!("{host} resolves to {why}"));
        }
    }
    Ok(addrs)
}

/// What an operator is told to allow for a special-purpose address.
const ALLOW_HINT: &str =
    "webhooks go to public addresses, or to networks the operator allows (vouch serve --webhook-allow-net CIDR)";

/// Whether `url` may receive notifications: `https`, or `http` to an IP literal (or
/// `localhost`) in `allow`; never an IP literal in a special-purpose range outside `allow`, nor
/// `localhost` unless loopback is allowed (other names are checked when resolved,
/// [`OrdinaryAddresses`]).
fn check_url(url: &str, allow: &[ipnet::IpNet]) -> Result<(), ServiceError> {
    let bad = |why: &str| ServiceError::invalid("url", format!("{url:?}: {why}"));
    let u = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    let literal = match u.host() {
        Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            // Checked now (it resolves to loopback) rather than at each delivery.
            let loopback = [IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)];
            match loopback.into_iter().find(|a| refused_address(*a, allow).is_none()) {
                Some(a) => Some(a),
                None => return Err(bad(&format!("localhost is loopback, a special-purpose range; {ALLOW_HINT}"))),
            }
        }
        Some(url::Host::Domain(_)) => None,
        None => return Err(bad("no host")),
    };
    if let Some(why) = literal.and_then(|a| refused_address(a, allow)) {
        return Err(bad(&format!("{why}; {ALLOW_HINT}")));
    }
    match u.scheme() {
        "https" => {}
        // Plain http only inside the operator's own networks, never across the internet.
        "http" if literal.is_some_and(|a| vouch_certfetch::ranges::in_networks(allow, a)) => {}
        _ => return Err(bad("use https (plain http only to an IP address or localhost in an allowed network)")),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("credentials do not belong in the URL; verify the signature instead"));
    }
    if url.len() > 2048 {
        return Err(bad("longer than 2,048 characters"));
    }
    Ok(())
}

impl Registry {
    /// Lets webhooks reach these special-purpose networks, loopback included (the operator's own
    /// receivers, `--webhook-allow-net`); checked when a webhook is set and at each attempt.
    pub fn set_webhook_allow_net(&self, nets: Vec<ipnet::IpNet>) {
        self.webhooks.set_allowed(nets);
    }

    fn webhook_owner(p: &Principal, provider: ProviderId) -> Result<(), ServiceError> {
        if p.is_admin() || p.provider() == Some(provider) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "only provider {provider} or the administrator can manage its webhook"
            )))
        }
    }

    /// Sets where `provider`'s notifications go, with a new signing secret (the caller shows
    /// it once).
    pub async fn set_webhook(
        &self,
        p: &Principal,
        provider: ProviderId,
        url: String,
    ) -> Result<WebhookRow, ServiceError> {
        Self::webhook_owner(p, provider)?;
        let row = self.store.provider(provider).await?.ok_or_else(|| ServiceError::not_found("provider", provider))?;
        if !row.registration.has_role(Role::Csp) && !row.registration.has_role(Role::Dca) {
            return Err(ServiceError::invalid("providerId", "notifications go to CSPs and DCAs"));
        }
        let url = url.trim().to_owned();
        check_url(&url, &allowed(&self.webhooks.allow))?;
        let webhook = WebhookRow {
            provider_id: provider,
            url,
            secret: format!("whsec_{}", random_chars(b"0123456789abcdefghijklmnopqrstuvwxyz", 32)),
            created: self.now(),
        };
        self.store.set_webhook(&webhook).await?;
        Ok(webhook)
    }

    /// `provider`'s webhook.
    pub async fn webhook(&self, p: &Principal, provider: ProviderId) -> Result<WebhookRow, ServiceError> {
        Self::webhook_owner(p, provider)?;
        self.store.webhook(provider).await?.ok_or_else(|| ServiceError::not_found("webhook", provider))
    }

    /// Removes `provider`'s webhook.
    pub async fn delete_webhook(&self, p: &Principal, provider: ProviderId) -> Result<(), ServiceError> {
        Self::webhook_owner(p, provider)?;
        if self.store.delete_webhook(provider).await? {
            Ok(())
        } else {
            Err(ServiceError::not_found("webhook", provider))
        }
    }

    /// `provider`'s deliveries, newest first (at most `limit`), only those in `status` if given.
    pub async fn webhook_deliveries(
        &self,
        p: &Principal,
        provider: ProviderId,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, ServiceError> {
        Self::webhook_owner(p, provider)?;
        self.store.provider(provider).await?.ok_or_else(|| ServiceError::not_found("provider", provider))?;
        Ok(self.store.webhook_deliveries(provider, status, limit).await?)
    }

    /// Sends one of `provider`'s deliveries again now (failed, delivered or still pending).
    pub async fn retry_webhook_delivery(
        &self,
        p: &Principal,
        provider: ProviderId,
        id: &str,
    ) -> Result<WebhookDelivery, ServiceError> {
        Self::webhook_owner(p, provider)?;
        let d = self
            .store
            .retry_webhook_delivery(provider, id, self.now())
            .await?
            .ok_or_else(|| ServiceError::not_found("delivery", id))?;
        self.webhooks.kick_sender();
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_time_dot_body() {
        // Python: hmac.new(b"k", b"1.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            webhook_signature("k", 1, b"{}"),
            "t=1,v1=3dd49b2593d0f9a349e9e71c4bde3e2b862c2be4003fe9b4ba81332029310158"
        );
    }

    #[test]
    fn urls() {
        assert!(check_url_plain("https://hooks.example.com/vouch").is_ok());
        assert!(check_url_plain("http://hooks.example.com/h").is_err());
        assert!(check_url_plain("https://u:p@hooks.example.com/").is_err());
        assert!(check_url_plain("not a url").is_err());
        assert!(check_url_plain("https://8.8.8.8/h").is_ok());
        assert!(check_url_plain("http://8.8.8.8/h").is_err(), "plain http across the internet");
        // Special-purpose IP literals: loopback (the vouch host's own ports), the cloud's
        // metadata service, private networks, unspecified, IPv4-mapped, link-local and
        // unique-local IPv6.
        for url in [
            "http://127.0.0.1:8080/h",
            "http://[::1]:8080/h",
            "http://[::ffff:127.0.0.1]:8080/h",
            "https://127.1.2.3/h",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
            "https://100.64.0.1/",
            "https://0.0.0.0:22/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://[::]/",
            "http://10.0.0.1/",
            "https://localhost:8443/h",
            "http://LOCALHOST/h",
        ] {
            let e = check_url_plain(url).expect_err(url);
            assert!(e.to_string().contains("special-purpose"), "{url}: {e}");
        }
    }

    #[test]
    fn loopback_only_when_the_operator_allows_it() {
        let v4: Vec<ipnet::IpNet> = vec!["127.0.0.0/8".parse().expect("net")];
        assert!(check_url("http://127.0.0.1:8080/h", &v4).is_ok());
        assert!(check_url("http://[::ffff:127.0.0.1]:8080/h", &v4).is_ok());
        assert!(check_url("http://localhost:8080/h", &v4).is_ok());
        assert!(check_url("http://[::1]:8080/h", &v4).is_err());
        assert!(check_url("ftp://127.0.0.1/", &v4).is_err());
        let at = socket_addrs;
        // localhost keeps its allowed loopback addresses; another name may not mix them.
        assert_eq!(checked_addresses("localhost", at(&["::1", "127.0.0.1"]), &v4), Ok(at(&["127.0.0.1"])));
        assert!(checked_addresses("localhost", at(&["::1", "127.0.0.1"]), &[]).is_err());
        assert!(checked_addresses("localhost", at(&["127.0.0.1", "10.0.0.1"]), &v4).is_err());
        assert!(checked_addresses("hooks.lab", at(&["127.0.0.1"]), &v4).is_ok());
        assert!(checked_addresses("hooks.lab", at(&["127.0.0.1", "::1"]), &v4).is_err());
    }

    /// `ips` as resolved addresses (port 0).
    fn socket_addrs(ips: &[&str]) -> Vec<SocketAddr> {
        ips.iter().map(|ip| SocketAddr::new(ip.parse().expect("an IP"), 0)).collect()
    }

    fn check_url_plain(url: &str) -> Result<(), ServiceError> {
        check_url(url, &[])
    }

    #[test]
    fn an_operator_allows_its_own_networks() {
        let allow: Vec<ipnet::IpNet> = vec!["10.20.0.0/16".parse().expect("net")];
        assert!(check_url("http://10.20.1.5:8080/h", &allow).is_ok());
        assert!(check_url("https://10.20.1.5/h", &allow).is_ok());
        assert!(check_url("https://10.21.1.5/h", &allow).is_err());
        assert!(check_url("https://169.254.169.254/", &allow).is_err());
        let at = SocketAddr::new("10.20.3.4".parse().expect("ip"), 0);
        assert!(checked_addresses("hooks.internal", vec![at], &allow).is_ok());
        assert!(checked_addresses("hooks.internal", vec![at], &[]).is_err());
    }

    #[test]
    fn names_must_resolve_to_ordinary_addresses() {
        let at = socket_addrs;
        assert!(checked_addresses("hooks.example.com", at(&["93.184.215.14", "2606:2800:21f:cb07::1"]), &[]).is_ok());
        assert!(checked_addresses("localhost", at(&["127.0.0.1", "::1"]), &[]).is_err());
        for ips in [&["10.1.2.3"][..], &["93.184.215.14", "169.254.169.254"], &["127.0.0.1"], &["fd00::1"]] {
            assert!(checked_addresses("rebind.example.com", at(ips), &[]).is_err(), "{ips:?}");
        }
        assert!(checked_addresses("localhost", at(&["10.0.0.1"]), &[]).is_err());
        assert!(checked_addresses("hooks.example.com", Vec::new(), &[]).is_err());
    }
}
