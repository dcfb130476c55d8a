//! `lastbackend`: one binary, one subcommand per daemon.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    lastbackend::Cli::parse().run()
}
