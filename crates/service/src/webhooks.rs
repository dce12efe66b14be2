//! Notifications to providers: a POST of a JSON document to the URL a provider set, signed
//! with HMAC-SHA256 under the secret vouch issued it, retried with back-off
//! (docs/TRACEBACK.md, "Webhooks").
//!
//! The signature header is `Vouch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>`; a receiver recomputes it over the raw body and refuses a stale `t`.

use std::time::Duration;

use aws_lc_rs::hmac;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::mpsc;
use vouch_registry::{CampaignId, Event, EventBody, ProviderId, Role};
use vouch_store::{Store, WebhookRow};

use crate::auth::random_chars;
use crate::{Principal, Registry, ServiceError};

/// How many attempts a delivery gets (the waits between them double from 1 s).
const ATTEMPTS: u32 = 6;
/// Deliveries waiting for the sender; past this, new ones are dropped and counted.
const QUEUE: usize = 10_000;
/// One attempt's time limit.
const TIMEOUT: Duration = Duration::from_secs(5);

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

struct Delivery {
    url: String,
    secret: String,
    id: String,
    kind: &'static str,
    body: Vec<u8>,
}

/// The sender of notifications.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    queue: mpsc::Sender<Delivery>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("url", &self.url).field("id", &self.id).finish_non_exhaustive()
    }
}

impl Webhooks {
    /// Starts the sender.
    pub(crate) fn start() -> Self {
        let (queue, mut rx) = mpsc::channel::<Delivery>(QUEUE);
        let client = vouch_certfetch::client_tls_config(&[]).ok().and_then(|tls| {
            reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .ok()
        });
        tokio::spawn(async move {
            let Some(client) = client else {
                tracing::error!("webhooks: cannot build an HTTP client; notifications are not sent");
                while rx.recv().await.is_some() {
                    metrics::counter!("vouch_webhook_deliveries_total", "outcome" => "failed").increment(1);
                }
                return;
            };
            while let Some(d) = rx.recv().await {
                tokio::spawn(deliver(client.clone(), d));
            }
        });
        Self { queue }
    }

    /// Queues `n` for each provider that set a webhook.
    pub(crate) async fn notify(&self, store: &Store, providers: &[ProviderId], n: &Notification) {
        for (i, p) in providers.iter().enumerate() {
            if providers[..i].contains(p) {
                continue;
            }
            let hook = match store.webhook(*p).await {
                Ok(Some(h)) => h,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(provider = %p, error = %e, "webhooks: cannot read the provider's webhook");
                    continue;
                }
            };
            let id = format!("N{}", random_chars(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 15));
            let Ok(body) = serde_json::to_vec(&Notification { id: id.clone(), ..n.clone() }) else { continue };
            let d = Delivery { url: hook.url, secret: hook.secret, id, kind: n.kind, body };
            if self.queue.try_send(d).is_err() {
                metrics::counter!("vouch_webhook_deliveries_total", "outcome" => "dropped").increment(1);
                tracing::warn!(provider = %p, "webhooks: the queue is full; a notification was dropped");
            }
        }
    }
}

async fn deliver(client: reqwest::Client, d: Delivery) {
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=ATTEMPTS {
        let t = Timestamp::now().as_second();
        let sent = client
            .post(&d.url)
            .header("content-type", "application/json")
            .header("vouch-signature", webhook_signature(&d.secret, t, &d.body))
            .header("vouch-delivery", &d.id)
            .header("vouch-event", d.kind)
            .body(d.body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                metrics::counter!("vouch_webhook_deliveries_total", "outcome" => "delivered").increment(1);
                return;
            }
            Ok(r) => tracing::info!(url = %d.url, status = r.status().as_u16(), attempt, "webhook refused"),
            Err(e) => tracing::info!(url = %d.url, error = %e, attempt, "webhook failed"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    metrics::counter!("vouch_webhook_deliveries_total", "outcome" => "failed").increment(1);
    tracing::warn!(url = %d.url, delivery = %d.id, "webhook: gave up after {ATTEMPTS} attempts");
}

/// Whether `url` may receive notifications: `https`, or `http` to a loopback host.
fn check_url(url: &str) -> Result<(), ServiceError> {
    let bad = |why: &str| ServiceError::invalid("url", format!("{url:?}: {why}"));
    let u = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    let loopback = match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(bad("no host")),
    };
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("use https (plain http only to a loopback address)")),
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
        check_url(&url)?;
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

    /// Tells the CSP and DCA of each suspension, reinstatement, change or sharing in `events`.
    pub(crate) async fn notify_parties(&self, events: &[Event]) -> Result<(), ServiceError> {
        for e in events {
            let Some(n) = Notification::of(e) else { continue };
            let Some(c) = self.store.campaign(n.campaign_id).await? else { continue };
            let mut to = vec![c.csp_id];
            to.extend(c.dca_id);
            // A DCA asked to review it (a new sharing, or a change to review again) too.
            for s in c.sharing.iter().filter(|s| s.status == vouch_registry::SharingStatus::Pending) {
                if !to.contains(&s.dca_id) {
                    to.push(s.dca_id);
                }
            }
            self.webhooks.notify(&self.store, &to, &n).await;
        }
        Ok(())
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
        assert!(check_url("https://hooks.example.com/vouch").is_ok());
        assert!(check_url("http://127.0.0.1:8080/h").is_ok());
        assert!(check_url("http://[::1]:8080/h").is_ok());
        assert!(check_url("http://hooks.example.com/h").is_err());
        assert!(check_url("https://u:p@hooks.example.com/").is_err());
        assert!(check_url("ftp://127.0.0.1/").is_err());
        assert!(check_url("not a url").is_err());
    }
}
