//! Import of a STIX 2.x bundle in the shape of MITRE's `enterprise-attack.json`.
//!
//! Produces the facts catalog (techniques and [`Relations`]: software, detection strategies,
//! analytics, data components, groups, campaigns) and the prose searchable documents are
//! made of. The catalog holds facts only; the documents also carry the bundle's description
//! text, which is indexed in the operator's data dir and never shipped in this repository.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::relations::{Analytic, Campaign, DataComponent, DetectionStrategy, Group, LogSource, LogSourceRef, Relations, Software, SoftwareType};
use super::{Catalog, CatalogError, Tactic, Technique, TechniqueId};

#[derive(Deserialize)]
struct Bundle {
    #[serde(default)]
    id: String,
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

/// The bundle's own text about a non-technique object, kept for its document only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prose {
    pub description: String,
    /// An analytic's `x_mitre_mutable_elements`: (field, description).
    pub mutable_elements: Vec<(String, String)>,
}

pub struct Imported {
    pub catalog: Catalog,
    pub documents: Vec<TechniqueDoc>,
    /// Prose of software, analytics and data components by ATT&CK ID (`S0160`, `AN0001`).
    /// Never written to the catalog.
    pub prose: HashMap<String, Prose>,
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

fn str_of<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn type_of(obj: &Value) -> &str {
    str_of(obj, "type")
}

fn active(obj: &Value) -> bool {
    !flag(obj, "revoked") && !flag(obj, "x_mitre_deprecated")
}

/// Adds `item` to a sorted, duplicate-free list.
fn insert_sorted<T: Ord>(v: &mut Vec<T>, item: T) {
    if let Err(i) = v.binary_search(&item) {
        v.insert(i, item);
    }
}

/// Software, detection strategies, analytics, data components, groups and campaigns, with
/// the prose of each kept apart. `technique_of` maps a STIX id to an active technique.
fn relations(objects: &[Value], technique_of: &dyn Fn(&str) -> Option<TechniqueId>, prose: &mut HashMap<String, Prose>) -> Relations {
    // Active objects of the kinds kept, by STIX id → ATT&CK ID.
    let mut ids: HashMap<&str, &str> = HashMap::new();
    for o in objects.iter().filter(|o| active(o)) {
        if matches!(
            type_of(o),
            "tool" | "malware" | "x-mitre-detection-strategy" | "x-mitre-analytic" | "x-mitre-data-component" | "intrusion-set" | "campaign"
        ) && let (Some(stix), Some(id)) = (o.get("id").and_then(Value::as_str), attack_id(o))
        {
            ids.insert(stix, id);
        }
    }
    // What each object uses, detects or is attributed to, by ATT&CK ID.
    let mut techniques: HashMap<&str, Vec<TechniqueId>> = HashMap::new();
    let mut software: HashMap<&str, Vec<String>> = HashMap::new();
    let mut groups: HashMap<&str, Vec<String>> = HashMap::new();
    for rel in objects.iter().filter(|o| type_of(o) == "relationship" && active(o)) {
        let Some(src) = ids.get(str_of(rel, "source_ref")).copied() else { continue };
        let target = str_of(rel, "target_ref");
        match str_of(rel, "relationship_type") {
            "uses" | "detects" => {
                if let Some(t) = technique_of(target) {
                    insert_sorted(techniques.entry(src).or_default(), t);
                } else if (target.starts_with("tool--") || target.starts_with("malware--"))
                    && let Some(s) = ids.get(target)
                {
                    insert_sorted(software.entry(src).or_default(), s.to_string());
                }
            }
            "attributed-to" => {
                if let Some(g) = ids.get(target) {
                    insert_sorted(groups.entry(src).or_default(), g.to_string());
                }
            }
            _ => {}
        }
    }
    let take = |m: &mut HashMap<&str, Vec<TechniqueId>>, id: &str| m.remove(id).unwrap_or_default();
    let mut r = Relations::default();
    let mut strategy_of: HashMap<&str, &str> = HashMap::new();
    for o in objects.iter().filter(|o| active(o)) {
        let Some(id) = attack_id(o) else { continue };
        let name = str_of(o, "name").to_string();
        let description = str_of(o, "description").to_string();
        match type_of(o) {
            kind @ ("tool" | "malware") => {
                if !description.is_empty() {
                    prose.insert(id.to_string(), Prose { description, mutable_elements: Vec::new() });
                }
                r.software.push(Software {
                    id: id.to_string(),
                    name,
                    aliases: strings(o, "x_mitre_aliases"),
                    software_type: if kind == "tool" { SoftwareType::Tool } else { SoftwareType::Malware },
                    platforms: strings(o, "x_mitre_platforms"),
                    techniques: take(&mut techniques, id),
                });
            }
            "x-mitre-detection-strategy" => {
                let analytics: Vec<String> = o
                    .get("x_mitre_analytic_refs")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter_map(|a| ids.get(a))
                    .map(|a| a.to_string())
                    .collect();
                for a in o.get("x_mitre_analytic_refs").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                    if let Some(an) = ids.get(a) {
                        strategy_of.insert(an, id);
                    }
                }
                r.detection_strategies.push(DetectionStrategy { id: id.to_string(), name, techniques: take(&mut techniques, id), analytics });
            }
            "x-mitre-data-component" => {
                let log_sources = o
                    .get("x_mitre_log_sources")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|l| LogSource { name: str_of(l, "name").trim().to_string(), channel: str_of(l, "channel").trim().to_string() })
                    .filter(|l| !l.name.is_empty())
                    .collect();
                r.data_components.push(DataComponent { id: id.to_string(), name, log_sources });
            }
            "intrusion-set" => r.groups.push(Group {
                id: id.to_string(),
                name,
                aliases: strings(o, "aliases"),
                techniques: take(&mut techniques, id),
                software: software.remove(id).unwrap_or_default(),
            }),
            "campaign" => r.campaigns.push(Campaign {
                id: id.to_string(),
                name,
                aliases: strings(o, "aliases"),
                techniques: take(&mut techniques, id),
                software: software.remove(id).unwrap_or_default(),
                groups: groups.remove(id).unwrap_or_default(),
            }),
            _ => {}
        }
    }
    // Analytics last: they need the strategy that lists them.
    for o in objects.iter().filter(|o| active(o) && type_of(o) == "x-mitre-analytic") {
        let Some(id) = attack_id(o) else { continue };
        let log_sources = o
            .get("x_mitre_log_source_references")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|l| LogSourceRef {
                data_component: ids.get(str_of(l, "x_mitre_data_component_ref")).map(|d| d.to_string()).unwrap_or_default(),
                name: str_of(l, "name").trim().to_string(),
                channel: str_of(l, "channel").trim().to_string(),
            })
            .filter(|l| !l.name.is_empty())
            .collect();
        let mutable: Vec<(String, String)> = o
            .get("x_mitre_mutable_elements")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| (str_of(m, "field").trim().to_string(), str_of(m, "description").trim().to_string()))
            .filter(|(f, _)| !f.is_empty())
            .collect();
        prose.insert(id.to_string(), Prose { description: str_of(o, "description").to_string(), mutable_elements: mutable });
        r.analytics.push(Analytic {
            id: id.to_string(),
            name: str_of(o, "name").to_string(),
            platforms: strings(o, "x_mitre_platforms"),
            strategy: strategy_of.get(id).map(|s| s.to_string()).unwrap_or_default(),
            log_sources,
        });
    }
    r.software.sort_by(|a, b| a.id.cmp(&b.id));
    r.detection_strategies.sort_by(|a, b| a.id.cmp(&b.id));
    r.analytics.sort_by(|a, b| a.id.cmp(&b.id));
    r.data_components.sort_by(|a, b| a.id.cmp(&b.id));
    r.groups.sort_by(|a, b| a.id.cmp(&b.id));
    r.campaigns.sort_by(|a, b| a.id.cmp(&b.id));
    r
}

/// The ATT&CK version a bundle says it holds: an `x-mitre-collection`'s `x_mitre_version`
/// (MITRE's published bundles), else a bundle id like `bundle--enterprise-attack-v18-1`.
fn attack_version(bundle_id: &str, objects: &[Value]) -> Option<String> {
    if let Some(v) = objects.iter().find(|o| type_of(o) == "x-mitre-collection").map(|o| str_of(o, "x_mitre_version")).filter(|v| !v.is_empty()) {
        return Some(v.to_string());
    }
    let tail = bundle_id.rsplit_once("-v")?.1;
    let (major, minor) = tail.split_once('-').unwrap_or((tail, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(major) && digits(minor)).then(|| format!("{major}.{minor}"))
}

/// Parses a bundle's JSON text. `name` names it in the catalog's `source` (the file name):
/// `ATT&CK v18.1 (enterprise-attack.json)` when the bundle tells its version, else
/// `ATT&CK STIX bundle enterprise-attack.json`.
pub fn import(json: &str, name: &str) -> Result<Imported, CatalogError> {
    let bundle: Bundle = serde_json::from_str(json)?;
    let source = match attack_version(&bundle.id, &bundle.objects) {
        Some(v) => format!("ATT&CK v{v} ({name})"),
        None => format!("ATT&CK STIX bundle {name}"),
    };
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
    // Relationships may point only at active techniques.
    let active_by_stix: HashMap<&str, TechniqueId> = bundle
        .objects
        .iter()
        .filter(|o| type_of(o) == "attack-pattern")
        .filter_map(|o| {
            let id = TechniqueId::parse(attack_id(o)?).ok()?;
            techniques.get(&id).filter(|t| t.is_active())?;
            Some((o.get("id")?.as_str()?, id))
        })
        .collect();
    let mut prose = HashMap::new();
    let relations = relations(&bundle.objects, &|stix| active_by_stix.get(stix).cloned(), &mut prose);
    Ok(Imported { catalog: Catalog::new(source, tactics, techniques, relations), documents, prose })
}
