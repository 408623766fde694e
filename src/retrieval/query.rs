//! Turning alerts into a retrieval query: weighted terms from the rule, the raw fields and
//! the entities, plus the ATT&CK IDs the sender attached.

use std::collections::HashMap;

use tantivy::Index;
use tantivy::Term;
use tantivy::schema::Field;
use tantivy::tokenizer::TokenStream;

use super::Partition;
use super::score::Clause;

use crate::alert::Alert;

/// Terms kept per query: enough for a rich alert, few enough that noise can't dominate.
pub(super) const MAX_TERMS: usize = 96;
pub(super) const TITLE_BOOST: f32 = 2.0;
pub(super) const KEYWORDS_BOOST: f32 = 1.5;
const TECHNIQUE_BOOST: f32 = 2.5;
/// Expansion terms must outweigh the incidental word overlap of technique prose.
const EXPANSION_BOOST: f32 = 12.0;

/// The fields a query runs against: text fields with their boosts, the techniques field,
/// and which of the alerts' terms to use.
pub(super) struct SearchFields {
    pub text: Vec<(Field, f32)>,
    /// Where technique tags and expansions are matched; `None` to ignore them.
    pub techniques: Option<Field>,
    /// At most this many terms, the heaviest.
    pub max_terms: usize,
    /// A term that more documents than this have in a field is common there: its clause is
    /// set apart ([`AlertQuery::to_split_clauses`]).
    pub max_doc_freq: Option<u64>,
}

/// The clauses of a search without those of common terms, and those clauses.
pub(super) type SplitClauses = (Vec<Clause>, Vec<Clause>);

/// Text parts with their weights, before tokenisation.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    parts: Vec<(String, f32)>,
    techniques: Vec<String>,
    expansion: Vec<String>,
    /// The weighted terms of `parts`, heaviest first: tokenised once per query, however
    /// many kinds are searched with it.
    terms: std::sync::OnceLock<Vec<(String, f32)>>,
}

impl AlertQuery {
    pub fn from_alerts(alerts: &[Alert]) -> AlertQuery {
        let mut q = AlertQuery::default();
        for a in alerts {
            q.parts.push((a.rule.name.clone(), 3.0));
            if let Some(d) = &a.rule.description {
                q.parts.push((d.clone(), 1.2));
            }
            q.parts.push((a.source.replace(['-', '_'], " "), 1.0));
            crate::jsonpath::for_each_scalar(&a.fields, "", &mut |path, value| {
                let key = path.rsplit(['.', ']']).next().unwrap_or(path);
                q.parts.push((split_camel(key), 0.6));
                if value.len() <= 2_000 {
                    q.parts.push((value.to_string(), 1.0));
                }
            });
            for (kind, value) in a.entities.targets() {
                if matches!(kind, "user" | "host" | "ip" | "token" | "cloud_account") {
                    continue; // Names of people and machines rarely say what happened.
                }
                q.parts.push((value.to_string(), 0.4));
            }
            q.techniques.extend(a.technique_hints.iter().cloned());
        }
        q
    }

    /// A query from free text (used by tests and `triage search`).
    pub fn from_text(text: &str) -> AlertQuery {
        AlertQuery { parts: vec![(text.to_string(), 1.0)], ..AlertQuery::default() }
    }

    pub fn with_techniques(mut self, ids: &[String]) -> AlertQuery {
        self.techniques.extend(ids.iter().cloned());
        self
    }

    /// The techniques the query is told about (the sender's tags, the knowledge's candidates).
    pub fn techniques(&self) -> &[String] {
        &self.techniques
    }

    /// The same text without the sender's technique tags: for documents that carry many
    /// techniques each (software), where a tag would lift hundreds alike.
    pub fn without_techniques(&self) -> AlertQuery {
        AlertQuery { techniques: Vec::new(), expansion: Vec::new(), ..self.clone() }
    }

    /// Techniques suggested by other retrieved documents, weighted above plain text.
    pub fn with_expansion(mut self, ids: &[String]) -> AlertQuery {
        self.expansion = ids.to_vec();
        self
    }

    /// The weighted terms of the text parts, heaviest first (ties in order of appearance),
    /// at most [`MAX_TERMS`].
    fn terms(&self, index: &Index) -> &[(String, f32)] {
        if let Some(t) = self.terms.get() {
            return t;
        }
        let Some(mut analyzer) = index.tokenizers().get(super::TOKENIZER) else { return &[] };
        let mut weights: HashMap<String, (f32, usize)> = HashMap::new();
        let mut order = 0usize;
        for (text, weight) in &self.parts {
            let mut stream = analyzer.token_stream(text);
            while stream.advance() {
                let t = stream.token().text.clone();
                if !useful(&t) {
                    continue;
                }
                let e = weights.entry(t).or_insert((0.0, order));
                order += 1;
                // Repetition helps, but with diminishing returns.
                e.0 = if e.0 == 0.0 { *weight } else { e.0 + weight * 0.25 };
            }
        }
        let mut terms: Vec<(String, f32, usize)> = weights.into_iter().map(|(t, (w, o))| (t, w, o)).collect();
        terms.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
        terms.truncate(MAX_TERMS);
        self.terms.get_or_init(|| terms.into_iter().map(|(t, w, _)| (t, w)).collect())
    }

    /// Software names among the alerts' words: runs of one to four words joined the way
    /// [`crate::attack::normalize_software_name`] joins them (`Cobalt Strike` →
    /// `cobaltstrike`, `C:\Tools\PsExec.exe` → `psexec`), kept when `names` holds them,
    /// weighted like terms. A run inside a domain, an e-mail address or a dotted name
    /// (`example.net`, `net@corp`, `.NET`) is no software name; one followed by `.exe` is.
    /// Names held as `plain:<name>` (malware named by an ordinary word) count only where
    /// written as a name: capitalised, after a path separator, before `.exe`, or first in
    /// a field.
    pub(super) fn software_names(&self, names: &std::collections::HashSet<String>, longest: usize) -> Vec<(String, f32)> {
        let mut weights: HashMap<String, (f32, usize)> = HashMap::new();
        let mut order = 0usize;
        for (text, weight) in &self.parts {
            let words = word_spans(text);
            for i in 0..words.len() {
                let before = text[..words[i].0].chars().next_back();
                if matches!(before, Some('.' | '@')) {
                    continue;
                }
                let first = text[words[i].0..].chars().next().is_some_and(char::is_uppercase)
                    || matches!(before, Some('\\' | '/'))
                    || (i == 0 && text[..words[0].0].chars().all(|c| c.is_whitespace() || matches!(c, '"' | '\'')));
                let mut joined = String::new();
                for &(start, end) in words.iter().skip(i).take(4) {
                    joined.push_str(&text[start..end].to_lowercase());
                    if joined.len() > longest {
                        break;
                    }
                    let rest = &text[end..];
                    if joined.len() < 3 || joined.bytes().all(|b| b.is_ascii_digit()) || !ends_a_name(rest) {
                        continue;
                    }
                    let term = if names.contains(&joined) {
                        joined.clone()
                    } else {
                        let plain = format!("plain:{joined}");
                        let exe = rest.get(..4).is_some_and(|e| e.eq_ignore_ascii_case(".exe"));
                        if !(names.contains(&plain) && (first || exe)) {
                            continue;
                        }
                        plain
                    };
                    let e = weights.entry(term).or_insert((0.0, order));
                    order += 1;
                    e.0 = if e.0 == 0.0 { *weight } else { e.0 + weight * 0.25 };
                }
            }
        }
        let mut out: Vec<(String, f32, usize)> = weights.into_iter().map(|(t, (w, o))| (t, w, o)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
        out.into_iter().map(|(t, w, _)| (t, w)).collect()
    }

    /// The clauses over the index `stats` reads. A term no document has in a field gets no
    /// clause there: it could match nothing, and each clause costs a postings lookup.
    pub(super) fn to_clauses(&self, index: &Index, stats: &Partition, fields: &SearchFields) -> Vec<Clause> {
        let (clauses, common) = self.to_split_clauses(index, stats, fields);
        debug_assert!(common.is_empty() || fields.max_doc_freq.is_some());
        clauses
    }

    /// [`AlertQuery::to_clauses`], with the clauses of terms common in their field (more
    /// documents than [`SearchFields::max_doc_freq`] have them) apart: their postings are
    /// the longest and their weights the lowest. Unless every text clause is common, then
    /// none is set apart.
    pub(super) fn to_split_clauses(&self, index: &Index, stats: &Partition, fields: &SearchFields) -> SplitClauses {
        let terms = self.terms(index).iter().take(fields.max_terms);
        let mut clauses: Vec<Clause> = Vec::new();
        let mut common: Vec<Clause> = Vec::new();
        for (t, w) in terms {
            for &(field, boost) in &fields.text {
                let term = Term::from_field_text(field, t);
                let n = stats.field_doc_freq(&term).ok();
                if n == Some(0) {
                    continue;
                }
                let clause = Clause { term, boost: w * boost };
                match (n, fields.max_doc_freq) {
                    (Some(n), Some(max)) if n > max => common.push(clause),
                    _ => clauses.push(clause),
                }
            }
        }
        if clauses.is_empty() {
            clauses = std::mem::take(&mut common);
        }
        if let Some(techniques) = fields.techniques {
            let tagged = self.techniques.iter().map(|id| (id, TECHNIQUE_BOOST));
            let expanded = self.expansion.iter().map(|id| (id, EXPANSION_BOOST));
            clauses.extend(tagged.chain(expanded).map(|(id, boost)| Clause { term: Term::from_field_text(techniques, id.trim()), boost }));
        }
        (clauses, common)
    }
}

/// Byte spans of the runs of letters and digits in `text`.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// Whether what follows a run of words lets it be a whole name: not the local part of an
/// e-mail address, not a label of a dotted name unless that is `.exe`.
fn ends_a_name(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        Some('@') => false,
        Some('.') => {
            let tail = chars.as_str();
            tail.get(..3).is_some_and(|e| e.eq_ignore_ascii_case("exe")) && !tail[3..].chars().next().is_some_and(char::is_alphanumeric)
                || !tail.chars().next().is_some_and(char::is_alphanumeric)
        }
        _ => true,
    }
}

/// Drops tokens that carry no meaning for retrieval: lone characters, long digit runs
/// (timestamps, ports, ids) and hex/base64-looking blobs.
fn useful(t: &str) -> bool {
    if t.len() < 2 {
        return false;
    }
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    if digits == t.len() {
        return t.len() <= 4;
    }
    !(t.len() >= 16 && digits * 4 >= t.len())
}

/// `CommandLine` → `Command Line`, `userIdentity` → `user Identity`.
fn split_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_lowercase();
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_names_are_found_whole_and_not_inside_addresses() {
        let names: std::collections::HashSet<String> =
            ["psexec", "cobaltstrike", "net", "certutil", "agentbtz", "elise", "plain:page"].map(String::from).into();
        let found = |text: &str| {
            let q = AlertQuery::from_text(text);
            let mut v: Vec<String> = q.software_names(&names, 20).into_iter().map(|(n, _)| n).collect();
            v.sort();
            v
        };
        assert_eq!(found(r"C:\Tools\PsExec.exe \\host -s cmd"), ["psexec"]);
        assert_eq!(found("Cobalt Strike beacon; net group /domain"), ["cobaltstrike", "net"]);
        assert_eq!(found("CERTUTIL.EXE -urlcache -f http://x/a"), ["certutil"]);
        assert_eq!(found("agent.btz on a USB stick"), ["agentbtz"]);
        assert!(found("hana.park@globex.example.net, ASP.NET, elise@corp.example, elise.doe").is_empty());
        assert!(found("networking certutils").is_empty());
        // A plain word stands for malware only where written as a name.
        assert!(found("Click permitted to credential phishing page").is_empty());
        assert_eq!(found("Page backdoor beacon"), ["plain:page"]);
        assert_eq!(found(r"C:\Temp\page.exe"), ["plain:page"]);
    }

    #[test]
    fn splits_camel_case_and_filters_noise() {
        assert_eq!(split_camel("CommandLine"), "Command Line");
        assert!(useful("powershel"));
        assert!(!useful("20260302101500"));
        assert!(!useful("a"));
        assert!(useful("4688"));
    }
}
