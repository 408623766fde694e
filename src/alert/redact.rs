//! Secret redaction, applied to every alert before anything else sees it.
//!
//! Each secret becomes a typed placeholder (`[REDACTED:github_token#1]`); the same secret
//! gets the same placeholder within a request, so correlations survive. The originals stay
//! in memory for the request only: they are never logged, stored or sent to a model.
//!
//! Secrets are found three ways, measured against the corpora in
//! `tests/fixtures/redaction/` (secret shapes as they appear in real alerts, and
//! look-alikes that are evidence and must stay):
//!
//! - **by shape**: tokens whose format gives them away wherever they sit (AWS key ids,
//!   GitHub/GitLab/Slack/Stripe/npm/PyPI tokens, JWTs, PEM private keys, …);
//! - **by name**: a value beside a secret-like name, in any casing and separator
//!   (`SecretAccessKey`, `db_password`, `client-secret`, `AWS_SECRET_ACCESS_KEY`), as a
//!   JSON key, a `key=value` or `key: value` pair in text, or a command-line flag; names
//!   that only describe a secret (`PasswordLastSet`, `token_type`, `access_key_id`) don't
//!   count, and a name that merely ends in `key` counts only beside a high-entropy value;
//! - **by position**: the password arguments of common tools (`mysql -p…`, `net user bob
//!   <password> /add`, `sshpass -p`, `curl -u user:pass`, `ConvertTo-SecureString "…"`).
//!
//! Opaque high-entropy JSON keys are redacted too (a token used as a key). Standalone
//! high-entropy values are not: hashes, GUIDs and encoded commands are evidence.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex, RegexSet, RegexSetBuilder};
use serde_json::{Map, Value};

/// `(kind, pattern, capture group holding the secret)`: secrets recognisable by shape or
/// by the tool they are given to. Applied in order; later patterns skip placeholders.
const RAW_PATTERNS: &[(&str, &str, usize)] = &[
    // Whole key blocks first, so no later pattern sees a piece of one. An END line may
    // be missing when a log cut the key off.
    ("private_key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:.,-]*)", 0),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", 0),
    ("aws_access_key", r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16})\b", 1),
    ("github_token", r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})", 1),
    ("gitlab_token", r"\b(gl(?:pat|dt|rt|cbt|ptt|ft|imt|agent|oas|soat)-[A-Za-z0-9_\-]{20,})", 1),
    ("slack_token", r"\b(xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})", 1),
    ("slack_webhook", r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,})", 1),
    ("google_api_key", r"\b(AIza[0-9A-Za-z_-]{35})", 1),
    ("google_oauth", r"\b(GOCSPX-[A-Za-z0-9_-]{20,}|ya29\.[A-Za-z0-9_-]{20,}|1//0[A-Za-z0-9_-]{30,})", 1),
    ("stripe_key", r"\b((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,}|whsec_[0-9A-Za-z]{20,})", 1),
    ("npm_token", r"\b(npm_[A-Za-z0-9]{36})", 1),
    ("pypi_token", r"\b(pypi-[A-Za-z0-9_-]{50,})", 1),
    ("azure_client_secret", r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?:$|[^A-Za-z0-9_~.-])", 1),
    ("azure_sas", r"(?i)[?&;]sig=([A-Za-z0-9%+/=]{16,})", 1),
    (
        "api_token",
        r"\b(sk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{32,}|hf_[A-Za-z0-9]{30,}|SG\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|dop_v1_[a-f0-9]{64}|hvs\.[A-Za-z0-9_-]{20,}|glc_[A-Za-z0-9+/=_-]{30,})",
        1,
    ),
    // HTTP authentication: the credential after the scheme.
    (
        "http_auth",
        r#"(?i)\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:basic|bearer|digest|negotiate|ntlm|token|apikey|api-key|sso-key|key|sharedkey|sharedkeylite)\s+([^\s"',;]+)"#,
        1,
    ),
    ("bearer_token", r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)", 1),
    ("cookie", r#"(?i)\b(?:set-)?cookie["']?\s*:\s*["']?([^\r\n"']+)"#, 1),
    // The password runs to the last `@` of the authority: passwords hold `@` too.
    ("url_password", r"\b[a-z][a-z0-9+.-]*://[^/\s:]*:([^\s/]+)@", 1),
    // Command lines: password arguments of common tools.
    ("cli_password", r"\b(?:mysql|mysqldump|mysqladmin|mariadb|mysqlimport|mysqlshow)(?:\.exe)?\b[^\n|;&]*?\s-p([^\s'\x22-][^\s'\x22]*)", 1),
    ("cli_password", r"\b(?:mysql|mysqldump|mysqladmin|mariadb|mysqlimport|mysqlshow)(?:\.exe)?\b[^\n|;&]*?\s-p'([^']+)'", 1),
    ("cli_password", r"\b(?:mysql|mysqldump|mysqladmin|mariadb|mysqlimport|mysqlshow)(?:\.exe)?\b[^\n|;&]*?\s-p\x22([^\x22]+)\x22", 1),
    ("cli_password", r"\bsshpass\s+(?:-[a-zA-Z]\s+\S+\s+)*-p\s*(\S+)", 1),
    ("cli_password", r"(?i)\bnet1?(?:\.exe)?\s+user\s+(?:\x22[^\x22]+\x22|[^\s/\x22]+)\s+([^\s/*][^\s]*)", 1),
    ("cli_password", r"(?i)\bnet1?(?:\.exe)?\s+use\s+(?:[a-z]:\s+|\*\s+)?\\\\\S+\s+([^\s/*][^\s]*)", 1),
    ("cli_password", r"(?i)\bnet1?(?:\.exe)?\s+use\b[^\n]*?/user:\S+\s+([^\s/*][^\s]*)", 1),
    ("cli_password", r"(?i)\b(?:psexec(?:64)?|paexec)(?:\.exe)?\b[^\n]*?\s-p\s+(\S+)", 1),
    ("cli_password", r"(?i)\bschtasks(?:\.exe)?\b[^\n]*?\s/r?p\s+([^\s/]\S*)", 1),
    ("cli_password", r"\b(?:sqlcmd|bcp|osql)(?:\.exe)?\b[^\n]*?\s-P\s*(\S+)", 1),
    ("cli_password", r"\bsmbclient\b[^\n]*?\s-U\s+[^\s%]+%(\S+)", 1),
    ("cli_password", r"(?i)\b(?:xfreerdp|wfreerdp)\b[^\n]*?\s/p:(\S+)", 1),
    ("cli_password", r"\bredis-cli\b[^\n]*?\s-a\s+(\S+)", 1),
    ("cli_password", r"\bldap(?:search|modify|add|delete|passwd|whoami)\b[^\n]*?\s-w\s+(\S+)", 1),
    ("cli_password", r"\b(?:docker|podman|helm|oras)\s+(?:registry\s+)?login\b[^\n]*?\s-p\s+(\S+)", 1),
    ("cli_password", r"\b(?:mongo|mongosh|mongodump|mongorestore|mongoexport)\b[^\n]*?\s-p\s+(\S+)", 1),
    ("cli_password", r"\baz\s+login\b[^\n]*?\s-p\s+(\S+)", 1),
    ("cli_password", r"-pass(?:in|out)?\s+pass:(\S+)", 1),
    ("cli_password", r"(?i)ConvertTo-SecureString\s+(?:-\w+\s+)*[\x22']([^\x22']+)[\x22']", 1),
    ("cli_password", r"(?i)\bvault\s+login\s+(?:-\S+\s+)*([A-Za-z0-9._-]{20,})", 1),
    ("basic_credentials", r"\b(?:curl|wget|http)\b[^\n]*?\s(?:-u|--user)(?:\s+|=)[\x22']?[^\s\x22':]+:([^\s\x22']+)", 1),
    ("cli_password", r"(?i)\bmachine\s+\S+(?:\s+login\s+\S+)?\s+password\s+(\S+)", 1),
    ("cli_password", r"\bhtpasswd\s+(?:-\w+\s+)*-\w*b\w*\s+\S+\s+\S+\s+(\S+)", 1),
    ("cli_password", r"\becho\s+[\x22']?[\w.@-]+:([^\s\x22'|]+)[\x22']?\s*\|\s*(?:sudo\s+)?chpasswd", 1),
    ("cli_password", r"\becho\s+[\x22']?([^\x22'|\s]+)[\x22']?\s*\|\s*sudo\s+(?:-\w+\s+)*-S\b", 1),
    ("cli_password", r"(?i)\bDefaultPassword\b[^\n]*?\s/d\s+[\x22']?([^\s\x22']+)", 1),
];

static PATTERNS: LazyLock<Vec<(&'static str, Regex, usize)>> =
    LazyLock::new(|| RAW_PATTERNS.iter().filter_map(|(kind, pattern, group)| Regex::new(pattern).ok().map(|re| (*kind, re, *group))).collect());

/// Every raw pattern in one set: a text is searched once to learn which patterns can match
/// at all, instead of once per pattern (most alert values match none). `None` if the set
/// can't be built, and then every pattern is tried.
static PATTERN_SET: LazyLock<Option<RegexSet>> =
    LazyLock::new(|| RegexSetBuilder::new(RAW_PATTERNS.iter().map(|(_, p, _)| *p)).size_limit(1 << 26).dfa_size_limit(1 << 24).build().ok());

/// `name <separator> value` in free text: `db_password=…`, `"SecretAccessKey": "…"`,
/// `client-secret: …`, `Password=…;` in a connection string. The name decides
/// ([`classify_name`]); the value must look like one ([`plausible_value`]).
static ASSIGNMENT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"(?P<name>[A-Za-z_@$][A-Za-z0-9_.$@-]{0,80})"#,
        r#"(?P<sep>["']?[ \t]*(?:=>|:=|=|:)[ \t]*)"#,
        r#"(?:"(?P<dq>[^"\n]{1,300})"|'(?P<sq>[^'\n]{1,300})'|(?P<bare>[^\s"',;&?<>)}\]]{1,300}))"#,
    ))
    .ok()
});

/// A command-line flag and its argument: `--client-secret …`, `-Password …`,
/// `--token=…`, `/password:…`.
static FLAG: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"(?:^|[\s(\[{,;&|'"])(?P<dash>--?|/)(?P<name>[A-Za-z][A-Za-z0-9_-]{0,60})"#,
        r#"(?P<sep>[ \t]+|=|:)"#,
        r#"(?:"(?P<dq>[^"\n]{1,300})"|'(?P<sq>[^'\n]{1,300})'|(?P<bare>[^\s"'`,;&<>)}\]|]{1,300}))"#,
    ))
    .ok()
});

/// A quoted name, then its quoted value: `define('DB_PASSWORD', '…')`,
/// `os.environ["DB_PASSWORD"] = "…"`, `setenv("API_TOKEN", "…")`.
static QUOTED_PAIR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r#"["'](?P<name>[A-Za-z_][A-Za-z0-9_.-]{0,80})["']\]?\s*(?:,|=>|=|:)\s*["'](?P<value>[^"'
]{1,300})["']"#,
    )
    .ok()
});

/// `aws configure set aws_secret_access_key <value>` and friends: a name then its value.
static CONFIG_SET: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:aws\s+configure\s+set|git\s+config(?:\s+--\w+)*|npm\s+config\s+set|yarn\s+config\s+set|heroku\s+config:set)\s+(?P<name>[\w./:@-]+)\s+(?P<value>[^\s'\x22]+)").ok()
});

/// Words that make a name describe a secret rather than hold one, when they follow the
/// secret word (`PasswordLastSet`, `token_type`, `access_key_id`, `secretName`).
const METADATA: &[&str] = &[
    "type",
    "types",
    "last",
    "set",
    "name",
    "names",
    "id",
    "ids",
    "arn",
    "length",
    "len",
    "expiry",
    "expires",
    "expiration",
    "expire",
    "expired",
    "age",
    "policy",
    "policies",
    "changed",
    "change",
    "required",
    "reset",
    "hint",
    "count",
    "algorithm",
    "alg",
    "format",
    "elevation",
    "source",
    "path",
    "file",
    "url",
    "uri",
    "endpoint",
    "provider",
    "scope",
    "scopes",
    "kind",
    "version",
    "status",
    "used",
    "created",
    "rotated",
    "rotation",
    "date",
    "time",
    "timestamp",
    "at",
    "ttl",
    "lifetime",
    "strength",
    "complexity",
    "history",
    "location",
    "store",
    "vault",
    "label",
    "description",
    "desc",
    "enabled",
    "present",
    "valid",
    "mode",
    "field",
    "attribute",
    "ref",
    "reference",
    "manager",
    "service",
    "event",
    "events",
    "issuer",
    "audience",
    "owner",
    "fingerprint",
    "prefix",
    "stdin",
    "env",
    "var",
    "spray",
    "attempts",
    "failures",
    "failed",
    "errors",
    "error",
    "result",
    "outcome",
    "reason",
    "method",
    "flow",
    "grant",
    "never",
    "not",
    "no",
    "less",
    "protected",
    "protection",
    "server",
    "interval",
    "timeout",
    "duration",
    "issued",
    "user",
    "username",
    "users",
    "login",
    "account",
    "domain",
    "email",
    "principal",
    "host",
    "sid",
    "realm",
    "factor",
    "handle",
    "size",
    "class",
    "list",
    "prompt",
    "level",
    "changes",
    "resets",
    "usage",
    "checks",
    "check",
    "rule",
    "rules",
    "entropy",
    "score",
    "leak",
    "leaked",
    "exposed",
    "found",
    "detected",
    "pattern",
    "regex",
    "hash",
    "hashes",
    "sha",
    "sha1",
    "sha256",
    "md5",
    "digest",
];

/// Words that name a secret wherever they sit in a name.
const STRONG: &[&str] = &["password", "passwd", "passwort", "passphrase", "secret", "secrets", "credential", "credentials", "apikey", "privatekey"];

/// Two-word names of secrets (`api_key`, `SecretAccessKey` has `secret` already).
const PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("access", "key"),
    ("private", "key"),
    ("account", "key"),
    ("shared", "key"),
    ("signing", "key"),
    ("encryption", "key"),
    ("master", "key"),
    ("storage", "key"),
    ("subscription", "key"),
    ("connection", "string"),
    ("conn", "str"),
    ("conn", "string"),
    ("client", "secret"),
    ("sas", "token"),
    ("app", "password"),
];

/// Why a name holds a secret, or doesn't.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameClass {
    /// The value is a secret whatever it looks like.
    Secret,
    /// The value is a secret when it looks random (`license_key`, `x-functions-key`).
    KeyLike,
    /// Not a secret's name.
    Plain,
}

/// Splits a name into lower-case words at separators and camelCase boundaries:
/// `AWS_SECRET_ACCESS_KEY`, `SecretAccessKey`, `client-secret` → `[…, secret, access, key]`.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = match prev {
            Some(p) if p.is_lowercase() && c.is_uppercase() => true,
            Some(p) if p.is_uppercase() && c.is_uppercase() => next.is_some_and(char::is_lowercase),
            _ => false,
        };
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether one word names a secret on its own (`pgpassword`, `db_pwd`, `authtoken`).
fn strong_word(w: &str) -> bool {
    // A service that keeps secrets is not one.
    if w.starts_with("secretsmanager") || w.starts_with("secretmanager") {
        return false;
    }
    STRONG.iter().any(|s| w.contains(s))
        || w == "pwd"
        || w.ends_with("pwd")
        || w == "pass"
        || (w.ends_with("pass") && !matches!(w, "bypass" | "compass" | "overpass" | "underpass" | "surpass" | "trespass"))
        || w == "token"
        || (w.ends_with("token") && w.len() > 5)
        || matches!(w, "cookie" | "cookies" | "authorization" | "auth" | "bearer" | "pat" | "sas" | "creds" | "cred" | "pin" | "otp" | "psk")
        || w.ends_with("secret")
}

/// `text` without the placeholders a redaction left in it (`[REDACTED:github_token#1]`):
/// a placeholder stands for a secret and is no secret's name, so a key that was a token
/// doesn't turn the value beside it into a secret when redacted output is redacted again.
fn without_placeholders(text: &str) -> Cow<'_, str> {
    const OPEN: &str = "[REDACTED:";
    if !text.contains(OPEN) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        let tail = &rest[at + OPEN.len()..];
        match tail.find(']').filter(|end| is_placeholder_body(&tail[..*end])) {
            Some(end) => {
                // A separator where it stood, so the words around it stay apart.
                out.push_str(&rest[..at]);
                out.push(' ');
                rest = &tail[end + 1..];
            }
            None => {
                out.push_str(&rest[..at + OPEN.len()]);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `github_token#1`: what [`Redactor::placeholder`] writes between `[REDACTED:` and `]`;
/// or `github_token:fp_…`, the same placeholder pinned to its fingerprint in a stored
/// stream alert.
fn is_placeholder_body(body: &str) -> bool {
    if crate::cases::stream::pinned_fingerprint(&format!("[REDACTED:{body}]")).is_some() {
        return true;
    }
    body.split_once('#').is_some_and(|(kind, n)| {
        !kind.is_empty()
            && kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
    })
}

fn classify_name(name: &str) -> NameClass {
    let w = words(&without_placeholders(name));
    if w.is_empty() || w.iter().any(|x| x == "public") {
        return NameClass::Plain;
    }
    // Where the secret word ends; what follows must not turn it into a description.
    let mut end: Option<usize> = None;
    for (i, word) in w.iter().enumerate() {
        if strong_word(word) {
            end = Some(i);
        }
        if let Some(next) = w.get(i + 1)
            && PAIRS.iter().any(|(a, b)| word == a && next == b)
        {
            end = Some(i + 1);
        }
    }
    if let Some(e) = end {
        // `auth` alone is a credential (`"auth": "user:pass"`); followed by a describing
        // word it is not (`auth_method`, `auth_result`).
        let tail = &w[e + 1..];
        if tail.iter().any(|t| METADATA.contains(&t.as_str())) {
            return NameClass::Plain;
        }
        return NameClass::Secret;
    }
    match w.last().map(String::as_str) {
        Some("key" | "keys" | "sig" | "hmac" | "salt" | "nonce") => NameClass::KeyLike,
        _ => NameClass::Plain,
    }
}

/// Whether `name` holds a secret whatever its value looks like.
pub fn is_secret_name(name: &str) -> bool {
    classify_name(name) == NameClass::Secret
}

/// Values that stand for no secret: empty, masked, a variable, a placeholder.
fn trivial_value(v: &str) -> bool {
    let t = v.trim().trim_matches(|c| c == '"' || c == '\'');
    if t.is_empty() || t.starts_with("[REDACTED") {
        return true;
    }
    if t.chars().all(|c| matches!(c, '*' | 'x' | 'X' | '•' | '#' | '-' | '.' | '?' | '_')) {
        return true;
    }
    let lower = t.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null"
            | "none"
            | "nil"
            | "n/a"
            | "na"
            | "redacted"
            | "<redacted>"
            | "hidden"
            | "masked"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "enabled"
            | "disabled"
            | "required"
            | "optional"
            | "set"
            | "unset"
            | "empty"
            | "changeme?"
            | "undefined"
            | "present"
            | "absent"
            | "[filtered]"
            | "filtered"
            | "basic"
            | "bearer"
            | "digest"
            | "negotiate"
            | "ntlm"
    ) {
        return true;
    }
    // Variables and placeholders: `$PW`, `${PW}`, `%PW%`, `<password>`, `{{ secret }}`,
    // `(ConvertTo-SecureString …)` whose literal is caught on its own.
    t.starts_with('$') || (t.starts_with('%') && t.ends_with('%')) || (t.starts_with('<') && t.ends_with('>')) || t.starts_with("{{") || t.starts_with('(')
}

/// Shannon entropy in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n = s.chars().count() as f64;
    counts.values().map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum()
}

fn is_guid(s: &str) -> bool {
    let t = s.trim_matches(|c| c == '{' || c == '}');
    let parts: Vec<&str> = t.split('-').collect();
    parts.len() == 5 && [8, 4, 4, 4, 12].iter().zip(&parts).all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An opaque random-looking token: long, from a token alphabet, mixed classes, high
/// entropy, and neither a hex digest nor a GUID (those are evidence).
fn high_entropy(s: &str) -> bool {
    let len = s.chars().count();
    if !(16..=512).contains(&len) || is_guid(s) || s.chars().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || "+/=_-.~".contains(c)) {
        return false;
    }
    let classes = [s.chars().any(|c| c.is_ascii_lowercase()), s.chars().any(|c| c.is_ascii_uppercase()), s.chars().any(|c| c.is_ascii_digit())];
    classes.iter().filter(|b| **b).count() >= 2 && entropy(s) >= 3.5
}

/// A JSON key that is a random token rather than a name: long, high-entropy, and mixing
/// several of each of upper case, lower case and digits (`Win32_ProcessStartTrace` is a
/// name; `kQ3xV9mZ2tB7…` is not).
fn opaque_key(key: &str) -> bool {
    let count = |f: fn(&char) -> bool| key.chars().filter(f).count();
    key.len() >= 20
        && high_entropy(key)
        && entropy(key) >= 4.0
        && count(char::is_ascii_digit) >= 3
        && count(char::is_ascii_uppercase) >= 3
        && count(char::is_ascii_lowercase) >= 3
}

/// Whether `value` under a name of class `class` should be treated as a secret.
fn plausible_value(class: NameClass, name: &str, value: &str) -> bool {
    if trivial_value(value) {
        return false;
    }
    match class {
        NameClass::Plain => false,
        NameClass::KeyLike => high_entropy(value.trim()),
        NameClass::Secret => {
            // `PWD` in an environment dump is the working directory.
            let w = words(name);
            if w.last().is_some_and(|l| l == "pwd") && (value.starts_with('/') || value.starts_with('~') || value.get(1..3) == Some(":\\")) {
                return false;
            }
            true
        }
    }
}

/// Words that, inside brackets or parentheses, say a value was taken out:
/// `[REDACTED]`, `<masked>`, `(redacted by the sender)`, `{hidden}`.
const REDACTION_WORDS: &[&str] = &["redact", "mask", "hidden", "hide", "filter", "omit", "remov", "truncat", "sanitiz", "sanitis", "scrub", "elided", "censor"];

/// Whether a secret's value is only a placeholder: what a sender or this service left
/// where a secret was, with nothing of the secret left to tell two secrets apart. Such a
/// value never pivots and never enters a dedup fingerprint (contract section 12: secrets
/// pivot by fingerprint, never by placeholder); a real secret does, by its `fp_`.
///
/// The rule, not a list: take out every redaction mark ([`redaction_residue`]: bracketed,
/// angled, braced or parenthesised notes that say redacted/masked/hidden/…, including our
/// own `[REDACTED:github_token#1]`; ellipses; runs of `*`, `•` or `x`). A value that had a
/// mark is a placeholder unless what remains would on its own read as an opaque secret
/// ([`high_entropy`]): a vendor prefix (`ghp_`) or a few shown characters (`…wxyz`) are
/// shared by many secrets and identify none. A value without a mark is a placeholder only
/// when it stands for no secret at all ([`trivial_value`]: `redacted`, `n/a`, `$TOKEN`).
/// Our pinned form (`[REDACTED:github_token:fp_…]`) names its secret: callers read its
/// fingerprint before asking this.
pub fn is_secret_placeholder(value: &str) -> bool {
    let v = value.trim();
    if trivial_value(v) {
        return true;
    }
    match redaction_residue(v) {
        Some(rest) => !high_entropy(rest.trim_matches(|c: char| c.is_whitespace() || "_-.:/".contains(c))),
        None => false,
    }
}

/// `value` without its redaction marks, or `None` when it carries none.
fn redaction_residue(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut marked = false;
    let mut rest = value;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        // A note in brackets that says the value was taken out, or one of our placeholders.
        if let Some(close) = closing(c)
            && let Some(end) = after.find(close)
            && is_redaction_note(&after[..end])
        {
            marked = true;
            rest = &after[end + close.len_utf8()..];
            continue;
        }
        let mask_run = rest.chars().take_while(|m| *m == c).count();
        let is_mark = match c {
            '…' | '*' | '•' | '●' | '█' | '■' => true,
            '.' => mask_run >= 2,
            'x' | 'X' => mask_run >= 3,
            _ => false,
        };
        if is_mark {
            marked = true;
            rest = &rest[c.len_utf8() * mask_run..];
            continue;
        }
        out.push(c);
        rest = after;
    }
    marked.then_some(out)
}

fn closing(open: char) -> Option<char> {
    match open {
        '[' => Some(']'),
        '(' => Some(')'),
        '<' => Some('>'),
        '{' => Some('}'),
        _ => None,
    }
}

/// The inside of a bracket that marks a redaction (ours, `REDACTED:github_token#1`, too).
fn is_redaction_note(inside: &str) -> bool {
    let lower = inside.to_ascii_lowercase();
    REDACTION_WORDS.iter().any(|w| lower.contains(w))
}

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

    /// A copy of `value` with every secret in every string, keys included, replaced.
    pub fn redact_value(&mut self, value: &Value) -> Value {
        self.redact_in(value, None)
    }

    /// `under`: the name `value` sits under, when it is an object member or an element
    /// of an array that is one.
    fn redact_in(&mut self, value: &Value, under: Option<&str>) -> Value {
        match value {
            Value::String(s) => match under {
                Some(name) if plausible_value(classify_name(name), name, s) => Value::String(self.placeholder("assigned_secret", s)),
                _ => Value::String(self.redact_str(s)),
            },
            Value::Number(n) => match under {
                Some(name) if classify_name(name) == NameClass::Secret && n.to_string().len() >= 4 => {
                    Value::String(self.placeholder("assigned_secret", &n.to_string()))
                }
                _ => value.clone(),
            },
            Value::Array(a) => Value::Array(a.iter().map(|v| self.redact_in(v, under)).collect()),
            Value::Object(o) => {
                // `{"name": "DB_PASSWORD", "value": "…"}` (Kubernetes env, Office 365
                // parameters): the sibling names the value.
                let pair_name = ["name", "Name", "key", "Key"].iter().find_map(|k| o.get(*k).and_then(Value::as_str));
                let mut out = Map::with_capacity(o.len());
                for (k, v) in o {
                    let key = self.redact_key(k);
                    if let (Some(n), "value" | "Value", Value::String(s)) = (pair_name, k.as_str(), v)
                        && plausible_value(classify_name(n), n, s)
                    {
                        out.insert(key, Value::String(self.placeholder("assigned_secret", s)));
                        continue;
                    }
                    // Entity kinds (`entities.tokens`) name lists of entities, not secrets:
                    // their values are redacted by shape only.
                    let v = if k == "entities" && v.is_object() { self.redact_entities(v) } else { self.redact_in(v, Some(k)) };
                    out.insert(key, v);
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    fn redact_entities(&mut self, value: &Value) -> Value {
        match value {
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (self.redact_key(k), self.redact_in(v, None))).collect()),
            other => self.redact_in(other, None),
        }
    }

    /// A JSON key: secrets in it by shape, or the whole key when it is an opaque token.
    fn redact_key(&mut self, key: &str) -> String {
        let k = self.redact_str(key);
        if k == key && opaque_key(key) {
            return self.placeholder("secret_key_name", key);
        }
        k
    }

    pub fn redact_str(&mut self, text: &str) -> String {
        // The shapes: only those the set found in the text can match it. A replacement
        // only puts a placeholder where a secret was, which later patterns skip.
        let candidates = PATTERN_SET.as_ref().filter(|_| PATTERNS.len() == RAW_PATTERNS.len()).map(|set| set.matches(text));
        let mut out = text.to_string();
        for (i, (kind, re, group)) in PATTERNS.iter().enumerate() {
            if candidates.as_ref().is_some_and(|c| !c.matched(i)) || !re.is_match(&out) {
                continue;
            }
            out = re
                .replace_all(&out, |caps: &Captures| {
                    let whole = caps.get(0).map(|m| m.as_str()).unwrap_or_default();
                    let Some(secret) = caps.get(*group) else {
                        return whole.to_string();
                    };
                    if trivial_value(secret.as_str()) {
                        return whole.to_string();
                    }
                    let placeholder = self.placeholder(kind, secret.as_str());
                    splice(caps, secret, &placeholder)
                })
                .into_owned();
        }
        // The names: each form needs its separator, so a value without one (a host name,
        // a hash, an id) skips them.
        if let Some(re) = CONFIG_SET.as_ref()
            && out.to_ascii_lowercase().contains("config")
        {
            out = self.replace_config_set(&out, re);
        }
        if let Some(re) = QUOTED_PAIR.as_ref()
            && has_any(&out, b"\"'")
        {
            out = self.replace_config_set(&out, re);
        }
        if let Some(re) = FLAG.as_ref()
            && has_any(&out, b"-/")
        {
            out = self.replace_flags(&out, re);
        }
        if let Some(re) = ASSIGNMENT.as_ref()
            && has_any(&out, b"=:")
        {
            out = self.replace_assignments(&out, re);
        }
        out
    }

    /// Replaces every match of `re` that `decide` accepts. Unlike `replace_all`, a match
    /// that is not a secret (`url=http://x/?password=…`, `--from-literal=password=…`)
    /// doesn't hide what sits inside its value: the search resumes at the value.
    fn scan(&mut self, text: &str, re: &Regex, decide: impl Fn(&Captures, &str) -> Option<(&'static str, usize, usize)>) -> String {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut pos = 0;
        while pos <= text.len() {
            let Some(caps) = re.captures_at(text, pos) else { break };
            let Some(whole) = caps.get(0) else { break };
            let value = ["dq", "sq", "bare", "value"].iter().find_map(|g| caps.name(g));
            match decide(&caps, text) {
                Some((kind, start, end)) if start >= copied => {
                    out.push_str(&text[copied..start]);
                    let placeholder = self.placeholder(kind, &text[start..end]);
                    out.push_str(&placeholder);
                    copied = end;
                    pos = whole.end().max(pos + 1);
                }
                _ => pos = value.map(|v| v.start()).filter(|s| *s > whole.start()).unwrap_or(whole.start() + 1).max(pos + 1),
            }
            while pos < text.len() && !text.is_char_boundary(pos) {
                pos += 1;
            }
        }
        out.push_str(&text[copied..]);
        out
    }

    fn replace_assignments(&mut self, text: &str, re: &Regex) -> String {
        self.scan(text, re, |caps, text| {
            let name = caps.name("name")?;
            let value = caps.name("dq").or_else(|| caps.name("sq")).or_else(|| caps.name("bare"))?;
            let sep = caps.name("sep").map(|m| m.as_str()).unwrap_or_default();
            let quoted = caps.name("dq").is_some() || caps.name("sq").is_some();
            let v = value.as_str();
            // Inside a colon chain (`arn:aws:secretsmanager:…`) a name is a segment.
            if text[..name.start()].ends_with(':') && sep.trim().trim_matches(['"', '\'']) == ":" {
                return None;
            }
            // `password: see ticket` is prose; `password: hunter2` isn't. A colon followed
            // by a lower-case word and more words reads as a sentence.
            if sep.contains(':') && !sep.contains('=') && !quoted && v.chars().all(|c| c.is_ascii_lowercase()) {
                let rest = &text[value.end()..];
                if rest.starts_with(' ') && rest.trim_start().chars().next().is_some_and(char::is_alphabetic) {
                    return None;
                }
            }
            plausible_value(classify_name(name.as_str()), name.as_str(), v).then_some(("assigned_secret", value.start(), value.end()))
        })
    }

    fn replace_flags(&mut self, text: &str, re: &Regex) -> String {
        self.scan(text, re, |caps, _| {
            let name = caps.name("name")?;
            let value = caps.name("dq").or_else(|| caps.name("sq")).or_else(|| caps.name("bare"))?;
            let spaced = caps.name("sep").is_some_and(|m| m.as_str().trim().is_empty());
            let v = value.as_str();
            // `/add`, `/user bob` are Windows switches; a value starting with `-` is the
            // next flag.
            if spaced && (caps.name("dash").is_some_and(|d| d.as_str() == "/") || v.starts_with('-')) {
                return None;
            }
            plausible_value(classify_name(name.as_str()), name.as_str(), v).then_some(("cli_password", value.start(), value.end()))
        })
    }

    /// `CONFIG_SET` and `QUOTED_PAIR`: the value is a secret when the last part of the name
    /// is a secret's.
    fn replace_config_set(&mut self, text: &str, re: &Regex) -> String {
        self.scan(text, re, |caps, _| {
            let name = caps.name("name")?;
            let value = caps.name("value")?;
            let last = name.as_str().rsplit(['.', '/', ':']).next().unwrap_or_default();
            plausible_value(classify_name(last), last, value.as_str()).then_some(("assigned_secret", value.start(), value.end()))
        })
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

/// Whether `text` holds any of the ASCII bytes in `set`.
fn has_any(text: &str, set: &[u8]) -> bool {
    text.bytes().any(|b| set.contains(&b))
}

/// The whole match with `secret` replaced by `placeholder`.
fn splice(caps: &Captures, secret: regex::Match, placeholder: &str) -> String {
    let Some(whole) = caps.get(0) else {
        return placeholder.to_string();
    };
    let start = secret.start() - whole.start();
    let end = start + secret.len();
    let w = whole.as_str();
    format!("{}{}{}", &w[..start], placeholder, &w[end..])
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
    fn names_are_read_in_every_casing_and_separator() {
        for name in ["SecretAccessKey", "db_password", "client-secret", "AWS_SECRET_ACCESS_KEY", "PGPASSWORD", "x-api-key", "apiKey", "MYSQL_PWD", "authToken"]
        {
            assert_eq!(classify_name(name), NameClass::Secret, "{name}");
        }
        for name in
            ["PasswordLastSet", "token_type", "TokenElevationType", "access_key_id", "secretName", "AuthenticationPackageName", "KeyLength", "PublicKey"]
        {
            assert_eq!(classify_name(name), NameClass::Plain, "{name}");
        }
        assert_eq!(classify_name("license_key"), NameClass::KeyLike);
        // A placeholder stands for a secret; it doesn't name one. What sits beside it still does.
        for name in ["[REDACTED:github_token#1]", "[REDACTED:secret_key_name#2]", "[REDACTED:assigned_secret#12]"] {
            assert_eq!(classify_name(name), NameClass::Plain, "{name}");
        }
        assert_eq!(classify_name("db_password_[REDACTED:github_token#1]"), NameClass::Secret);
        assert_eq!(classify_name("[REDACTED:github_token]"), NameClass::Secret);
        assert_eq!(words("AWSSecretAccessKey"), ["aws", "secret", "access", "key"]);
    }

    #[test]
    fn a_token_used_as_a_key_leaves_its_value_alone_the_second_time() {
        let input = json!({"tokens_seen": {"ghp_abcdefghijklmnopqrstuvwxyz0123456789": "repo scope"}});
        let once = Redactor::new().redact_value(&input);
        assert_eq!(once, json!({"tokens_seen": {"[REDACTED:github_token#1]": "repo scope"}}));
        assert_eq!(Redactor::new().redact_value(&once), once);
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(PATTERNS.len(), RAW_PATTERNS.len());
        assert!(ASSIGNMENT.is_some() && FLAG.is_some() && CONFIG_SET.is_some() && QUOTED_PAIR.is_some());
    }

    #[test]
    fn a_value_that_is_not_a_secret_does_not_hide_one_inside_it() {
        let mut r = Redactor::new();
        let out = r.redact_str("kubectl create secret generic db --from-literal=password=K8sS3cret! url=http://x/?token=abcd1234efgh");
        assert!(!out.contains("K8sS3cret!") && !out.contains("abcd1234efgh"), "{out}");
    }

    #[test]
    fn prose_and_variables_stay() {
        let mut r = Redactor::new();
        for text in [
            "Failed password for invalid user admin from 10.0.0.5 port 22 ssh2",
            "password: see the ticket for details",
            "-Password $cred",
            "net user bob /add",
        ] {
            assert_eq!(r.redact_str(text), text);
        }
    }

    #[test]
    fn placeholders_are_told_by_what_is_left_of_a_secret() {
        for v in [
            "[REDACTED]",
            "[redacted]",
            "***",
            "********",
            "ghp_…(redacted by the sender)",
            "ghp_...(redacted)",
            "ghp_…wxyz",
            "AKIA****************",
            "AKIAXXXXXXXXXXXXXXXX",
            "<masked>",
            "{{ token }}",
            "$GITHUB_TOKEN",
            "[REDACTED:github_token#1]",
            "[FILTERED]",
            "xoxb-… (hidden)",
            "redacted",
        ] {
            assert!(is_secret_placeholder(v), "{v}");
        }
        // A real value, or one whose marks left an opaque secret behind, is no placeholder.
        for v in ["ghp_AAAAbbbbCCCCdddd1111222233334444eeee", "deploy-token-7", "okta-session-42", "kQ3xV9mZ2tB7wLp4Rn8s (truncated)"] {
            assert!(!is_secret_placeholder(v), "{v}");
        }
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
