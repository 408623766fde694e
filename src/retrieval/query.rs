//! Turning alerts into a retrieval query: weighted terms from the rule, the raw fields and
//! the entities, plus the ATT&CK IDs the sender attached.

use std::collections::HashMap;

use tantivy::Index;
use tantivy::Term;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TokenStream;

use crate::alert::Alert;

/// Terms kept per query: enough for a rich alert, few enough that noise can't dominate.
const MAX_TERMS: usize = 96;
const TITLE_BOOST: f32 = 2.0;
const KEYWORDS_BOOST: f32 = 1.5;
const TECHNIQUE_BOOST: f32 = 2.5;
/// Expansion terms must outweigh the incidental word overlap of technique prose.
const EXPANSION_BOOST: f32 = 12.0;

/// Text parts with their weights, before tokenisation.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    parts: Vec<(String, f32)>,
    techniques: Vec<String>,
    expansion: Vec<String>,
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

    /// Techniques suggested by other retrieved documents, weighted above plain text.
    pub fn with_expansion(mut self, ids: &[String]) -> AlertQuery {
        self.expansion = ids.to_vec();
        self
    }

    pub(super) fn to_query(&self, index: &Index, title: Field, body: Field, keywords: Field, techniques: Field) -> Option<Box<dyn Query>> {
        let mut analyzer = index.tokenizers().get(super::TOKENIZER)?;
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

        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (t, w, _) in &terms {
            for (field, boost) in [(title, TITLE_BOOST), (body, 1.0), (keywords, KEYWORDS_BOOST)] {
                let tq = TermQuery::new(Term::from_field_text(field, t), IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), w * boost))));
            }
        }
        for id in &self.techniques {
            let tq = TermQuery::new(Term::from_field_text(techniques, id.trim()), IndexRecordOption::Basic);
            clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), TECHNIQUE_BOOST))));
        }
        for id in &self.expansion {
            let tq = TermQuery::new(Term::from_field_text(techniques, id.trim()), IndexRecordOption::Basic);
            clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), EXPANSION_BOOST))));
        }
        (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
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
    fn splits_camel_case_and_filters_noise() {
        assert_eq!(split_camel("CommandLine"), "Command Line");
        assert!(useful("powershel"));
        assert!(!useful("20260302101500"));
        assert!(!useful("a"));
        assert!(useful("4688"));
    }
}
