//! Import of a STIX 2.x bundle in the shape of MITRE's `enterprise-attack.json`.
//!
//! Produces the facts catalog and one searchable document per technique. The catalog holds
//! facts only; the documents also carry the bundle's description text, which is indexed in
//! the operator's data dir and never shipped in this repository.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::{Catalog, CatalogError, Tactic, Technique, TechniqueId};

#[derive(Deserialize)]
struct Bundle {
    objects: Vec<Value>,
}

/// A technique as an index document: facts plus the bundle's own description.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TechniqueDoc {
    pub id: TechniqueId,
    pub name: String,
    pub tactics: Vec<String>,
    pub platforms: Vec<String>,
    pub data_sources: Vec<String>,
    pub description: String,
    pub detection: String,
}

pub struct Imported {
    pub catalog: Catalog,
    pub documents: Vec<TechniqueDoc>,
}

fn attack_id(obj: &Value) -> Option<&str> {
    obj.get("external_references")?
        .as_array()?
        .iter()
        .find(|r| r.get("source_name").and_then(Value::as_str) == Some("mitre-attack"))?
        .get("external_id")?
        .as_str()
}

fn strings(obj: &Value, key: &str) -> Vec<String> {
    obj.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default()
}

fn flag(obj: &Value, key: &str) -> bool {
    obj.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Parses a bundle's JSON text. `source` names it in the catalog (e.g. the file name).
pub fn import(json: &str, source: &str) -> Result<Imported, CatalogError> {
    let bundle: Bundle = serde_json::from_str(json)?;
    let by_stix_id: HashMap<&str, &Value> = bundle.objects.iter().filter_map(|o| Some((o.get("id")?.as_str()?, o))).collect();
    let stix_to_attack = |stix: &str| -> Option<TechniqueId> { by_stix_id.get(stix).and_then(|o| attack_id(o)).and_then(|id| TechniqueId::parse(id).ok()) };

    let mut revoked_by: HashMap<&str, TechniqueId> = HashMap::new();
    for rel in bundle.objects.iter().filter(|o| o.get("type").and_then(Value::as_str) == Some("relationship")) {
        if rel.get("relationship_type").and_then(Value::as_str) != Some("revoked-by") {
            continue;
        }
        if let (Some(src), Some(dst)) = (rel.get("source_ref").and_then(Value::as_str), rel.get("target_ref").and_then(Value::as_str).and_then(stix_to_attack))
        {
            revoked_by.insert(src, dst);
        }
    }

    // Tactics in matrix order, so a technique's tactics read left to right.
    let matrix_order: Vec<&str> = bundle
        .objects
        .iter()
        .find(|o| o.get("type").and_then(Value::as_str) == Some("x-mitre-matrix"))
        .and_then(|m| m.get("tactic_refs"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut tactics: Vec<(usize, Tactic)> = bundle
        .objects
        .iter()
        .filter(|o| o.get("type").and_then(Value::as_str) == Some("x-mitre-tactic"))
        .filter(|o| !flag(o, "x_mitre_deprecated") && !flag(o, "revoked"))
        .filter_map(|o| {
            let stix = o.get("id")?.as_str()?;
            let order = matrix_order.iter().position(|r| *r == stix).unwrap_or(usize::MAX);
            Some((
                order,
                Tactic {
                    id: attack_id(o)?.to_string(),
                    shortname: o.get("x_mitre_shortname")?.as_str()?.to_string(),
                    name: o.get("name")?.as_str()?.to_string(),
                },
            ))
        })
        .collect();
    tactics.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
    let tactics: Vec<Tactic> = tactics.into_iter().map(|(_, t)| t).collect();
    let tactic_rank = |s: &str| tactics.iter().position(|t| t.shortname == s).unwrap_or(usize::MAX);

    let mut techniques = BTreeMap::new();
    let mut documents = Vec::new();
    for obj in bundle.objects.iter().filter(|o| o.get("type").and_then(Value::as_str) == Some("attack-pattern")) {
        let Some(id) = attack_id(obj).and_then(|i| TechniqueId::parse(i).ok()) else {
            continue;
        };
        let stix_id = obj.get("id").and_then(Value::as_str).unwrap_or_default();
        let mut technique_tactics: Vec<String> = obj
            .get("kill_chain_phases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| p.get("kill_chain_name").and_then(Value::as_str) == Some("mitre-attack"))
            .filter_map(|p| p.get("phase_name").and_then(Value::as_str).map(str::to_string))
            .collect();
        technique_tactics.sort_by_key(|t| tactic_rank(t));
        let name = obj.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let url = obj
            .get("external_references")
            .and_then(Value::as_array)
            .and_then(|refs| refs.iter().find(|r| r.get("source_name").and_then(Value::as_str) == Some("mitre-attack")))
            .and_then(|r| r.get("url"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("https://attack.mitre.org/techniques/{}", id.as_str().replace('.', "/")));
        let technique = Technique {
            parent: id.is_subtechnique().then(|| id.parent()),
            revoked_by: revoked_by.get(stix_id).cloned(),
            revoked: flag(obj, "revoked"),
            deprecated: flag(obj, "x_mitre_deprecated"),
            platforms: strings(obj, "x_mitre_platforms"),
            data_sources: strings(obj, "x_mitre_data_sources"),
            tactics: technique_tactics,
            name,
            url,
            id: id.clone(),
        };
        if technique.is_active() {
            documents.push(TechniqueDoc {
                id: id.clone(),
                name: technique.name.clone(),
                tactics: technique.tactics.clone(),
                platforms: technique.platforms.clone(),
                data_sources: technique.data_sources.clone(),
                description: obj.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
                detection: obj.get("x_mitre_detection").and_then(Value::as_str).unwrap_or_default().to_string(),
            });
        }
        techniques.insert(id, technique);
    }
    if techniques.is_empty() {
        return Err(CatalogError::Empty);
    }
    Ok(Imported { catalog: Catalog { source: source.to_string(), tactics, techniques }, documents })
}
