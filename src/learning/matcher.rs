//! A small Sigma matcher: enough to evaluate the filters [`super::sigma_filter`] writes and
//! ordinary field-equality rules against an alert's `fields`, so a draft can say how many
//! past alerts it would have excluded.
//!
//! Supported:
//! - search identifiers that are a map of field → value or list of values (the values OR'ed,
//!   the fields AND'ed), a list of such maps (OR'ed), or a list of keywords (each searched,
//!   as `contains`, in every string value of the event);
//! - modifiers `contains`, `startswith`, `endswith`, `all`, `cased`, `re`, `exists`;
//! - wildcards `*` and `?`, with `\` escaping `*`, `?` and `\` as Sigma specifies;
//! - case-insensitive comparison (unless `cased` or `re`); numbers and booleans compared by
//!   their text; `field: null` holds when the field is absent or null;
//! - conditions with `and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`, `N of x*`,
//!   `1 of them`, `all of them` (`them` skips identifiers starting with `_`), and a list of
//!   conditions (any of them).
//!
//! Fields are looked up in `alert.fields` only: the rule is meant to run on raw logs in a
//! SIEM, which have no `rule.name` or `source`. A field name is tried as a literal key first
//! (Falco's `proc.cmdline`), then as a dotted path into nested objects (CloudTrail's
//! `userIdentity.arn`), splitting at any dot; arrays on the way are searched element by
//! element. When no key has the exact spelling, an ASCII case-insensitive match is used.
//!
//! Not supported (an error, never a silent mismatch): aggregations (`| count() …`),
//! `timeframe`-based correlation, other modifiers (`base64`, `windash`, `cidr`, `gt`, …).

use regex::Regex;
use serde_json::Value;
use serde_yaml::Value as Yaml;

use crate::alert::Alert;

/// Whether the first rule in `yaml` (the first YAML document with `detection`) matches `alert`.
pub fn matches(yaml: &str, alert: &Alert) -> Result<bool, String> {
    Ok(SigmaMatcher::parse(yaml)?.matches(alert))
}

/// A parsed rule, to match many alerts without parsing it again.
#[derive(Debug, Clone)]
pub struct SigmaMatcher {
    searches: Vec<(String, Search)>,
    condition: Expr,
}

impl SigmaMatcher {
    pub fn parse(yaml: &str) -> Result<SigmaMatcher, String> {
        let mut detection = None;
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let v = <Yaml as serde::Deserialize>::deserialize(doc).map_err(|e| format!("YAML: {e}"))?;
            if let Some(d) = v.get("detection") {
                detection = Some(d.clone());
                break;
            }
        }
        let Some(Yaml::Mapping(detection)) = detection else {
            return Err("no rule with a `detection` map".into());
        };
        let mut searches = Vec::new();
        let mut conditions = Vec::new();
        for (k, v) in &detection {
            let key = k.as_str().ok_or("detection keys must be strings")?;
            match key {
                "condition" => {
                    conditions = match v {
                        Yaml::String(s) => vec![s.clone()],
                        Yaml::Sequence(items) => {
                            items.iter().map(|i| i.as_str().map(str::to_string).ok_or("a condition must be text")).collect::<Result<_, _>>()?
                        }
                        _ => return Err("`condition` must be text or a list of text".into()),
                    }
                }
                "timeframe" => return Err("`timeframe` (correlation) is not supported".into()),
                _ => searches.push((key.to_string(), Search::parse(key, v)?)),
            }
        }
        if conditions.is_empty() {
            return Err("detection has no `condition`".into());
        }
        let names: Vec<&str> = searches.iter().map(|(n, _)| n.as_str()).collect();
        let mut exprs = conditions.iter().map(|c| parse_condition(c, &names)).collect::<Result<Vec<_>, _>>()?;
        let condition = if exprs.len() == 1 { exprs.remove(0) } else { Expr::Or(exprs) };
        Ok(SigmaMatcher { searches, condition })
    }

    pub fn matches(&self, alert: &Alert) -> bool {
        self.matches_fields(&alert.fields)
    }

    /// Matches an event given as JSON (an alert's `fields`).
    pub fn matches_fields(&self, event: &Value) -> bool {
        self.eval(&self.condition, event)
    }

    fn eval(&self, e: &Expr, event: &Value) -> bool {
        match e {
            Expr::Search(i) => self.searches[*i].1.matches(event),
            Expr::Not(inner) => !self.eval(inner, event),
            Expr::And(items) => items.iter().all(|x| self.eval(x, event)),
            Expr::Or(items) => items.iter().any(|x| self.eval(x, event)),
            Expr::AtLeast(n, ids) => ids.iter().filter(|i| self.searches[**i].1.matches(event)).take(*n).count() >= *n,
        }
    }
}

/// One search identifier's body.
#[derive(Debug, Clone)]
enum Search {
    /// Every test must hold.
    Map(Vec<FieldTest>),
    /// Any map must hold.
    AnyMap(Vec<Vec<FieldTest>>),
    /// Any keyword must appear in some string value of the event.
    Keywords(Vec<Pattern>),
}

impl Search {
    fn parse(name: &str, v: &Yaml) -> Result<Search, String> {
        match v {
            Yaml::Mapping(_) => Ok(Search::Map(field_tests(name, v)?)),
            Yaml::Sequence(items) if !items.is_empty() && items.iter().all(|i| matches!(i, Yaml::Mapping(_))) => {
                Ok(Search::AnyMap(items.iter().map(|i| field_tests(name, i)).collect::<Result<_, _>>()?))
            }
            Yaml::Sequence(items) => {
                let words = items.iter().map(|i| scalar_text(i).ok_or_else(|| format!("`{name}`: a keyword list may hold only plain values")));
                Ok(Search::Keywords(words.map(|w| w.map(|w| Pattern::sigma(&w).contained().lowered())).collect::<Result<_, _>>()?))
            }
            other => match scalar_text(other) {
                Some(w) => Ok(Search::Keywords(vec![Pattern::sigma(&w).contained().lowered()])),
                None => Err(format!("`{name}` is neither a map, a list of maps nor keywords")),
            },
        }
    }

    fn matches(&self, event: &Value) -> bool {
        match self {
            Search::Map(tests) => tests.iter().all(|t| t.matches(event)),
            Search::AnyMap(maps) => maps.iter().any(|tests| tests.iter().all(|t| t.matches(event))),
            Search::Keywords(words) => {
                let mut texts = Vec::new();
                crate::jsonpath::for_each_scalar(event, "", &mut |_, t| texts.push(t.to_lowercase()));
                words.iter().any(|w| texts.iter().any(|t| w.matches_lowered(t)))
            }
        }
    }
}

fn field_tests(name: &str, v: &Yaml) -> Result<Vec<FieldTest>, String> {
    let Yaml::Mapping(m) = v else { return Err(format!("`{name}` must be a map")) };
    m.iter()
        .map(|(k, val)| {
            let key = k.as_str().ok_or_else(|| format!("`{name}`: field names must be strings"))?;
            FieldTest::parse(key, val).map_err(|e| format!("`{name}`.`{key}`: {e}"))
        })
        .collect()
}

#[derive(Debug, Clone)]
struct FieldTest {
    field: String,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    /// The values, any (or, with `all`, every) of which must match some value of the field.
    Values { values: Vec<Expected>, all: bool },
    /// `field|exists: true/false`.
    Exists(bool),
}

/// One value of a field test.
#[derive(Debug, Clone)]
enum Expected {
    Null,
    Glob { pattern: Pattern, cased: bool },
    Re(Regex),
}

impl FieldTest {
    fn parse(key: &str, val: &Yaml) -> Result<FieldTest, String> {
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default().to_string();
        if field.is_empty() {
            return Err("a field test needs a field name".into());
        }
        let (mut contains, mut starts, mut ends, mut all, mut cased, mut re, mut exists) = (false, false, false, false, false, false, false);
        for m in parts {
            match m {
                "contains" => contains = true,
                "startswith" => starts = true,
                "endswith" => ends = true,
                "all" => all = true,
                "cased" => cased = true,
                "re" => re = true,
                "exists" => exists = true,
                other => return Err(format!("modifier `{other}` is not supported")),
            }
        }
        if [contains, starts, ends].iter().filter(|b| **b).count() > 1 {
            return Err("at most one of contains, startswith, endswith".into());
        }
        if exists {
            let Yaml::Bool(b) = val else { return Err("`exists` takes true or false".into()) };
            return Ok(FieldTest { field, test: Test::Exists(*b) });
        }
        let raw: Vec<&Yaml> = match val {
            Yaml::Sequence(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut values = Vec::new();
        for v in raw {
            if matches!(v, Yaml::Null) {
                values.push(Expected::Null);
                continue;
            }
            let text = scalar_text(v).ok_or("values must be plain text, numbers, booleans or null")?;
            if re {
                values.push(Expected::Re(Regex::new(&text).map_err(|e| format!("regex: {e}"))?));
                continue;
            }
            let mut pattern = Pattern::sigma(&text);
            if contains {
                pattern = pattern.contained();
            } else if starts {
                pattern.toks.push(Tok::Star);
            } else if ends {
                pattern.toks.insert(0, Tok::Star);
            }
            if !cased {
                pattern = pattern.lowered();
            }
            values.push(Expected::Glob { pattern, cased });
        }
        Ok(FieldTest { field, test: Test::Values { values, all } })
    }

    fn matches(&self, event: &Value) -> bool {
        let found = lookup(event, &self.field);
        match &self.test {
            Test::Exists(want) => found.iter().any(|v| !v.is_null()) == *want,
            Test::Values { values, all } => {
                let texts: Vec<String> = found.iter().flat_map(|v| scalar_texts(v)).collect();
                let absent = found.iter().all(|v| v.is_null());
                let one = |v: &Expected| match v {
                    Expected::Null => absent,
                    Expected::Re(r) => texts.iter().any(|t| r.is_match(t)),
                    Expected::Glob { pattern, cased: true } => texts.iter().any(|t| pattern.matches_exact(t)),
                    Expected::Glob { pattern, cased: false } => texts.iter().any(|t| pattern.matches_lowered(&t.to_lowercase())),
                };
                if *all { !values.is_empty() && values.iter().all(one) } else { values.iter().any(one) }
            }
        }
    }
}

/// A YAML scalar as the text Sigma compares.
fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The texts a JSON value offers to a comparison: a scalar's text, or each scalar element of an array.
fn scalar_texts(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Array(items) => items.iter().flat_map(scalar_texts).collect(),
        Value::Null | Value::Object(_) => Vec::new(),
    }
}

/// Every value at `path` in `event`: the literal key first, then any split at a dot into
/// nested objects, searching arrays element by element; ASCII case is ignored only when no
/// key has the exact spelling.
fn lookup<'a>(event: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    walk(event, path, false, &mut out);
    if out.is_empty() {
        walk(event, path, true, &mut out);
    }
    out
}

fn walk<'a>(v: &'a Value, path: &str, fold: bool, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk(i, path, fold, out)),
        Value::Object(o) => {
            let get = |k: &str| -> Option<&'a Value> {
                o.get(k).or_else(|| if fold { o.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v) } else { None })
            };
            if let Some(found) = get(path) {
                out.push(found);
                return;
            }
            // Longest literal prefix first: `proc.cmdline.x` prefers the key `proc.cmdline`.
            for (at, _) in path.match_indices('.').collect::<Vec<_>>().into_iter().rev() {
                if let Some(child) = get(&path[..at]) {
                    let before = out.len();
                    walk(child, &path[at + 1..], fold, out);
                    if out.len() > before {
                        return;
                    }
                }
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Lit(char),
    Star,
    One,
}

/// A Sigma value with its wildcards.
#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    toks: Vec<Tok>,
}

impl Pattern {
    /// Reads a Sigma string: `*` and `?` are wildcards; `\` escapes `*`, `?` and `\`, and is a
    /// plain backslash before anything else (so `C:\Windows` needs no escaping).
    fn sigma(s: &str) -> Pattern {
        let mut toks = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        toks.push(Tok::Lit(n));
                    }
                    _ => toks.push(Tok::Lit('\\')),
                },
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::One),
                c => toks.push(Tok::Lit(c)),
            }
        }
        Pattern { toks }
    }

    fn contained(mut self) -> Pattern {
        if self.toks.first() != Some(&Tok::Star) {
            self.toks.insert(0, Tok::Star);
        }
        if self.toks.last() != Some(&Tok::Star) {
            self.toks.push(Tok::Star);
        }
        self
    }

    fn lowered(self) -> Pattern {
        let toks = self
            .toks
            .into_iter()
            .flat_map(|t| match t {
                Tok::Lit(c) => c.to_lowercase().map(Tok::Lit).collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect();
        Pattern { toks }
    }

    /// Matches text already lower-cased against a lowered pattern.
    fn matches_lowered(&self, text: &str) -> bool {
        self.matches_exact(text)
    }

    fn matches_exact(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        let p = &self.toks;
        // Iterative glob match with one backtrack point (the last `*`).
        let (mut ti, mut pi) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            match p.get(pi) {
                Some(Tok::Lit(c)) if *c == t[ti] => {
                    ti += 1;
                    pi += 1;
                }
                Some(Tok::One) => {
                    ti += 1;
                    pi += 1;
                }
                Some(Tok::Star) => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|t| *t == Tok::Star)
    }
}

/// Escapes text so Sigma reads it back literally: `*` → `\*`, `?` → `\?`, and a `\` that a
/// reader would otherwise take as an escape (before `*`, `?`, `\`, or at the very end) → `\\`.
pub fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 4);
    for (i, c) in chars.iter().enumerate() {
        match c {
            '*' | '?' => {
                out.push('\\');
                out.push(*c);
            }
            '\\' => {
                out.push('\\');
                if matches!(chars.get(i + 1), Some('*' | '?' | '\\') | None) {
                    out.push('\\');
                }
            }
            c => out.push(*c),
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Expr {
    Search(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// At least `n` of the searches hold.
    AtLeast(usize, Vec<usize>),
}

#[derive(Debug, Clone, PartialEq)]
enum CTok {
    Open,
    Close,
    Word(String),
}

fn tokenize(condition: &str) -> Result<Vec<CTok>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in condition.chars() {
        match c {
            '(' | ')' | ' ' | '\t' | '\n' | '\r' => {
                if !word.is_empty() {
                    out.push(CTok::Word(std::mem::take(&mut word)));
                }
                match c {
                    '(' => out.push(CTok::Open),
                    ')' => out.push(CTok::Close),
                    _ => {}
                }
            }
            '|' => return Err("aggregations (`| count() …`) are not supported".into()),
            c if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '*') => word.push(c),
            c => return Err(format!("unexpected `{c}` in condition")),
        }
    }
    if !word.is_empty() {
        out.push(CTok::Word(word));
    }
    Ok(out)
}

fn parse_condition(condition: &str, names: &[&str]) -> Result<Expr, String> {
    let toks = tokenize(condition)?;
    let mut p = CondParser { toks: &toks, at: 0, names };
    let e = p.or()?;
    if p.at != toks.len() {
        return Err(format!("condition `{condition}`: unexpected {:?}", toks[p.at]));
    }
    Ok(e)
}

struct CondParser<'a> {
    toks: &'a [CTok],
    at: usize,
    names: &'a [&'a str],
}

impl CondParser<'_> {
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.at), Some(CTok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.keyword("or") {
            self.at += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.not()?];
        while self.keyword("and") {
            self.at += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let tok = self.toks.get(self.at).cloned().ok_or("condition ends too early")?;
        self.at += 1;
        match tok {
            CTok::Open => {
                let e = self.or()?;
                if self.toks.get(self.at) != Some(&CTok::Close) {
                    return Err("missing `)` in condition".into());
                }
                self.at += 1;
                Ok(e)
            }
            CTok::Close => Err("unexpected `)` in condition".into()),
            CTok::Word(w) if self.keyword("of") => {
                self.at += 1;
                let target = match self.toks.get(self.at) {
                    Some(CTok::Word(t)) => t.clone(),
                    _ => return Err(format!("`{w} of` needs `them` or a pattern")),
                };
                self.at += 1;
                let ids: Vec<usize> = if target.eq_ignore_ascii_case("them") {
                    (0..self.names.len()).filter(|i| !self.names[*i].starts_with('_')).collect()
                } else {
                    let p = Pattern::sigma(&target);
                    (0..self.names.len()).filter(|i| p.matches_exact(self.names[*i])).collect()
                };
                if ids.is_empty() {
                    return Err(format!("`{target}` names no search identifier"));
                }
                let n = match w.to_ascii_lowercase().as_str() {
                    "all" => ids.len(),
                    "any" => 1,
                    digits => digits.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| format!("`{w} of`: expected 1, all or a count"))?,
                };
                Ok(Expr::AtLeast(n, ids))
            }
            CTok::Word(w) => {
                if ["and", "or", "not", "of"].iter().any(|k| w.eq_ignore_ascii_case(k)) {
                    return Err(format!("unexpected `{w}` in condition"));
                }
                let i = self.names.iter().position(|n| *n == w).ok_or_else(|| format!("condition names `{w}`, which the detection doesn't define"))?;
                Ok(Expr::Search(i))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(detection: &str) -> SigmaMatcher {
        let yaml = format!("title: t\nid: x\nlogsource:\n  product: test\ndetection:\n{detection}");
        SigmaMatcher::parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    fn event() -> Value {
        json!({
            "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            "CommandLine": "powershell.exe -NoProfile -enc SQBFAFgA",
            "EventID": 1,
            "Elevated": true,
            "Hashes": ["MD5=AAA", "SHA256=BBB"],
            "userIdentity": { "type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/ci/run-7", "sessionContext": { "sessionIssuer": { "arn": "arn:aws:iam::1:role/ci" } } },
            "proc.cmdline": "curl http://x",
            "resources": [ { "ARN": "arn:aws:s3:::a" }, { "ARN": "arn:aws:s3:::b" } ],
            "Literal*Star": "a*b",
            "Empty": null
        })
    }

    #[test]
    fn field_equality_is_case_insensitive_and_lists_are_or() {
        let e = event();
        assert!(rule("  sel:\n    Image: 'c:\\windows\\system32\\windowspowershell\\v1.0\\POWERSHELL.EXE'\n  condition: sel").matches_fields(&e));
        assert!(rule("  sel:\n    Image:\n      - nope\n      - '*\\powershell.exe'\n  condition: sel").matches_fields(&e));
        assert!(!rule("  sel:\n    Image:\n      - nope\n      - '*\\cmd.exe'\n  condition: sel").matches_fields(&e));
        // Fields in one map are AND'ed.
        assert!(!rule("  sel:\n    Image|endswith: powershell.exe\n    ParentImage|endswith: excel.exe\n  condition: sel").matches_fields(&e));
        // Numbers and booleans compare by text.
        assert!(rule("  sel:\n    EventID: 1\n    Elevated: true\n  condition: sel").matches_fields(&e));
        assert!(rule("  sel:\n    EventID: '1'\n  condition: sel").matches_fields(&e));
        assert!(!rule("  sel:\n    EventID: 10\n  condition: sel").matches_fields(&e));
    }

    #[test]
    fn modifiers() {
        let e = event();
        assert!(rule("  sel:\n    CommandLine|contains: ' -ENC '\n  condition: sel").matches_fields(&e));
        assert!(rule("  sel:\n    CommandLine|startswith: POWERSHELL\n  condition: sel").matches_fields(&e));
        assert!(!rule("  sel:\n    CommandLine|startswith: -enc\n  condition: sel").matches_fields(&e));
        assert!(rule("  sel:\n    ParentImage|endswith: '\\winword.exe'\n  condition: sel").matches_fields(&e));
        assert!(rule("  sel:\n    CommandLine|contains|all:\n      - '-noprofile'\n      - '-enc'\n  condition: sel").matches_fields(&e));
        assert!(!rule("  sel:\n    CommandLine|contains|all:\n      - '-noprofile'\n      - '-command'\n  condition: sel").matches_fields(&e));
        assert!(!rule("  sel:\n    CommandLine|contains|cased: '-ENC'\n  condition: sel").matches_fields(&e));
        assert!(rule("  sel:\n    CommandLine|contains|cased: '-enc'\n  condition: sel").matches_fields(&e));
        assert!(rule("  sel:\n    CommandLine|re: '-enc [A-Z]+'\n  condition: sel").matches_fields(&e));
        assert!(rule("  sel:\n    Image|exists: true\n    Missing|exists: false\n    Empty|exists: false\n  condition: sel").matches_fields(&e));
        let err = SigmaMatcher::parse("detection:\n  sel:\n    CommandLine|base64: x\n  condition: sel").unwrap_err();
        assert!(err.contains("base64"), "{err}");
    }

    #[test]
    fn wildcards_and_escapes() {
        let e = event();
        // A backslash before a wildcard is written `\\`: `\*` alone is a literal star.
        assert!(rule("  sel:\n    Image: 'c:\\windows\\\\*\\power?hell.exe'\n  condition: sel").matches_fields(&e));
        assert!(!rule("  sel:\n    Image: 'c:\\windows\\*\\power?hell.exe'\n  condition: sel").matches_fields(&e));
        assert!(!rule("  sel:\n    Image: 'c:\\windows\\\\*\\power?hell.ex'\n  condition: sel").matches_fields(&e));
        // An escaped star is a literal star.
        assert!(rule("  sel:\n    Literal*Star: 'a\\*b'\n  condition: sel").matches_fields(&e));
        assert!(!rule("  sel:\n    Literal*Star: 'a\\*b'\n  condition: sel").matches_fields(&json!({"Literal*Star": "axxb"})));
        assert!(rule("  sel:\n    Literal*Star: 'a*b'\n  condition: sel").matches_fields(&json!({"Literal*Star": "axxb"})));
        for s in ["plain", "C:\\dir\\", "\\\\server\\share", "a*b?c", "back\\*slash\\?", "trailing\\\\", "☃*", ""] {
            let p = Pattern::sigma(&escape(s));
            assert!(p.matches_exact(s), "{s:?} → {:?}", escape(s));
            assert!(p.toks.iter().all(|t| matches!(t, Tok::Lit(_))), "{s:?} escaped to {:?} still has wildcards", escape(s));
        }
        assert_eq!(escape("C:\\Windows\\a*.exe"), "C:\\Windows\\a\\*.exe");
    }

    #[test]
    fn nested_dotted_and_literal_dotted_fields() {
        let e = event();
        assert!(
            rule("  sel:\n    userIdentity.type: assumedrole\n    userIdentity.sessionContext.sessionIssuer.arn: 'arn:aws:iam::1:role/ci'\n  condition: sel")
                .matches_fields(&e)
        );
        assert!(rule("  sel:\n    userIdentity.arn|endswith: '/run-*'\n  condition: sel").matches_fields(&e));
        assert!(rule("  sel:\n    proc.cmdline|startswith: curl\n  condition: sel").matches_fields(&e));
        // Arrays: any element, also through a path.
        assert!(rule("  sel:\n    Hashes|contains: sha256=bbb\n  condition: sel").matches_fields(&e));
        assert!(rule("  sel:\n    resources.ARN: 'arn:aws:s3:::b'\n  condition: sel").matches_fields(&e));
        // Exact spelling first, then ASCII case folded.
        assert!(rule("  sel:\n    useridentity.TYPE: AssumedRole\n  condition: sel").matches_fields(&e));
        // null: absent or null.
        assert!(rule("  sel:\n    Missing: null\n    Empty: null\n  condition: sel").matches_fields(&e));
        assert!(!rule("  sel:\n    Image: null\n  condition: sel").matches_fields(&e));
    }

    #[test]
    fn conditions() {
        let e = event();
        let det = "  sel_a:\n    EventID: 1\n  sel_b:\n    EventID: 2\n  filter_x:\n    ParentImage|endswith: winword.exe\n  _meta:\n    EventID: 3\n";
        let cases = [
            ("sel_a", true),
            ("sel_b", false),
            ("sel_a and filter_x", true),
            ("sel_a and not filter_x", false),
            ("sel_b or filter_x", true),
            ("not sel_a or sel_b", false),
            ("not (sel_a and sel_b)", true),
            ("(sel_a or sel_b) and not (filter_x and sel_b)", true),
            ("1 of sel_*", true),
            ("all of sel_*", false),
            ("all of filter_*", true),
            ("1 of them", true),
            ("all of them", false),
            ("1 of sel_* and not 1 of filter_*", false),
            ("2 of them", true),
            ("3 of them", false),
        ];
        for (cond, want) in cases {
            let r = rule(&format!("{det}  condition: {cond}\n"));
            assert_eq!(r.matches_fields(&e), want, "{cond}");
        }
        // `them` ignores `_` identifiers: without `_meta`, all three others would have to hold.
        let r = rule("  sel:\n    EventID: 1\n  _meta:\n    EventID: 3\n  condition: all of them\n");
        assert!(r.matches_fields(&e));
        // A list of conditions is any of them.
        let r = rule(&format!("{det}  condition:\n    - sel_b\n    - filter_x\n"));
        assert!(r.matches_fields(&e));
        for bad in ["sel_a and", "sel_c", "(sel_a", "sel_a | count() > 5", "1 of nope*", "sel_a sel_b"] {
            assert!(SigmaMatcher::parse(&format!("detection:\n{det}  condition: {bad}\n")).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_of_maps_and_keywords() {
        let e = event();
        assert!(rule("  sel:\n    - EventID: 5\n    - CommandLine|contains: enc\n      EventID: 1\n  condition: sel").matches_fields(&e));
        assert!(!rule("  sel:\n    - EventID: 5\n    - CommandLine|contains: enc\n      EventID: 2\n  condition: sel").matches_fields(&e));
        assert!(rule("  keywords:\n    - nothing\n    - 'SQBFAF'\n  condition: keywords").matches_fields(&e));
        assert!(!rule("  keywords:\n    - nothing\n  condition: keywords").matches_fields(&e));
    }

    #[test]
    fn matches_an_alert_by_its_fields_only() {
        let alert = Alert::parse(
            0,
            &json!({"id": "a1", "source": "sysmon", "time": "2026-03-02T10:15:00Z", "rule": {"name": "Encoded PowerShell"}, "fields": {"Image": "C:\\x\\powershell.exe"}}),
        )
        .unwrap();
        let yaml = "title: t\nid: x\nlogsource:\n  product: windows\ndetection:\n  sel:\n    Image|endswith: '\\powershell.exe'\n  condition: sel\n";
        assert_eq!(matches(yaml, &alert), Ok(true));
        // `rule.name` is no log field.
        let yaml = "detection:\n  sel:\n    rule.name: Encoded PowerShell\n  condition: sel\n";
        assert_eq!(matches(yaml, &alert), Ok(false));
        assert!(matches("title: x\n", &alert).is_err());
    }
}
