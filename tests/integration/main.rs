//! Integration tests of `vouch`: every test starts the real `vouch serve` binary on a fresh
//! temporary data directory and a loopback port, and talks to it over HTTP or through the
//! `vouch import` client.
//!
//! Run with `cargo test -p vouch --test integration`.

mod harness;

mod abuse;
mod authorization;
mod bad_input;
mod browser;
mod campaigns;
mod console;
mod cps;
mod import;
mod kamailio;
mod kannel;
mod lifecycle;
mod multinode;
mod numbers;
mod pg_dr;
mod registry_flow;
mod shaken;
mod smpp;
mod smpp_accounts;
mod stir_http;
mod stir_sip;
mod tlog;
mod traceback;
mod vetting;
