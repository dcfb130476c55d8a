//! The `lb` command line: argument parsing, connection settings and what
//! each command prints. The binary only parses and calls [`run`].

mod connect;
mod data;
mod namespace;
mod resources;
mod service;
mod table;
mod views;
mod wait;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

pub use connect::Connection;

/// The manifest format the manifests `lb` builds from flags are written in.
pub(crate) const MANIFEST_VERSION: &str = "v1";

/// Manage a Last.Backend cluster: namespaces, services, secrets, configs,
/// routes, volumes and nodes.
#[derive(Debug, Parser)]
#[command(name = "lb", version, propagate_version = true)]
pub struct Cli {
    /// Where the API is and how to authenticate.
    #[command(flatten)]
    pub connection: Connection,
    /// Output format: tables for people, json or yaml for scripts.
    #[arg(short, long, value_enum, global = true, default_value_t = Output::Table)]
    pub output: Output,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The tables and messages of the original `lb`.
    #[default]
    Table,
    /// The API's JSON objects.
    Json,
    /// The API's objects as YAML.
    Yaml,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Namespaces and applying manifests into them.
    #[command(subcommand, visible_alias = "ns")]
    Namespace(namespace::NamespaceCommand),
    /// Services: list, inspect, update, scale, logs.
    #[command(subcommand, visible_alias = "svc")]
    Service(service::ServiceCommand),
    /// Secrets: auth, text and file data for services.
    #[command(subcommand)]
    Secret(data::SecretCommand),
    /// Configs: text and file configuration for services.
    #[command(subcommand)]
    Config(data::ConfigCommand),
    /// Routes: external traffic into services.
    #[command(subcommand)]
    Route(resources::RouteCommand),
    /// Volumes: storage for service data.
    #[command(subcommand)]
    Volume(resources::VolumeCommand),
    /// Cluster nodes.
    #[command(subcommand)]
    Node(resources::NodeCommand),
    /// The cluster.
    #[command(subcommand)]
    Cluster(resources::ClusterCommand),
}

/// `--wait` and `--timeout` of the commands that change services.
#[derive(Clone, Copy, Debug, Args)]
pub struct WaitArgs {
    /// Wait until every changed service is ready or one fails, showing
    /// progress.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits (`90s`, `5m`).
    #[arg(long, default_value = "5m", value_parser = parse_duration, requires = "wait")]
    pub timeout: std::time::Duration,
}

/// One or more manifest files.
#[derive(Clone, Debug, Args)]
pub struct FileArgs {
    /// A manifest file (YAML or JSON, several documents allowed); repeat
    /// for more.
    #[arg(short, long = "file", required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |at| text.split_at(at));
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a duration such as 90s or 5m"))?;
    let seconds = match unit {
        "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        _ => return Err(format!("{text:?}: the unit is one of s, m, h")),
    };
    Ok(std::time::Duration::from_secs(seconds))
}

/// Runs a parsed command line; the error is what `lb` prints before it
/// exits non-zero.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let client = cli.connection.client()?;
    let out = Printer { format: cli.output };
    match cli.command {
        Command::Namespace(command) => namespace::run(&client, &out, command).await,
        Command::Service(command) => service::run(&client, &out, command).await,
        Command::Secret(command) => data::run_secret(&client, &out, command).await,
        Command::Config(command) => data::run_config(&client, &out, command).await,
        Command::Route(command) => resources::run_route(&client, &out, command).await,
        Command::Volume(command) => resources::run_volume(&client, &out, command).await,
        Command::Node(command) => resources::run_node(&client, &out, command).await,
        Command::Cluster(command) => resources::run_cluster(&client, &out, command).await,
    }
}

/// Prints either the human text or the object in the chosen format.
pub(crate) struct Printer {
    format: Output,
}

impl Printer {
    /// Prints `text` for tables, else `value` as JSON or YAML.
    pub(crate) fn show<T: Serialize + ?Sized>(&self, value: &T, text: impl FnOnce() -> String) {
        match self.format {
            Output::Table => print!("{}", text()),
            Output::Json => match serde_json::to_string_pretty(value) {
                Ok(json) => println!("{json}"),
                Err(err) => eprintln!("cannot encode as JSON: {err}"),
            },
            Output::Yaml => match yaml_serde::to_string(value) {
                Ok(yaml) => print!("{yaml}"),
                Err(err) => eprintln!("cannot encode as YAML: {err}"),
            },
        }
    }

    /// Whether people read the output (progress lines go to stderr for
    /// scripts).
    pub(crate) fn is_table(&self) -> bool {
        self.format == Output::Table
    }
}

#[cfg(test)]
mod tests;
