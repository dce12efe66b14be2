//! `vouch`: the registry server and its command-line tools.

mod client;
mod config;
mod serve;

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
    Serve(config::ServeArgs),
    /// Import data into a running server.
    #[command(subcommand)]
    Import(ImportCommand),
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Import(ImportCommand::Numbers { file, chunk, client }) => {
            client::import_numbers(&client, &file, chunk as usize)
        }
        Command::Import(ImportCommand::Sanctions { file, client }) => client::import_sanctions(&client, &file),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vouch: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
