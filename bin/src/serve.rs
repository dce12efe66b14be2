//! `vouch serve`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use vouch_service::{CallAuth, Enforcement, FailurePolicy, Registry, SystemClock, VoiceConfig};
use vouch_store::Store;

use crate::config::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.resolve()?;
    init_logging(config.json_logs);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // SIGHUP re-reads the TLS certificates, from the first moment (its default would stop
        // vouch, also while it starts).
        let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP received: reading the TLS certificates again");
                crate::tls::reload_requests().send_modify(|n| *n += 1);
            }
        });
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
        restrict_dir(&config.data_dir);
        let store = match &config.database {
            Some(url) => Store::connect(url)
                .await
                .with_context(|| format!("cannot open the database {}", crate::config::redact(url)))?,
            None => {
                let db = config.data_dir.join("vouch.db");
                Store::open(&db).await.with_context(|| format!("cannot open the store {}", db.display()))?
            }
        };
        if config.rebuild_views {
            let started = std::time::Instant::now();
            let events = store.rebuild_views().await.context("cannot rebuild the registry's views from its events")?;
            crate::out!(
                "vouch: rebuilt the registry's views from {events} events in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        let registry =
            Arc::new(Registry::open(store.clone(), Arc::new(SystemClock)).await.context("cannot load the registry")?);
        registry.set_webhook_allow_net(config.webhook_allow_net.clone());
        let admin_key_file = config.data_dir.join("admin.key");
        let created = registry.bootstrap_admin().await.context("cannot create the administrator key")?;
        if created.is_none() && !store.is_shared() && !admin_key_file.exists() {
            // An embedded store restored without the file beside it: the key cannot be shown
            // again. (On a shared database only the node that created the key has the file.)
            tracing::warn!(
                path = %admin_key_file.display(),
                "the store has an administrator key but this data directory has no admin.key: copy it from \
                 the node that created it or from the backup (docs/OPERATIONS.md, \"Backups and restores\"); \
                 vouch cannot show or issue it again"
            );
        }
        if let Some(key) = created {
            let path = admin_key_file;
            write_secret(&path, &key.secret).with_context(|| format!("cannot write {}", path.display()))?;
            crate::out!(
                "vouch: created the administrator API key {} (shown once; also in {}):",
                key.key_id,
                path.display()
            );
            crate::out!("{}", key.secret);
        }
        let listener = tokio::net::TcpListener::bind(config.http)
            .await
            .with_context(|| format!("cannot listen on {} (--http / VOUCH_HTTP)", config.http))?;
        let addr = listener.local_addr()?;
        let tls = match &config.http_tls {
            Some((cert, key)) => Some(
                crate::tls::ServerCertificate::load(cert, key, ("--http-tls-cert", "--http-tls-key"))?
                    .acceptor(&[b"http/1.1"]),
            ),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        // A port the OS chose (--http 127.0.0.1:0): the default public URL (certificates' x5u,
        // the CPS's audience) names the port really bound.
        let defaulted = format!("{scheme}://{}", config.http);
        if config.http.port() == 0 && config.voice.public_url == defaulted {
            config.voice.public_url = format!("{scheme}://{addr}");
            if config.cps.audience == defaulted {
                config.cps.audience = config.voice.public_url.clone();
            }
            // So does the log's name, made from the public URL (kept from the log's first start).
            if config.log_origin == format!("{}/log", config.http) {
                config.log_origin = format!("{addr}/log");
            }
        }
        let callauth = start_callauth(&config, registry.clone()).await?;
        let sip = match config.voice.sip {
            Some(a) => {
                let tls = match &config.voice.sips {
                    Some((addr, cert, key)) => Some((
                        *addr,
                        crate::tls::ServerCertificate::load(cert, key, ("--sip-tls-cert", "--sip-tls-key"))?
                            .acceptor(&[]),
                    )),
                    None => None,
                };
                Some(crate::sip::SipServer::bind(a, tls).await?)
            }
            None => None,
        };
        let log = vouch_service::TransparencyLog::open(registry.clone(), &config.log_origin)
            .await
            .context("cannot open the transparency log")?;
        crate::out!("vouch: transparency log {}; checkpoints verify with the key", log.origin());
        crate::out!("{}", log.verifier().to_key_string());
        if let Some(state) = &config.log_audit_state {
            let size = match extends_audit_state(&log, state).await {
                Ok(size) => size,
                Err(e) => {
                    // The check integrated as sequencer: let another node take over at once.
                    let _ = log.release().await;
                    return Err(e);
                }
            };
            crate::out!("vouch: the log ({size} entries) extends the tree of {}", state.display());
        }
        let (log_stop, log_task) = start_sequencer(log.clone(), config.log_interval);
        // Several nodes on one database: apply what the others write.
        let (follow_stop, follow_stopped) = tokio::sync::oneshot::channel::<()>();
        let follow_task = store.is_shared().then(|| {
            tokio::spawn(registry.clone().follow(async move {
                let _ = follow_stopped.await;
            }))
        });
        let abuse = vouch_service::Abuse::new(registry.clone(), config.abuse.clone());
        let (abuse_stop, abuse_stopped) = tokio::sync::oneshot::channel::<()>();
        let abuse_task = tokio::spawn(abuse.clone().run(async move {
            let _ = abuse_stopped.await;
        }));
        match config.abuse.suspend_at {
            Some(at) => crate::out!(
                "vouch: enforcement on: campaigns suspended at risk {at}, numbers at {} reports",
                config.abuse.suspend_number_reports.unwrap_or(0)
            ),
            None => crate::out!("vouch: enforcement off: risk is scored, nothing is suspended automatically"),
        }
        let cps = start_cps(&config, callauth.clone())?;
        let (cps_stop, cps_stopped) = tokio::sync::oneshot::channel::<()>();
        let cps_task = tokio::spawn(cps.clone().run(async move {
            let _ = cps_stopped.await;
        }));
        let mut state = vouch_http::AppState::new(registry.clone())
            .with_callauth(callauth.clone())
            .with_cps(cps)
            .with_log(log.clone())
            .with_abuse(abuse);
        if let Some(nets) = &config.metrics_allow {
            state = state.with_metrics_allow(nets.clone());
        }
        let smpp = match &config.gateway {
            Some(g) => {
                let classifier: Option<Arc<dyn vouch_gateway::ContentClassifier>> = match &g.content_rules {
                    Some(path) => {
                        let text = std::fs::read_to_string(path)
                            .with_context(|| format!("cannot read the content rules {}", path.display()))?;
                        Some(Arc::new(vouch_gateway::TermList::parse(&text)))
                    }
                    None => None,
                };
                let gateway = vouch_service::SmppGateway::open(
                    registry.clone(),
                    vouch_gateway::GatewayConfig { dca: g.dca, policy: g.policy, throughput: g.throughput.clone() },
                    classifier,
                    jiff::SignedDuration::from_hours(24 * i64::from(g.retention_days)),
                )
                .await
                .context("cannot start the SMPP gateway (--gateway-dca must be a registered DCA)")?;
                state = state.with_gateway(gateway.clone());
                let tls = match &g.tls {
                    Some((addr, cert, key)) => Some((*addr, crate::smpp::tls_acceptor(cert, key)?)),
                    None => None,
                };
                let server = crate::smpp::SmppServer::bind(g.listen, tls).await?;
                Some((server, gateway, g.clone()))
            }
            None => None,
        };
        let app = vouch_http::router(state);
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "vouch serving");
        let sip_task = match sip {
            Some(server) => {
                let sip_addr = server.local_addr()?;
                crate::out!("vouch: SIP redirect server on sip:{sip_addr} (UDP and TCP)");
                if let Some(a) = server.tls_addr()? {
                    crate::out!("vouch: SIP redirect server over TLS on sips:{a}");
                }
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let task = tokio::spawn(server.run(callauth.clone(), async move {
                    let _ = stopped.await;
                }));
                Some((stop, task))
            }
            None => None,
        };
        let smpp_task = match smpp {
            Some((server, gateway, g)) => {
                let what = format!("for DCA {} ({}), {} upstream SMSC(s)", g.dca, g.policy.as_str(), g.smscs.len());
                if let Some(a) = server.local_addr()? {
                    crate::out!("vouch: SMPP gateway on {a} {what}");
                }
                if let Some(a) = server.tls_addr()? {
                    crate::out!("vouch: SMPP gateway over TLS on {a} {what}");
                }
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let settings = crate::smpp::SmppSettings {
                    window: g.window,
                    smscs: g.smscs.clone(),
                    receipt_ids: Some(config.data_dir.join("smpp-receipt-ids")),
                    receipt_window: std::time::Duration::from_secs(u64::from(g.receipt_window_hours) * 3600),
                };
                let task = tokio::spawn(server.run(gateway.clone(), settings, async move {
                    let _ = stopped.await;
                }));
                Some((stop, task, gateway))
            }
            None => None,
        };
        // The handlers are in place before the line a supervisor waits for: a SIGTERM right
        // after it stops vouch as gently as any other.
        let shutdown = shutdown_signal()?;
        crate::out!("vouch: listening on {scheme}://{addr}");
        let _ = std::io::stdout().flush();
        let limits = ConnectionLimits {
            total: config.http_max_connections,
            per_address: config.http_max_connections_per_address,
        };
        serve_http(listener, tls, app, limits, shutdown).await;
        tracing::info!("shutting down");
        // The SMPP drain has its own bound (docs/SMPP-GATEWAY.md, "Stopping").
        let gateway = match smpp_task {
            Some((stop, task, gateway)) => {
                let _ = stop.send(());
                let _ = task.await;
                Some(gateway)
            }
            None => None,
        };
        // Every other step may wait on the database: together they get SHUTDOWN_STEPS, not a
        // pool timeout each, so an unreachable database does not hold the stop for a minute.
        let steps = async {
            if let Some(gateway) = gateway {
                gateway.close().await;
            }
            if let Some((stop, task)) = sip_task {
                let _ = stop.send(());
                let _ = task.await;
            }
            callauth.flush().await;
            let _ = abuse_stop.send(());
            let _ = abuse_task.await;
            let _ = cps_stop.send(());
            let _ = cps_task.await;
            let _ = log_stop.send(());
            let _ = log_task.await;
            let _ = follow_stop.send(());
            if let Some(t) = follow_task {
                let _ = t.await;
            }
            store.close().await;
        };
        if tokio::time::timeout(SHUTDOWN_STEPS, steps).await.is_err() {
            tracing::error!(
                "the stop did not finish within {} s (is the database reachable?): records not yet written \
                 (signed calls, gateway decisions) are lost, and another node takes the log's sequencer lease \
                 when it expires",
                SHUTDOWN_STEPS.as_secs()
            );
        }
        crate::out!("vouch: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// The longest the steps of a stop after the HTTP and SMPP drains may take together (writing
/// the records still buffered, stopping the background tasks, giving the log's lease up,
/// closing the store); past it vouch exits anyway.
const SHUTDOWN_STEPS: std::time::Duration = std::time::Duration::from_secs(5);

/// The log's sequencer: integrates new events every `interval_ms` (and once more at shutdown).
fn start_sequencer(
    log: Arc<vouch_service::TransparencyLog>,
    interval_ms: u32,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let every = std::time::Duration::from_millis(u64::from(interval_ms));
    let task = tokio::spawn(async move {
        let mut failing = false;
        loop {
            match log.integrate().await {
                Ok(_) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::error!(error = %e, "transparency log: cannot integrate new events; will retry");
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = &mut stopped => break,
            }
        }
        if let Err(e) = log.integrate().await {
            tracing::warn!(error = %e, "transparency log: last integration at shutdown failed");
        }
        if let Err(e) = log.release().await {
            tracing::warn!(error = %e, "transparency log: cannot give the sequencer lease up");
        }
    });
    (stop, task)
}

/// The Call Placement Service, with its naming secret (created on first start).
fn start_cps(config: &crate::config::ServeConfig, callauth: Arc<CallAuth>) -> anyhow::Result<Arc<vouch_service::Cps>> {
    let c = &config.cps;
    let secret = match std::fs::read(&c.key_file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; 32] = rand::random();
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            write_secret(&c.key_file, &hex).with_context(|| format!("cannot write {}", c.key_file.display()))?;
            hex.into_bytes()
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read the CPS naming key {}", c.key_file.display())),
    };
    // 64 hex digits (as written here) are 32 bytes; any other file is the secret's raw bytes.
    let text = String::from_utf8_lossy(&secret);
    let hex = text.trim();
    let secret = if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect()
    } else {
        secret
    };
    let cps = vouch_service::Cps::new(
        callauth.clone(),
        vouch_service::CpsConfig {
            audience: c.audience.clone(),
            naming_key: secret,
            privacy: if c.privacy_required {
                vouch_service::CpsPrivacy::Required
            } else {
                vouch_service::CpsPrivacy::Optional
            },
            ttl: i64::from(c.ttl),
            max_records: 4_000_000,
            max_bytes: 2 << 30,
        },
    )
    .map_err(|e| anyhow::anyhow!("cannot start the Call Placement Service ({}): {e}", c.key_file.display()))?;
    callauth.attach_cps(&cps);
    crate::out!(
        "vouch: Call Placement Service at /passports (aud {:?}, {}, items kept {} s)",
        c.audience,
        if c.privacy_required { "sealed PASSporTs only" } else { "sealed or clear PASSporTs" },
        c.ttl
    );
    Ok(cps)
}

/// Checks, before the sequencer starts, that the log extends the tree an auditor accepted
/// (`state`, as `vouch log verify --state` writes it): the events the store holds are
/// integrated first, then the tree must be at least as large and hold that tree as its
/// prefix. Otherwise the store is older than what was published, or another log, and the
/// start is refused: writing would publish a tree that does not extend the published one (a
/// split view). Returns the log's size.
async fn extends_audit_state(log: &vouch_service::TransparencyLog, state: &std::path::Path) -> anyhow::Result<u64> {
    let st = crate::log_cli::read_state(state)?;
    let root = vouch_tlog::Hash::from_base64(&st.root).with_context(|| format!("{}: the root", state.display()))?;
    let key = log.verifier();
    if vouch_tlog::NoteVerifier::parse(&st.key).ok().as_ref() != Some(&key) {
        anyhow::bail!(
            "{} is the state of another log (key {}); this log's key is {}",
            state.display(),
            st.key.trim(),
            key.to_key_string()
        );
    }
    // Events past the last checkpoint (a backup taken between two) belong to the tree first.
    while log.integrate().await.map_err(|e| anyhow::anyhow!("cannot integrate the log: {e}"))?.added > 0 {}
    let size = log.size();
    if size < st.size {
        anyhow::bail!(
            "the log holds {size} entries but auditors accepted a tree of {} ({}): this store is older than what \
             was published (a restore from an old backup?). Taking writes would fork the log. Restore a backup \
             taken after that tree, or start a new log (docs/OPERATIONS.md, \"Backups and restores\")",
            st.size,
            state.display()
        );
    }
    let (_, _, old_root, _) = log
        .prove_consistency(st.size, Some(size))
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the tree of {} entries: {e}", st.size))?;
    if old_root.as_ref() != root.as_ref() {
        anyhow::bail!(
            "the log's tree of {} entries is not the one auditors accepted ({}): this store's history differs from \
             what was published (a split view). Do not take writes on it (docs/OPERATIONS.md, \"Backups and restores\")",
            st.size,
            state.display()
        );
    }
    Ok(size)
}

/// The trust list in `dir` as the server keeps it: a CRL past its nextUpdate still revokes
/// (signing and verification go on; with `--require-crl` it covers nothing), with a warning
/// each time the directory is read and the `vouch_trust_stale_crls` gauge.
fn trust_list(dir: &std::path::Path, now: i64) -> anyhow::Result<vouch_shaken::TrustStore> {
    let (trust, stale) = crate::shaken_cli::load_trust_keeping(dir, now, true)?;
    for p in &stale {
        tracing::warn!(
            crl = %p.display(),
            "a CRL of --trust-dir is past its nextUpdate: its revocations still apply, but fetch a new one \
             (with --require-crl it covers nothing, so chains it speaks for are refused)"
        );
    }
    metrics::gauge!("vouch_trust_stale_crls").set(stale.len() as f64);
    Ok(trust)
}

/// Call authentication: trust list, key directory, policies.
async fn start_callauth(config: &crate::config::ServeConfig, registry: Arc<Registry>) -> anyhow::Result<Arc<CallAuth>> {
    let v = &config.voice;
    let now = jiff::Timestamp::now().as_second();
    let trust = match &v.trust_dir {
        Some(dir) => trust_list(dir, now).context("--trust-dir")?,
        None => {
            tracing::warn!("no --trust-dir: no STI-PA trust anchor, so no PASSporT verifies (437)");
            vouch_shaken::TrustStore::new()
        }
    };
    let public_url = v.public_url.clone();
    // Call authentication in use (a trust list or a SIP listener): the x5u of the chains vouch
    // serves are under the public URL, and verifiers refuse an x5u that is not https.
    if !public_url.starts_with("https://") && (v.trust_dir.is_some() || v.sip.is_some()) {
        tracing::warn!(
            public_url = %public_url,
            "the public URL is not https: verifiers other than this server refuse the x5u of the certificates vouch \
             serves (<public URL>/certs/<fingerprint>.pem; 436, ATIS-1000082 E8). Serve vouch behind TLS and set \
             --public-url https://…, or register certificates with an https x5u of their own"
        );
    }
    let voice = VoiceConfig {
        public_url,
        key_dir: v.key_dir.clone(),
        trust,
        fetch: vouch_certfetch::FetchPolicy {
            allow: v.x5u_allow_net.clone(),
            extra_roots: v.x5u_tls_roots.clone(),
            ..Default::default()
        },
        freshness: i64::from(v.freshness),
        rmd: if v.rmd_block { Enforcement::Block } else { Enforcement::Flag },
        replay: if v.replay_block { Enforcement::Block } else { Enforcement::Flag },
        on_failure: if v.continue_on_failure { FailurePolicy::Continue } else { FailurePolicy::Reject },
        require_identity: v.require_identity,
        require_crl: v.require_crl,
        ..VoiceConfig::default()
    };
    let callauth = CallAuth::open(registry, voice).await.context("cannot start call authentication")?;
    // The trust directory is read again every 5 minutes: new CRLs (and anchors) take effect
    // without a restart; a directory that no longer reads keeps the last good list.
    if let Some(dir) = v.trust_dir.clone() {
        let ca = callauth.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(300));
            every.tick().await;
            loop {
                every.tick().await;
                let now = jiff::Timestamp::now().as_second();
                match trust_list(&dir, now) {
                    Ok(t) => ca.set_trust(t),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "cannot re-read --trust-dir; keeping the last trust list")
                    }
                }
            }
        });
    }
    Ok(callauth)
}

/// The HTTP/1.1 server: every connection with `TCP_NODELAY` (without it, answers to pipelined
/// requests wait out Nagle's algorithm against the client's delayed ACK, about 40 ms each on
/// Linux) and with hyper's pipeline flushing (the answers to requests that arrived together
/// leave in one write instead of one each), 30 s to send a request's head (the first, and each
/// next one on a kept-alive connection: an idle connection closes after 30 s), and the peer's
/// address as the request's `ConnectInfo` (logs of refused API keys name it). At most
/// `max_connections` at once: past that, new connections wait in the listen backlog until one
/// closes (file descriptors stay for the store, SMPP and SIP). At `shutdown`: no new
/// connections, idle ones closed, and requests in progress finished (5 s at most).
async fn serve_http(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.pipeline_flush(true)
        .keep_alive(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let max_connections = limits.total;
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let open = Arc::new(OpenConnections::default());
    let mut full_since: Option<std::time::Instant> = None;
    tokio::pin!(shutdown);
    loop {
        if slots.available_permits() == 0 && full_since.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(60))
        {
            full_since = Some(std::time::Instant::now());
            metrics::counter!("vouch_http_connection_limit_reached_total").increment(1);
            tracing::warn!(
                max_connections,
                "HTTP connections at --http-max-connections: new ones wait until one closes"
            );
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // One address may hold only its share: closed at once past it (the others go on).
        let Some(counted) = open.take(peer.ip(), limits.per_address) else {
            metrics::counter!("vouch_http_connections_refused_total", "why" => "per address").increment(1);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let service = tower::ServiceExt::map_request(app.clone(), move |mut req: axum::extract::Request<_>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            req
        });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let (http, watcher, tls) = (http.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            let served = match tls {
                None => watcher.watch(http.serve_connection(hyper_util::rt::TokioIo::new(tcp), service)).await,
                Some(acceptor) => {
                    match crate::tls::accept(&acceptor, tcp, peer, "vouch_http_tls_handshake_failures_total").await {
                        Some(stream) => {
                            watcher.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)).await
                        }
                        None => Ok(()),
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
            drop(counted);
            drop(slot);
        });
    }
    drop(listener);
    // A client that sent half a request head counts as in progress too: the wait is bounded.
    if tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await.is_err() {
        tracing::warn!("HTTP requests still in progress after 5 s; stopping anyway");
    }
}

/// How many HTTP connections are served at once: in all, and from one address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// `--http-max-connections`.
    pub(crate) total: usize,
    /// `--http-max-connections-per-address`.
    pub(crate) per_address: usize,
}

/// The HTTP connections open now, in all (the `vouch_http_connections` gauge) and by address.
#[derive(Debug, Default)]
struct OpenConnections {
    by_address: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    total: std::sync::atomic::AtomicUsize,
}

impl OpenConnections {
    /// Counts a connection from `ip`, unless `ip` already has `limit` open.
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, limit: usize) -> Option<CountedConnection> {
        let ip = ip.to_canonical();
        let mut m = self.by_address.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        let total = self.total.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        metrics::gauge!("vouch_http_connections").set(total as f64);
        Some(CountedConnection { open: self.clone(), ip })
    }
}

/// One open connection in [`OpenConnections`], uncounted when dropped.
struct CountedConnection {
    open: Arc<OpenConnections>,
    ip: std::net::IpAddr,
}

impl Drop for CountedConnection {
    fn drop(&mut self) {
        let mut m = self.open.by_address.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
        let total = self.open.total.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) - 1;
        metrics::gauge!("vouch_http_connections").set(total as f64);
    }
}

/// SIGTERM or SIGINT, registered now (until then, either kills the process at once).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or journal gets plain `key=value` text that grep
    // and fail2ban read (NO_COLOR turns them off on a terminal too).
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn restrict_dir(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot restrict the data directory to its owner");
    }
}

pub(crate) fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    writeln!(f, "{secret}")?;
    f.sync_all()
}
