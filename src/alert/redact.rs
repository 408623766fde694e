//! Secret redaction, applied to every alert before anything else sees it.
//!
//! Each secret becomes a typed placeholder (`[REDACTED:github_token#1]`); the same secret
//! gets the same placeholder within a request, so correlations survive. The originals stay
//! in memory for the request only: they are never logged, stored or sent to a model.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

/// `(kind, pattern, capture group holding the secret)`.
static PATTERNS: LazyLock<Vec<(&'static str, Regex, usize)>> = LazyLock::new(|| {
    let raw: [(&str, &str, usize); 14] = [
        ("private_key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----", 0),
        ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", 0),
        ("aws_access_key", r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16})\b", 1),
        ("aws_secret_key", r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})"#, 1),
        ("github_token", r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})", 1),
        ("gitlab_token", r"\b(gl(?:pat|dt|rt|cbt|ptt|ft|imt|agent|oas)-[A-Za-z0-9_\-]{20,})", 1),
        ("slack_token", r"\b(xox[abposr]-[A-Za-z0-9-]{10,})", 1),
        ("slack_webhook", r"(https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,})", 1),
        ("google_api_key", r"\b(AIza[0-9A-Za-z_-]{35})", 1),
        ("stripe_key", r"\b((?:sk|rk)_live_[0-9A-Za-z]{20,})", 1),
        ("npm_token", r"\b(npm_[A-Za-z0-9]{36})", 1),
        ("bearer_token", r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{20,}=*)", 1),
        ("url_password", r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:([^@\s/]+)@", 1),
        (
            "assigned_secret",
            r#"(?i)\b(?:password|passwd|pwd|secret|client_secret|api_?key|apikey|access_?key|secret_?key|auth_?token|access_token|refresh_token|token)["']?\s*[:=]\s*["']?([^\s"'&,;<>]{4,})"#,
            1,
        ),
    ];
    raw.into_iter().filter_map(|(kind, pattern, group)| Regex::new(pattern).ok().map(|re| (kind, re, group))).collect()
});

/// Redacts secrets across the values of one request, numbering placeholders per kind.
#[derive(Default)]
pub struct Redactor {
    placeholders: HashMap<String, String>,
    counts: HashMap<&'static str, usize>,
    /// When set, each secret's fingerprint is taken before it is replaced (placeholder →
    /// `fp_…`), so targets can name it without holding it.
    fingerprint_key: Option<super::fingerprint::FingerprintKey>,
    fingerprints: HashMap<String, String>,
}

/// What was redacted: how many secrets of each kind. The originals are not kept here.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Redacted {
    pub count: usize,
    pub kinds: Vec<String>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// A redactor that also fingerprints every secret it replaces.
    pub fn with_fingerprints(key: super::fingerprint::FingerprintKey) -> Self {
        Redactor { fingerprint_key: Some(key), ..Self::default() }
    }

    /// The fingerprint of the secret a placeholder stands for, when one was taken.
    pub fn fingerprint_of(&self, placeholder: &str) -> Option<&str> {
        self.fingerprints.get(placeholder).map(String::as_str)
    }

    /// A copy of `value` with every secret in every string (keys included) replaced.
    pub fn redact_value(&mut self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact_str(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.redact_value(v)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| {
                        let v = if is_secret_key(k) && v.is_string() && !is_placeholder(v) {
                            Value::String(self.placeholder("assigned_secret", v.as_str().unwrap_or_default()))
                        } else {
                            self.redact_value(v)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    pub fn redact_str(&mut self, text: &str) -> String {
        let mut out = text.to_string();
        for (kind, re, group) in PATTERNS.iter() {
            if !re.is_match(&out) {
                continue;
            }
            out = re
                .replace_all(&out, |caps: &Captures| {
                    let whole = caps.get(0).map(|m| m.as_str()).unwrap_or_default();
                    let Some(secret) = caps.get(*group) else {
                        return whole.to_string();
                    };
                    if secret.as_str().starts_with("[REDACTED:") {
                        return whole.to_string();
                    }
                    let placeholder = self.placeholder(kind, secret.as_str());
                    let start = secret.start() - caps.get(0).map(|m| m.start()).unwrap_or(0);
                    let end = start + secret.len();
                    format!("{}{}{}", &whole[..start], placeholder, &whole[end..])
                })
                .into_owned();
        }
        out
    }

    fn placeholder(&mut self, kind: &'static str, secret: &str) -> String {
        if let Some(p) = self.placeholders.get(secret) {
            return p.clone();
        }
        let n = self.counts.entry(kind).or_default();
        *n += 1;
        let p = format!("[REDACTED:{kind}#{n}]");
        if let Some(key) = &self.fingerprint_key {
            self.fingerprints.insert(p.clone(), key.fingerprint(secret));
        }
        self.placeholders.insert(secret.to_string(), p.clone());
        p
    }

    pub fn summary(&self) -> Redacted {
        let mut kinds: Vec<String> = self.counts.keys().map(|k| k.to_string()).collect();
        kinds.sort();
        Redacted { count: self.placeholders.len(), kinds }
    }
}

fn is_placeholder(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with("[REDACTED:"))
}

/// JSON keys whose string value is a secret whatever it looks like.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', ' '], "_");
    matches!(
        k.as_str(),
        "password" | "passwd" | "client_secret" | "secret_access_key" | "aws_secret_access_key" | "private_key" | "api_key" | "apikey" | "secret_key"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_known_secret_shapes_and_keeps_the_rest() {
        let mut r = Redactor::new();
        let input = json!({
            "cmd": "aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE",
            "url": "https://admin:hunter2hunter2@db.internal:5432/x",
            "gh": "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "kv": "login password=S3cr3t! user=bob",
            "password": "plain",
            "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            "benign": "powershell -enc SQBFAFgA"
        });
        let out = r.redact_value(&input).to_string();
        for secret in ["AKIAIOSFODNN7EXAMPLE", "hunter2hunter2", "ghp_abcdef", "eyJhbGci", "S3cr3t!", "\"plain\"", "MIIEow"] {
            assert!(!out.contains(secret), "{secret} leaked in {out}");
        }
        assert!(out.contains("[REDACTED:aws_access_key#1]"));
        assert!(out.contains("powershell -enc SQBFAFgA"));
        assert!(out.contains("user=bob"));
        assert_eq!(r.summary().count, 7);
    }

    #[test]
    fn the_same_secret_gets_the_same_placeholder() {
        let mut r = Redactor::new();
        let a = r.redact_str("key AKIAIOSFODNN7EXAMPLE");
        let b = r.redact_str("again AKIAIOSFODNN7EXAMPLE");
        assert_eq!(a.replace("key ", ""), b.replace("again ", ""));
    }

    #[test]
    fn fingerprints_are_taken_before_the_secret_is_replaced() {
        let key = crate::alert::fingerprint::FingerprintKey::from_text("a-key-for-this-test").unwrap();
        let mut r = Redactor::with_fingerprints(key.clone());
        let out = r.redact_str("token ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        assert_eq!(out, "token [REDACTED:github_token#1]");
        assert_eq!(r.fingerprint_of("[REDACTED:github_token#1]"), Some(key.fingerprint("ghp_abcdefghijklmnopqrstuvwxyz0123456789").as_str()));
        assert_eq!(Redactor::new().fingerprint_of("[REDACTED:github_token#1]"), None);
    }
}
