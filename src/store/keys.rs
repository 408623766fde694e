//! API keys: generated, shown once, stored as SHA-256 hashes; each belongs to a principal
//! (a person or a system), may expire, and can be revoked. Creating and revoking a key and
//! every failed sign-in are audited.

use std::fmt;
use std::str::FromStr;

use super::db::{Row, params};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use serde_json::json;

use super::audit::append;
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

/// Who is calling: the key's id, name and role, and the person or system it belongs to.
/// Dual control counts principals, not keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    pub principal: String,
}

impl Identity {
    /// How the identity appears in the audit trail and approvals.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.name, self.key_id)
    }

    /// The identity of in-process commands (`triage recommend`, `triage eval`).
    pub fn local(name: &str) -> Identity {
        Identity { key_id: "local".into(), name: name.into(), role: Role::Admin, principal: name.into() }
    }
}

/// A key to create. `principal` defaults to the key's name.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub principal: Option<String>,
    /// RFC 3339, UTC; the key gets 401 from then on.
    pub expires_at: Option<String>,
}

impl NewKey {
    /// A key to create from what an operator typed: the name and a given principal are
    /// trimmed and must be 1 to 128 characters. A blank principal is refused rather than
    /// read as "the name": dual control counts principals, so who a key speaks for must
    /// be said or defaulted on purpose.
    pub fn checked(name: &str, role: Role, principal: Option<&str>, expires_at: Option<String>) -> Result<NewKey, String> {
        let sized = |what: &str, v: &str| -> Result<String, String> {
            let v = v.trim();
            if v.is_empty() || v.chars().count() > 128 { Err(format!("`{what}` must be 1 to 128 characters")) } else { Ok(v.to_string()) }
        };
        Ok(NewKey { name: sized("name", name)?, role, principal: principal.map(|p| sized("principal", p)).transpose()?, expires_at })
    }
}

/// A key as listed: never its secret, which is not stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    pub principal: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// `active`, `revoked` or `expired`.
    pub status: &'static str,
}

/// The outcome of presenting a key.
#[derive(Debug, Clone, PartialEq)]
pub enum SignIn {
    Valid(Identity),
    Unknown,
    Revoked(String),
    Expired(String),
}

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Lets failed sign-ins with one unknown key be told apart without storing the key.
fn fingerprint(key: &str) -> String {
    hash_key(key.trim())[..12].to_string()
}

const KEY_COLUMNS: &str = "id, name, role, COALESCE(principal, name), created_at, expires_at, revoked_at";

fn key_row(r: &Row, now: &str) -> Result<KeyRecord, StoreError> {
    let role: String = r.get(2)?;
    let role = role.parse::<Role>().map_err(|e| StoreError::Corrupt(format!("key role: {e}")))?;
    let expires_at: Option<String> = r.get(5)?;
    let revoked_at: Option<String> = r.get(6)?;
    let status = match (&revoked_at, &expires_at) {
        (Some(_), _) => "revoked",
        (None, Some(e)) if e.as_str() <= now => "expired",
        _ => "active",
    };
    Ok(KeyRecord { key_id: r.get(0)?, name: r.get(1)?, role, principal: r.get(3)?, created_at: r.get(4)?, expires_at, revoked_at, status })
}

impl Store {
    /// Creates a key whose principal is its name; returns `(identity, secret)`.
    pub fn create_key(&self, name: &str, role: Role) -> Result<(Identity, String), StoreError> {
        self.create_key_with(&NewKey { name: name.into(), role, principal: None, expires_at: None }, "system")
    }

    /// Creates a key on behalf of `by` (audited) and returns `(identity, secret)`. The secret
    /// is not stored, only its hash.
    pub fn create_key_with(&self, new: &NewKey, by: &str) -> Result<(Identity, String), StoreError> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        let secret: String = (0..40).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
        let secret = format!("trk_{secret}");
        let id = new_id("key");
        let principal = new.principal.clone().filter(|p| !p.trim().is_empty()).unwrap_or_else(|| new.name.clone());
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO api_keys (id, name, role, key_hash, created_at, principal, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, new.name, new.role.as_str(), hash_key(&secret), now(), principal, new.expires_at],
            )?;
            append(tx, by, "key.created", &id, &json!({"name": new.name, "role": new.role, "principal": principal, "expires_at": new.expires_at}))?;
            Ok(())
        })?;
        Ok((Identity { key_id: id, name: new.name.clone(), role: new.role, principal }, secret))
    }

    /// Every key, newest first, with its status at `at`.
    pub fn keys(&self, at: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let conn = self.read()?;
        let rows = conn.query_map(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id"), params![], |r| key_row(r, at))?;
        Ok(rows)
    }

    /// Revokes a key at once (audited); `KeyAlreadyRevoked` when it already was.
    pub fn revoke_key(&self, id: &str, by: &str, at: &str) -> Result<KeyRecord, StoreError> {
        self.tx(|tx| {
            let key = tx
                .query_opt(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"), params![id], |r| key_row(r, at))?
                .ok_or_else(|| StoreError::NotFound(format!("key {id}")))?;
            if key.revoked_at.is_some() {
                return Err(StoreError::KeyAlreadyRevoked(id.to_string()));
            }
            tx.execute("UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2", params![at, id])?;
            append(tx, by, "key.revoked", id, &json!({"name": key.name, "principal": key.principal}))?;
            Ok(KeyRecord { revoked_at: Some(at.to_string()), status: "revoked", ..key })
        })
    }

    /// Who a presented key belongs to at `at`. Every failure is an audit event.
    pub fn sign_in(&self, key: &str, at: &str) -> Result<SignIn, StoreError> {
        let record = {
            let conn = self.read()?;
            conn.query_opt(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1"), params![hash_key(key.trim())], |r| key_row(r, at))?
        };
        let outcome = match record {
            None => SignIn::Unknown,
            Some(k) if k.status == "revoked" => SignIn::Revoked(k.key_id),
            Some(k) if k.status == "expired" => SignIn::Expired(k.key_id),
            Some(k) => return Ok(SignIn::Valid(Identity { key_id: k.key_id, name: k.name, role: k.role, principal: k.principal })),
        };
        let (reason, subject) = match &outcome {
            SignIn::Revoked(id) => ("revoked key", id.clone()),
            SignIn::Expired(id) => ("expired key", id.clone()),
            _ => ("unknown key", format!("fingerprint:{}", fingerprint(key))),
        };
        self.failed_sign_in(reason, &subject)?;
        Ok(outcome)
    }

    /// Records a failed sign-in: a missing, malformed, unknown, revoked or expired key.
    pub fn failed_sign_in(&self, reason: &str, subject: &str) -> Result<(), StoreError> {
        self.audit("anonymous", "auth.failed", subject, &json!({"reason": reason}))?;
        Ok(())
    }

    /// The identity a presented key belongs to now, if it is valid.
    pub fn authenticate(&self, key: &str) -> Result<Option<Identity>, StoreError> {
        Ok(match self.sign_in(key, &now())? {
            SignIn::Valid(who) => Some(who),
            _ => None,
        })
    }
}
