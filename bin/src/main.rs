//! `vouch`: the registry server and its command-line tools.

/// mimalloc: the server allocates many small, short-lived buffers per request on every core.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod config;
mod cps_cli;
mod log_cli;
mod serve;
mod shaken_cli;
mod sip;
mod smpp;
mod tls;
mod trace_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// vouch: an open, identity-based trust platform for US telephone traffic.
#[derive(Debug, Parser)]
#[command(name = "vouch", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registry server (REST API on --http) on the embedded store.
    Serve(Box<config::ServeArgs>),
    /// Import data into a running server.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export data from a running server.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Sign a SHAKEN PASSporT and print the Identity header.
    Sign(shaken_cli::SignArgs),
    /// Verify an Identity header (ATIS-1000074): prints verstat and the SIP reason; exit 1 on failure.
    Verify(shaken_cli::VerifyArgs),
    /// Check certificates against the SHAKEN profile (ATIS-1000080, US SHAKEN CP); exit 1 on failure.
    Lint(shaken_cli::LintArgs),
    /// Audit the transparency log, or prove that an event is in it.
    #[command(subcommand)]
    Log(log_cli::LogCommand),
    /// File a spam report (carriers, DCAs, voice providers); prints who held the number then.
    Report(Box<trace_cli::ReportArgs>),
    /// Trace a number at an instant (or a filed report): campaign, brand, CSP and DCA then,
    /// the gateway's records, a call's signer, and the registry events it rests on.
    Trace(Box<trace_cli::TraceArgs>),
    /// Risk scores with their reasons (DCAs and the administrator).
    #[command(subcommand)]
    Risk(trace_cli::RiskCommand),
    /// Out-of-band STIR/SHAKEN: publish and retrieve PASSporTs at a Call Placement Service
    /// (with vouch's privacy mode), tokens, HPKE keys.
    #[command(subcommand)]
    Cps(cps_cli::CpsCommand),
    /// A development SHAKEN PKI (root, STI-CA, CRL signer) for tests and demos only.
    #[command(subcommand)]
    Ca(shaken_cli::CaCommand),
}

/// Where a client verb finds the server and its credentials.
#[derive(Debug, clap::Args)]
struct ClientArgs {
    /// Base URL of the vouch server.
    #[arg(long, env = "VOUCH_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// API key to act with; defaults to the administrator key in <data-dir>/admin.key.
    #[arg(long, env = "VOUCH_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Data directory whose admin.key to use when no --api-key is given.
    #[arg(long, env = "VOUCH_DATA_DIR", default_value = "./vouch-data")]
    data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Assign numbers from a CSV file of `number,campaignId,dca` rows (header optional).
    /// Idempotent: re-running an interrupted import completes it.
    Numbers {
        /// The CSV file.
        file: PathBuf,
        /// Rows per request (each request is one transaction).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        chunk: u32,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Import a sanctions list in OFAC SDN CSV layout; brands are re-screened against it.
    Sanctions {
        /// The sdn.csv file.
        file: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Import the FCC Robocall Mitigation Database CSV export (administrator); it replaces the
    /// server's snapshot, and calls from providers absent from it are refused.
    Rmd {
        /// The export (columns number, frn, business_name, implementation, …, last_updated).
        file: PathBuf,
        /// Replace the snapshot even with an export of fewer than half its filings (refused
        /// otherwise, as a likely partial download that would block the providers it leaves out)
        #[arg(long)]
        allow_shrink: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// Write the numbers a campaign holds now as CSV rows `number,campaignId,dca` (the layout
    /// `vouch import numbers` reads), ascending, to standard output or --out.
    Numbers {
        /// The campaign.
        campaign: String,
        /// Write to this file (replaced once the whole list is read) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Numbers per request.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        page: u32,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Writes one line to standard output. A closed pipe (`vouch … | head -1`) ends the process
/// quietly with status 141, as for SIGPIPE, instead of a panic.
pub fn stdout_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("vouch: error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`stdout_line`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdout_line(&format!($($arg)*)) };
}

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (aws-lc-rs, as everywhere in vouch): HTTP
    // clients built anywhere in it find it instead of having to name it.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Import(ImportCommand::Numbers { file, chunk, client }) => {
            client::import_numbers(&client, &file, chunk as usize)
        }
        Command::Import(ImportCommand::Sanctions { file, client }) => client::import_sanctions(&client, &file),
        Command::Import(ImportCommand::Rmd { file, allow_shrink, client }) => {
            client::import_rmd(&client, &file, allow_shrink)
        }
        Command::Export(ExportCommand::Numbers { campaign, out, page, client }) => {
            client::export_numbers(&client, &campaign, out.as_deref(), page)
        }
        Command::Sign(a) => shaken_cli::sign(a),
        Command::Verify(a) => shaken_cli::verify(a),
        Command::Lint(a) => shaken_cli::lint(a),
        Command::Ca(c) => shaken_cli::ca(c),
        Command::Cps(c) => cps_cli::run(c),
        Command::Log(c) => log_cli::run(c),
        Command::Report(a) => trace_cli::report(*a),
        Command::Trace(a) => trace_cli::trace(*a),
        Command::Risk(c) => trace_cli::risk(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vouch: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
