//! ATT&CK technique names said in a rule's own words: "Windows Modify Registry Delete
//! Firewall Rules" names Modify Registry (T1112), "Kerberoasting via RC4 tickets" names
//! Kerberoasting. Only names that mean one technique, and are not everyday words, count.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::attack::{Catalog, TechniqueId};

/// Names too common in ordinary prose, or in rule names about other things, to be evidence.
const TOO_COMMON: [&str; 17] = [
    "at",
    "cdns",
    "compression",
    "credentials",
    "databases",
    "dll",
    "firmware",
    "hardware",
    "lua",
    "proxy",
    "software",
    "ssh",
    "tool",
    "trap",
    "vulnerabilities",
    "whois",
    "impersonation",
];

pub struct NameIndex {
    matcher: Option<AhoCorasick>,
    ids: Vec<TechniqueId>,
    names: Vec<String>,
}

/// A technique name found in a text, and the name as the catalog spells it.
#[derive(Debug, Clone, PartialEq)]
pub struct NameHit {
    pub technique_id: TechniqueId,
    pub name: String,
}

impl NameIndex {
    pub fn of(catalog: &Catalog) -> NameIndex {
        let mut by_name: std::collections::BTreeMap<String, Vec<TechniqueId>> = std::collections::BTreeMap::new();
        for t in catalog.techniques.values().filter(|t| t.is_active()) {
            by_name.entry(t.name.to_ascii_lowercase()).or_default().push(t.id.clone());
        }
        let (mut ids, mut names) = (Vec::new(), Vec::new());
        for (name, techniques) in by_name {
            // A name shared by several techniques ("Local Account") says nothing by itself.
            if techniques.len() != 1 || TOO_COMMON.contains(&name.as_str()) || name.len() < 3 {
                continue;
            }
            ids.extend(techniques);
            names.push(name);
        }
        let matcher = AhoCorasickBuilder::new().ascii_case_insensitive(true).match_kind(MatchKind::LeftmostLongest).build(&names).ok();
        NameIndex { matcher, ids, names }
    }

    /// Technique names said in `text` as whole words, each once.
    pub fn find(&self, text: &str) -> Vec<NameHit> {
        let Some(m) = &self.matcher else { return Vec::new() };
        let bytes = text.as_bytes();
        let word = |i: usize| bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric());
        let mut out: Vec<NameHit> = Vec::new();
        for hit in m.find_iter(text) {
            let (s, e) = (hit.start(), hit.end());
            if (s > 0 && word(s - 1)) || word(e) {
                continue;
            }
            let i = hit.pattern().as_usize();
            if !out.iter().any(|h| h.technique_id == self.ids[i]) {
                out.push(NameHit { technique_id: self.ids[i].clone(), name: self.names[i].clone() });
            }
        }
        out
    }
}

impl std::fmt::Debug for NameIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NameIndex({} names)", self.names.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unambiguous_technique_names_as_whole_words() {
        let idx = NameIndex::of(&Catalog::embedded().unwrap());
        let ids = |t: &str| idx.find(t).into_iter().map(|h| h.technique_id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids("Windows Modify Registry Delete Firewall Rules"), vec!["T1112"]);
        assert_eq!(ids("Possible kerberoasting of SPN accounts"), vec!["T1558.003"]);
        // Ambiguous ("Local Account") and everyday ("credentials") names are not evidence.
        assert!(ids("New local account with stolen credentials").is_empty());
        // Whole words only: "PowerShellGet" is not PowerShell.
        assert!(ids("PowerShellGet module update").is_empty());
    }
}
