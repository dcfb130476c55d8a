use std::fmt;

use serde::{Deserialize, Serialize};

/// The lifecycle state shared by every managed object:
/// `created → provision → ready | error | degradation → destroy → destroyed`,
/// with `waiting` for a deployment whose dependencies are missing.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Accepted, nothing done yet.
    #[default]
    Created,
    /// Being placed or started.
    Provision,
    /// Blocked on missing dependencies (secrets, configs, volumes).
    Waiting,
    /// Running as desired.
    Ready,
    /// Failed; the status message says why.
    Error,
    /// Partly running.
    Degradation,
    /// Asked to go away; being torn down.
    Destroy,
    /// Torn down.
    Destroyed,
}

impl State {
    /// Every state, in lifecycle order.
    pub const ALL: [State; 8] = [
        State::Created,
        State::Provision,
        State::Waiting,
        State::Ready,
        State::Error,
        State::Degradation,
        State::Destroy,
        State::Destroyed,
    ];

    /// The lowercase name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Provision => "provision",
            State::Waiting => "waiting",
            State::Ready => "ready",
            State::Error => "error",
            State::Degradation => "degradation",
            State::Destroy => "destroy",
            State::Destroyed => "destroyed",
        }
    }

    /// `destroy` or `destroyed`: the object is on its way out.
    pub fn is_terminating(self) -> bool {
        matches!(self, State::Destroy | State::Destroyed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state with the reason behind it, as every status carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Status {
    /// Where the object is in its lifecycle.
    pub state: State,
    /// Why, when the state is not the obvious one (an error, a wait).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Status {
    /// A status with a state and no message.
    pub fn new(state: State) -> Self {
        Self {
            state,
            message: String::new(),
        }
    }

    /// A status with a state and a message.
    pub fn with_message(state: State, message: impl Into<String>) -> Self {
        Self {
            state,
            message: message.into(),
        }
    }
}
