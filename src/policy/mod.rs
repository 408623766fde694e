//! Code decides what the model may only propose: the action catalog and its tiers, the
//! environment classes that raise them, the detection of direct-execution proposals, and the signals of injected instructions.

pub mod actions;
pub mod emergency;
pub mod environment;
pub mod execution;
pub mod injection;
pub mod stream;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use actions::{ActionCatalog, ActionError, Target};
pub use environment::{EnvClass, Environments};
pub use stream::StreamPolicy;

/// Blast-radius tier of an action: how many people must approve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Automatic,
    HumanApproval,
    TwoPerson,
}

impl Tier {
    /// Distinct approvals needed before the action may leave for the SOAR.
    pub fn required_approvals(self) -> u32 {
        match self {
            Tier::Automatic => 0,
            Tier::HumanApproval => 1,
            Tier::TwoPerson => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Automatic => "automatic",
            Tier::HumanApproval => "human_approval",
            Tier::TwoPerson => "two_person",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
