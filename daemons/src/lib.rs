//! The reference daemons of lastbackend-rs. Each subcommand is wiring: parse
//! its configuration, build components from the library crates, run them.
//!
//! The REST API server is `lastbackend_core::server` (feature `server`):
//! `lastbackend api` and `up` only serve it; [`config`] holds the flags,
//! `LB_*` variables and YAML files of the daemons. The DNS server of service
//! names is `lastbackend_runtime::discovery`, the ingress
//! `lastbackend_runtime::ingress` (HAProxy as its driver), the exporter
//! `lastbackend_runtime::exporter`; members register with the API through
//! `lastbackend_core::api::Membership`.
#![warn(missing_docs)]

mod api_client;
pub mod config;
mod daemon;
pub mod reference;
mod run_api;
mod run_controller;
mod run_discovery;
mod run_exporter;
mod run_ingress;
mod run_node;
mod run_up;

use clap::{Parser, Subcommand};

use crate::config::{
    ApiArgs, ControllerArgs, DiscoveryArgs, ExporterArgs, IngressArgs, NodeArgs, UpArgs,
};

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
    Up(Box<UpArgs>),
    /// The REST API server (default :2967).
    Api(Box<ApiArgs>),
    /// The cluster controller and scheduler (one leads at a time).
    Controller(Box<ControllerArgs>),
    /// The node agent that runs pods on Docker (default :2969).
    Node(Box<NodeArgs>),
    /// The service discovery DNS server (default :53).
    Discovery(Box<DiscoveryArgs>),
    /// The ingress that routes outside traffic through HAProxy.
    Ingress(Box<IngressArgs>),
    /// The log collector (default :2963 logs, :2964 HTTP).
    Exporter(Box<ExporterArgs>),
}

impl Cli {
    /// Runs the chosen daemon.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Up(args) => run_up::run(*args),
            Command::Api(args) => run_api::run(*args),
            Command::Controller(args) => run_controller::run(*args),
            Command::Node(args) => run_node::run(*args),
            Command::Discovery(args) => run_discovery::run(*args),
            Command::Ingress(args) => run_ingress::run(*args),
            Command::Exporter(args) => run_exporter::run(*args),
        }
    }
}
