//! The analyst's verdict on a closed case: what the queue, the index, the learning drafts
//! and the eval export all read.

use serde::{Deserialize, Serialize};

use crate::corpus::Disposition;
use crate::severity::Severity;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClosedCase {
    pub disposition: Disposition,
    pub severity: Severity,
    pub techniques: Vec<String>,
    pub note: String,
    pub closed_by: String,
    pub closed_at: String,
}
