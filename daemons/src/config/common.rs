//! The flags every daemon with a YAML file takes (`--verbose`, `--config`),
//! the verbosity's tracing level, and the `domain` section three daemons
//! share.

use std::path::PathBuf;

use clap::{Arg, Args};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{ConfigError, load_yaml};

/// `--verbose` and `--config`, flattened last into each daemon's flags.
///
/// The file's `verbose` is a top-level key of each daemon's YAML file, not a
/// section: `#[serde(flatten)]` would buffer the top-level values and type
/// scalars on their own (a numeric `token: 123` would stop being a string),
/// so each file keeps the key and hands it to [`CommonArgs::verbose`].
#[derive(Clone, Debug, Default, Args)]
#[non_exhaustive]
pub struct CommonArgs {
    /// Set log level from 0 to 7.
    #[arg(short, long, env = "LB_VERBOSE", value_parser = clap::value_parser!(u8).range(0..=7))]
    pub verbose: Option<u8>,
    /// Path for the configuration file (YAML).
    #[arg(short, long, env = "LB_CONFIG")]
    pub config: Option<PathBuf>,
}

impl CommonArgs {
    /// These flags with `--verbose` set: how `up` configures its components.
    pub fn verbose_only(verbose: u8) -> Self {
        Self {
            verbose: Some(verbose),
            config: None,
        }
    }

    /// The `--config` file, or the defaults of `F` when none is given.
    pub(super) fn file<F: DeserializeOwned + Default>(&self) -> Result<F, ConfigError> {
        match &self.config {
            Some(path) => load_yaml(path),
            None => Ok(F::default()),
        }
    }

    /// The flag over the file's `verbose` over 0, checked.
    pub(super) fn verbose(&self, file: Option<u8>) -> Result<u8, ConfigError> {
        check_verbose(self.verbose.or(file).unwrap_or(0))
    }
}

/// Gives the named shared flags a daemon's own help text, for
/// `#[command(mut_args(help_overrides(..)))]`: a shared group declares a
/// flag once, and a daemon whose help says more about it says so here.
/// `mut_arg` would move each flag to the end of the list, and
/// `docs/flags.md` lists them in order; an id matching no flag shows there
/// too, as the old help text.
pub(super) fn help_overrides(
    helps: &'static [(&'static str, &'static str)],
) -> impl FnMut(Arg) -> Arg {
    move |arg| match helps.iter().find(|(id, _)| arg.get_id() == *id) {
        Some((_, help)) => arg.help(*help),
        None => arg,
    }
}

/// Refuses a verbosity above 7 (the YAML file is not range-checked by clap).
pub(super) fn check_verbose(verbose: u8) -> Result<u8, ConfigError> {
    if verbose > 7 {
        return Err(ConfigError::invalid(
            "--verbose (YAML `verbose`)",
            format!("{verbose} is out of range: accepted 0 to 7"),
        ));
    }
    Ok(verbose)
}

/// The tracing level for the docs' `--verbose` 0–7: the original logged
/// debug lines at verbosity 3 and above and its most detailed ones at 7.
pub fn log_level(verbose: u8) -> tracing::Level {
    match verbose {
        0..=2 => tracing::Level::INFO,
        3..=6 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    }
}

/// The `domain` section of the API's, the controller's and discovery's
/// files.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DomainFile {
    pub(super) internal: Option<String>,
    pub(super) external: Option<String>,
}

impl DomainFile {
    /// The internal domain: `flag` over the file over `lb.local`.
    pub(super) fn internal(&mut self, flag: Option<String>) -> String {
        flag.or(self.internal.take())
            .unwrap_or_else(|| "lb.local".to_owned())
    }
}

/// A network driver's section under `network` (`cpi`, `cni`) in the node's
/// and the ingress's files.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DriverFile {
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    /// The docs spell it `iterface` under `cni`.
    #[serde(default, alias = "iterface")]
    pub(super) interface: InterfacesFile,
}

/// A driver's interfaces.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InterfacesFile {
    pub(super) external: Option<String>,
    pub(super) internal: Option<String>,
}

#[cfg(test)]
mod tests;
