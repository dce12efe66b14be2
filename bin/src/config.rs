//! `vouch serve` configuration: flags, `VOUCH_*` environment variables, and an optional TOML
//! file, in that order of precedence, with errors that name the bad value and its source.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Flags of `vouch serve`; each also reads a `VOUCH_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Directory of the embedded store, the administrator key and other state [default: ./vouch-data]
    #[arg(long, env = "VOUCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the REST API listener [default: 127.0.0.1:8080]
    #[arg(long, env = "VOUCH_HTTP")]
    pub http: Option<SocketAddr>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "VOUCH_LOG_FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// TOML file with the same settings (data_dir, http, log_format); flags and environment win.
    #[arg(long, env = "VOUCH_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The TOML file's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    http: Option<String>,
    log_format: Option<String>,
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub http: SocketAddr,
    pub json_logs: bool,
}

impl ServeArgs {
    /// Resolves flags, environment, file and defaults.
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => load(path)?,
            None => FileConfig::default(),
        };
        let file_name = self.config.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default();
        let http = match (self.http, file.http) {
            (Some(a), _) => a,
            (None, Some(s)) => s
                .parse()
                .with_context(|| format!("{file_name}: http = {s:?} is not a socket address such as 127.0.0.1:8080"))?,
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let log_format = self.log_format.or(file.log_format).unwrap_or_else(|| "text".into());
        if !matches!(log_format.as_str(), "text" | "json") {
            bail!("{file_name}: log_format = {log_format:?} must be \"text\" or \"json\"");
        }
        Ok(ServeConfig {
            data_dir: self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./vouch-data")),
            http,
            json_logs: log_format == "json",
        })
    }
}

fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs { data_dir: None, http: None, log_format: None, config: None }
    }

    #[test]
    fn defaults() {
        let c = args().resolve().unwrap();
        assert_eq!(c.http.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./vouch-data"));
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vouch.toml");
        std::fs::write(&path, "http = \"127.0.0.1:9999\"\ndata_dir = \"/tmp/x\"\n").unwrap();
        let mut a = args();
        a.config = Some(path.clone());
        let c = a.clone().resolve().unwrap();
        assert_eq!(c.http.port(), 9999);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        a.http = Some("127.0.0.1:7000".parse().unwrap());
        assert_eq!(a.resolve().unwrap().http.port(), 7000);
    }

    #[test]
    fn bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vouch.toml");
        std::fs::write(&path, "http = \"localhost\"\n").unwrap();
        let mut a = args();
        a.config = Some(path.clone());
        let e = a.clone().resolve().unwrap_err().to_string();
        assert!(e.contains("http = \"localhost\""), "{e}");
        std::fs::write(&path, "htp = \"127.0.0.1:1\"\n").unwrap();
        let e = a.resolve().unwrap_err().to_string();
        assert!(e.contains("unknown field") && e.contains("htp"), "{e}");
    }
}
