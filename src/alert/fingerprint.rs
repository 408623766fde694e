//! Stable fingerprints of secrets: `fp_<first 16 hex of HMAC-SHA-256(key, secret)>`.
//!
//! A redacted token can't be acted on, and the secret itself must never be kept; its
//! fingerprint under a key of this deployment can. The same secret always gives the same
//! fingerprint, a SOAR holding the secret can compute it (`POST /v1/fingerprint`), and
//! without the key nobody can test guesses against stored fingerprints.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Name of the key file inside the data dir.
pub const KEY_FILE: &str = "fingerprint.key";

#[derive(Debug, thiserror::Error)]
pub enum FingerprintKeyError {
    #[error("fingerprint key {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("fingerprint key: {0}")]
    Invalid(String),
}

/// The deployment's fingerprint key. Cheap to clone; its `Debug` never shows it.
#[derive(Clone)]
pub struct FingerprintKey(Arc<Vec<u8>>);

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(<redacted>)")
    }
}

impl FingerprintKey {
    /// A key from its text (at least 16 characters).
    pub fn from_text(text: &str) -> Result<FingerprintKey, FingerprintKeyError> {
        let t = text.trim();
        if t.len() < 16 {
            return Err(FingerprintKeyError::Invalid("must be at least 16 characters".into()));
        }
        Ok(FingerprintKey(Arc::new(t.as_bytes().to_vec())))
    }

    /// The configured key (`TRIAGE_FINGERPRINT_KEY`) when given, else the key file in the
    /// data dir, created with 32 random bytes and mode 0600 on first use. Replicas on one
    /// database must share one key, or their fingerprints won't match.
    pub fn load(data_dir: &Path, configured: Option<&str>) -> Result<FingerprintKey, FingerprintKeyError> {
        if let Some(k) = configured.filter(|k| !k.trim().is_empty()) {
            return Self::from_text(k);
        }
        let path = data_dir.join(KEY_FILE);
        let io = |source| FingerprintKeyError::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_text(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let key = hex::encode(rand::random::<[u8; 32]>());
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(&path) {
                    Ok(mut f) => {
                        f.write_all(key.as_bytes()).map_err(io)?;
                        f.sync_all().map_err(io)?;
                        Self::from_text(&key)
                    }
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::from_text(&std::fs::read_to_string(&path).map_err(io)?),
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    /// `fp_` and the first 16 hex digits of HMAC-SHA-256 of the secret under this key.
    pub fn fingerprint(&self, secret: &str) -> String {
        // HMAC takes keys of any length; this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).map(|mut m| {
            m.update(secret.as_bytes());
            m.finalize().into_bytes()
        });
        match mac {
            Ok(bytes) => format!("fp_{}", &hex::encode(bytes)[..16]),
            Err(_) => String::from("fp_unavailable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_secret_same_fingerprint_other_key_other_fingerprint() {
        let a = FingerprintKey::from_text("0123456789abcdef0123").unwrap();
        let b = FingerprintKey::from_text("another-key-of-this-length").unwrap();
        let s = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        assert_eq!(a.fingerprint(s), a.fingerprint(s));
        assert_ne!(a.fingerprint(s), b.fingerprint(s));
        let fp = a.fingerprint(s);
        assert!(fp.starts_with("fp_") && fp.len() == 19 && !fp.contains("ghp_"));
        assert!(FingerprintKey::from_text("short").is_err());
        assert!(!format!("{a:?}").contains("0123"));
    }

    #[test]
    fn the_key_file_is_created_private_once() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = FingerprintKey::load(dir.path(), None).unwrap();
        let k2 = FingerprintKey::load(dir.path(), None).unwrap();
        assert_eq!(k1.fingerprint("x"), k2.fingerprint("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let configured = FingerprintKey::load(dir.path(), Some("configured-key-123456")).unwrap();
        assert_ne!(configured.fingerprint("x"), k1.fingerprint("x"));
    }
}
