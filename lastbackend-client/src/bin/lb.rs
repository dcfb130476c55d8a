//! `lb`: the Last.Backend command line.

use clap::Parser;

/// Manage a Last.Backend cluster.
#[derive(Debug, Parser)]
#[command(name = "lb", version)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    Cli::parse();
    anyhow::bail!("`lb` commands are not yet available in this build; see the README's roadmap")
}
