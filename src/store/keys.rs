//! API keys: generated, shown once, stored as SHA-256 hashes.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Store, StoreError, new_id, now};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    CaseEngine,
    Analyst,
    Approver,
    Soar,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::CaseEngine, Role::Analyst, Role::Approver, Role::Soar, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CaseEngine => "case_engine",
            Role::Analyst => "analyst",
            Role::Approver => "approver",
            Role::Soar => "soar",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("`{s}` is not a role (case_engine, analyst, approver, soar, admin)"))
    }
}

/// Who is calling: the key's id, name and role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    pub key_id: String,
    pub name: String,
    pub role: Role,
}

impl Identity {
    /// How the identity appears in the audit trail and approvals.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.name, self.key_id)
    }

    /// The identity of in-process commands (`triage recommend`, `triage eval`).
    pub fn local(name: &str) -> Identity {
        Identity { key_id: "local".into(), name: name.into(), role: Role::Admin }
    }
}

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Store {
    /// Creates a key and returns `(identity, secret)`. The secret is not stored.
    pub fn create_key(&self, name: &str, role: Role) -> Result<(Identity, String), StoreError> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        let secret: String = (0..40).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
        let secret = format!("trk_{secret}");
        let id = new_id("key");
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO api_keys (id, name, role, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, name, role.as_str(), hash_key(&secret), now()],
            )?;
            Ok(())
        })?;
        Ok((Identity { key_id: id, name: name.to_string(), role }, secret))
    }

    /// The identity a presented key belongs to, if it is valid.
    pub fn authenticate(&self, key: &str) -> Result<Option<Identity>, StoreError> {
        let conn = self.conn()?;
        let row = conn
            .query_row("SELECT id, name, role FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL", params![hash_key(key.trim())], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .optional()?;
        Ok(row.and_then(|(key_id, name, role)| Some(Identity { key_id, name, role: role.parse().ok()? })))
    }
}
