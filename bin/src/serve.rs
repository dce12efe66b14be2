//! `vouch serve`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use vouch_service::{Registry, SystemClock};
use vouch_store::Store;

use crate::config::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.resolve()?;
    init_logging(config.json_logs);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
        restrict_dir(&config.data_dir);
        let db = config.data_dir.join("vouch.db");
        let store = Store::open(&db).await.with_context(|| format!("cannot open the store {}", db.display()))?;
        let registry =
            Arc::new(Registry::open(store.clone(), Arc::new(SystemClock)).await.context("cannot load the registry")?);
        if let Some(key) = registry.bootstrap_admin().await.context("cannot create the administrator key")? {
            let path = config.data_dir.join("admin.key");
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
        let app = vouch_http::router(vouch_http::AppState::new(registry.clone()));
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "vouch serving");
        crate::out!("vouch: listening on http://{addr}");
        let _ = std::io::stdout().flush();
        axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("HTTP server failed")?;
        tracing::info!("shutting down");
        store.close().await;
        crate::out!("vouch: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
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

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    writeln!(f, "{secret}")?;
    f.sync_all()
}
