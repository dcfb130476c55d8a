//! The `nftables` proxy driver: DNAT from each service VIP:port to its pods
//! in a table of its own (`ip lastbackend`), spread at random (or round
//! robin) by `numgen` over a map of upstream slots.
//!
//! It talks to the kernel through the `nft` binary, one `nft -f -` batch per
//! sync, which the kernel applies as one transaction: all or nothing, and a
//! packet never sees half a change. Netlink from Rust was weighed and not
//! taken: `rustables` is GPL-3.0 (this project is Apache-2.0), `nftnl`
//! binds the GPL libnftnl, and a hand-rolled nf_tables encoder would be the
//! largest and least-tested part of this driver. What made the binary fast
//! enough is the table's layout (see `plan`): an endpoint change is element
//! edits only, so nft loads no chain or rule cache; measured with 10,000
//! services programmed, one change takes a few milliseconds (figures in
//! `benches/proxy_sync.rs`), against ~100 ms with per-service maps.
//!
//! The runner is injectable ([`NftRunner`]) so tests program a network
//! namespace (`ip netns exec <ns> nft`) and unit tests script it.

mod plan;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::process::Stdio;
use std::sync::Arc;

use async_trait::async_trait;
use lastbackend_core::model::EndpointSpec;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::{Cpi, ProxySync, service};
use crate::{Error, Result};
use plan::{TABLE, Table};

/// How a service's connections are spread over its upstreams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Spread {
    /// Each new connection picks an upstream at random (`numgen random`).
    #[default]
    Random,
    /// Upstreams in turn (`numgen inc`). The counter lives in the DNAT rule,
    /// which all services with the same number of upstreams share, so the
    /// turn is exact per service only when it alone has that many.
    RoundRobin,
}

impl Spread {
    const fn chain_prefix(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::RoundRobin => "rr",
        }
    }
}

/// Why running `nft` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NftError {
    /// The program could not be started.
    #[error("cannot run {program}: {source} (install the nftables package; the agent needs root)")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// nft ran and refused.
    #[error("nft {args} failed: {stderr}")]
    Failed {
        /// Its arguments.
        args: String,
        /// What it printed.
        stderr: String,
    },
}

impl NftError {
    /// The object named does not exist (nft's `No such file or directory`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Failed { stderr, .. } if stderr.contains("No such file or directory"))
    }
}

impl From<NftError> for Error {
    fn from(err: NftError) -> Self {
        Error::backend("nftables", err)
    }
}

/// Runs `nft`: the driver's one boundary to the kernel.
#[async_trait]
pub trait NftRunner: Send + Sync + fmt::Debug {
    /// Runs nft with `args`, feeding `input` on stdin; returns its stdout.
    async fn run(&self, args: &[&str], input: Option<&str>) -> Result<String, NftError>;
}

/// [`NftRunner`] that starts a program: `nft`, or a wrapper such as
/// `ip netns exec <ns> nft`.
#[derive(Clone, Debug)]
pub struct NftCommand {
    argv: Vec<String>,
}

impl Default for NftCommand {
    fn default() -> Self {
        Self {
            argv: vec!["nft".into()],
        }
    }
}

impl NftCommand {
    /// `nft` from `PATH`, in this process's network namespace.
    pub fn new() -> Self {
        Self::default()
    }

    /// `nft` in the named network namespace (`ip netns exec <ns> nft`).
    pub fn in_netns(netns: &str) -> Self {
        Self {
            argv: ["ip", "netns", "exec", netns, "nft"]
                .map(String::from)
                .to_vec(),
        }
    }
}

#[async_trait]
impl NftRunner for NftCommand {
    async fn run(&self, args: &[&str], input: Option<&str>) -> Result<String, NftError> {
        let mut command = tokio::process::Command::new(&self.argv[0]);
        command.args(&self.argv[1..]).args(args).kill_on_drop(true);
        command.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let spawn = |source| NftError::Spawn {
            program: self.argv.join(" "),
            source,
        };
        let mut child = command.spawn().map_err(spawn)?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(input.as_bytes()).await.map_err(spawn)?;
        }
        let output = child.wait_with_output().await.map_err(spawn)?;
        if !output.status.success() {
            return Err(NftError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The nftables driver.
#[derive(Debug)]
pub struct Nftables {
    runner: Arc<dyn NftRunner>,
    spread: Spread,
    /// What the table holds; `None` until read from the kernel, and again
    /// after a failed batch, so the next sync starts from the truth.
    state: Mutex<Option<Loaded>>,
}

/// The driver's view of the kernel.
#[derive(Debug)]
struct Loaded {
    table: Table,
    /// The input the table was last synced to; `None` after a read-back.
    /// With it, a sync re-flattens only the endpoints that changed.
    input: Option<BTreeMap<String, EndpointSpec>>,
}

impl Nftables {
    /// A driver running `runner`, spreading by `spread`. It reads the table
    /// back from the kernel on its first sync.
    pub fn new(runner: Arc<dyn NftRunner>, spread: Spread) -> Self {
        Self {
            runner,
            spread,
            state: Mutex::new(None),
        }
    }

    /// A driver on this host's `nft`, spreading at random.
    pub fn host() -> Self {
        Self::new(Arc::new(NftCommand::new()), Spread::Random)
    }

    async fn read_back(&self) -> Result<Table, NftError> {
        match self
            .runner
            .run(&["-j", "list", "table", "ip", TABLE], None)
            .await
        {
            Ok(listing) => Ok(state::parse(&listing)),
            Err(err) if err.is_not_found() => Ok(Table::Absent),
            Err(err) => Err(err),
        }
    }
}

#[async_trait]
impl Cpi for Nftables {
    fn name(&self) -> &str {
        "nftables"
    }

    async fn sync(&self, endpoints: &BTreeMap<String, EndpointSpec>) -> Result<ProxySync> {
        let mut state = self.state.lock().await;
        let (table, input) = match state.take() {
            Some(loaded) => (loaded.table, loaded.input),
            None => (self.read_back().await?, None),
        };
        let changed = input
            .as_ref()
            .and_then(|input| service::changed_selflinks(input, endpoints));
        let plan = match (&input, &changed) {
            (Some(input), Some(changed)) => {
                let updates = service::changes(input, endpoints, changed);
                plan::plan_changes(table, &updates, self.spread)
            }
            _ => plan::plan(table, &service::desired(endpoints), self.spread),
        };
        if !plan.batch.is_empty() {
            // On failure the state stays `None`: the next sync reads back.
            self.runner.run(&["-f", "-"], Some(&plan.batch)).await?;
        }
        let changed: Option<Vec<String>> = changed.map(|c| c.into_iter().cloned().collect());
        let input = match (changed, input) {
            (Some(changed), Some(mut input)) => {
                // Only the endpoints that differ are copied.
                for selflink in changed {
                    match endpoints.get(&selflink) {
                        Some(spec) => input.insert(selflink, spec.clone()),
                        None => input.remove(&selflink),
                    };
                }
                input
            }
            _ => endpoints.clone(),
        };
        *state = Some(Loaded {
            table: plan.next,
            input: Some(input),
        });
        Ok(plan.sync)
    }

    async fn teardown(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        *state = None;
        match self
            .runner
            .run(&["delete", "table", "ip", TABLE], None)
            .await
        {
            Err(err) if !err.is_not_found() => return Err(err.into()),
            _ => {}
        }
        *state = Some(Loaded {
            table: Table::Absent,
            input: None,
        });
        Ok(())
    }
}

/// The batch that programs `endpoints` into an empty namespace in one go:
/// what a proxy without incremental updates runs on every change. Exposed
/// for the benchmark's baseline.
#[doc(hidden)]
pub fn full_batch(endpoints: &BTreeMap<String, EndpointSpec>, spread: Spread) -> String {
    plan::plan(Table::Absent, &service::desired(endpoints), spread).batch
}

#[cfg(test)]
mod tests;
