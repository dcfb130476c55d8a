//! The access token: `--access-token` for every daemon that calls or serves
//! the API, and `--insecure-no-auth` for the two that serve HTTP (the API
//! and the exporter), with their one resolution.

use std::fmt;

use clap::Args;

use super::ConfigError;

/// `--access-token`: the token a daemon presents to the API. Daemons whose
/// help says more override it with `help_overrides`, so the flag, its variable and
/// its resolution are declared once.
#[derive(Clone, Debug, Default, Args)]
#[non_exhaustive]
pub struct TokenArgs {
    /// Access token to API server.
    #[arg(long, env = "LB_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
}

impl TokenArgs {
    /// The flag over the file's `token`; an empty token is no token.
    pub fn resolve(self, file: Option<String>) -> Option<String> {
        self.access_token.or(file).filter(|t| !t.is_empty())
    }
}

/// A server's `--access-token` and `--insecure-no-auth`: serving without a
/// token must be asked for.
#[derive(Clone, Debug, Default, Args)]
#[non_exhaustive]
pub struct AccessArgs {
    /// The token.
    #[command(flatten)]
    pub token: TokenArgs,
    /// Serve the API without any authentication (YAML `insecure_no_auth`).
    /// Without it an empty or missing token is a configuration error.
    #[arg(long, env = "LB_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
}

impl AccessArgs {
    /// Flags over the file's `token` and `insecure_no_auth`: a token, or
    /// [`Access::Open`] when asked for; neither, or both, is an error.
    pub fn resolve(
        self,
        file_token: Option<String>,
        file_insecure: Option<bool>,
    ) -> Result<Access, ConfigError> {
        let insecure = self.insecure_no_auth || file_insecure.unwrap_or(false);
        match (self.token.resolve(file_token), insecure) {
            (Some(token), false) => Ok(Access::Token(token)),
            (None, true) => Ok(Access::Open),
            (None, false) => Err(ConfigError::invalid(
                "--access-token (YAML `token`)",
                "is empty or missing: set a token, or pass --insecure-no-auth \
                 (YAML `insecure_no_auth: true`) to serve without authentication",
            )),
            (Some(_), true) => Err(ConfigError::invalid(
                "--insecure-no-auth (YAML `insecure_no_auth`)",
                "contradicts the access token that is set: give one or the other",
            )),
        }
    }
}

/// Who may call a server.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    /// Callers present this token.
    Token(String),
    /// Anyone: only with `--insecure-no-auth`.
    Open,
}

impl Access {
    /// The token, `None` when open.
    pub fn into_token(self) -> Option<String> {
        match self {
            Self::Token(token) => Some(token),
            Self::Open => None,
        }
    }
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::Open => f.write_str("Open"),
        }
    }
}
