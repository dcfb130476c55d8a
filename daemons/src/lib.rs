//! The reference daemons of lastbackend-rs. Each subcommand is wiring: parse
//! its configuration, build components from the library crates, run them.
#![warn(missing_docs)]

pub mod api;
pub mod config;
mod run_api;

use clap::{Parser, Subcommand};

use crate::config::ApiArgs;

/// The `lastbackend` command line.
#[derive(Debug, Parser)]
#[command(
    name = "lastbackend",
    version,
    about = "Last.Backend container platform daemons"
)]
pub struct Cli {
    /// The daemon to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The daemons.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one process on the embedded store: api, controller,
    /// discovery, ingress, exporter and a node agent.
    Up,
    /// The REST API server (default :2967).
    Api(Box<ApiArgs>),
    /// The cluster controller and scheduler.
    Controller,
    /// The node agent that runs pods on Docker (default :2969).
    Node,
    /// The service discovery DNS server (default :53).
    Discovery,
    /// The ingress that routes outside traffic through HAProxy.
    Ingress,
    /// The log collector (default :2963 logs, :2964 HTTP).
    Exporter,
}

impl Cli {
    /// Runs the chosen daemon.
    pub fn run(self) -> anyhow::Result<()> {
        if let Command::Api(args) = self.command {
            return run_api::run(*args);
        }
        anyhow::bail!(
            "`lastbackend {}` is not yet available in this build; see the README's roadmap",
            format!("{:?}", self.command).to_lowercase()
        )
    }
}
