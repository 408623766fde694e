//! Context the alerts don't carry (contract section 12): the operator's inventory of assets
//! and identities, threat intel, change records and geo, joined to a request's alerts
//! before retrieval. What is found becomes documents the engines can cite
//! (`inventory:<entity>`, `intel:<indicator id>`, `change:<id>`); where the inventory is
//! stricter than the sender's `asset`, the stricter view is used and the disagreement said.
//!
//! Every source is an operator file or API call; nothing here reaches the network.

pub mod changes;
pub mod evidence;
pub mod geo;
pub mod import;
pub mod intel;
pub mod inventory;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::alert::{Alert, Asset, Redactor};
use crate::app::App;
use crate::corpus::{DocKind, Document};
use crate::recommendation::{MAX_UNCERTAINTY, Recommendation};
use crate::retrieval::Hit;
use crate::store::{Store, StoreError};

use changes::{ChangeRecord, WINDOW_HOURS};
use geo::GeoLabel;
use intel::{Indicator, Observable};
use inventory::{InventoryRecord, Status};

/// At most this many addresses are labelled per request.
const MAX_GEO: usize = 16;
/// Notes enrichment may add to a recommendation's `uncertainty` beyond the engine's own.
pub const MAX_CONTEXT_NOTES: usize = 4;

/// An inventory record joined to the alerts that name its entity.
#[derive(Debug, Clone, Serialize)]
pub struct InventoryMatch {
    pub entity_key: String,
    pub record: InventoryRecord,
    /// `(alert id, JSON path of the entity)`.
    pub alerts: Vec<(String, String)>,
    /// Stale-identity facts (never rotated, unused for 90 days, owner gone).
    pub stale: Vec<String>,
    #[serde(skip)]
    text: String,
}

impl InventoryMatch {
    pub fn doc_ref(&self) -> String {
        format!("inventory:{}", self.record.entity)
    }
}

/// An indicator that matched, and on what.
#[derive(Debug, Clone, Serialize)]
pub struct IntelMatch {
    pub indicator: Indicator,
    /// The alert values it matched.
    pub matches: Vec<MatchedValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchedValue {
    pub alert_id: String,
    pub path: String,
    pub value: String,
}

impl IntelMatch {
    pub fn doc_ref(&self) -> String {
        format!("intel:{}", self.indicator.id)
    }
}

/// A change to an alert's entity within the window before it.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeMatch {
    pub change: ChangeRecord,
    pub entity_key: String,
    pub alert_id: String,
    pub hours_before: f64,
    /// The owner of the entity when the change was made by them: such a change may explain
    /// the alert.
    pub by_owner: Option<String>,
}

impl ChangeMatch {
    pub fn doc_ref(&self) -> String {
        format!("change:{}", self.change.id)
    }
}

/// How the inventory changed one alert's asset view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetView {
    pub alert_id: String,
    pub effective: Asset,
    /// Where the sender and the inventory disagree, in words.
    pub disagreements: Vec<String>,
}

/// Everything enrichment found for one request.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Context {
    pub inventory: Vec<InventoryMatch>,
    pub intel: Vec<IntelMatch>,
    pub changes: Vec<ChangeMatch>,
    pub assets: Vec<AssetView>,
    pub geo: Vec<GeoLabel>,
    /// Indicators that matched outside their validity window: said, not cited.
    pub expired_intel: Vec<String>,
    /// Placeholder (`[REDACTED:github_token#1]`) → fingerprint (`fp_…`).
    #[serde(skip)]
    pub fingerprints: BTreeMap<String, String>,
}

/// No enrichment: for requests that have none (case summaries, tests).
pub static EMPTY: Context = Context {
    inventory: Vec::new(),
    intel: Vec::new(),
    changes: Vec::new(),
    assets: Vec::new(),
    geo: Vec::new(),
    expired_intel: Vec::new(),
    fingerprints: BTreeMap::new(),
};

/// Every entity of an alert as `(target kind, value, JSON path)`.
pub fn entity_paths(a: &Alert) -> Vec<(&'static str, String, String)> {
    let e = &a.entities;
    let groups: [(&'static str, &str, &Vec<String>); 9] = [
        ("user", "users", &e.users),
        ("host", "hosts", &e.hosts),
        ("ip", "ips", &e.ips),
        ("service_account", "service_accounts", &e.service_accounts),
        ("token", "tokens", &e.tokens),
        ("cloud_account", "cloud_accounts", &e.cloud_accounts),
        ("file", "files", &e.files),
        ("url", "urls", &e.urls),
        ("repository", "repositories", &e.repositories),
    ];
    let mut out = Vec::new();
    for (kind, key, values) in groups {
        for (i, v) in values.iter().enumerate() {
            // OCSF alerts keep entities elsewhere in `raw`; cite the path only where it exists.
            let path = format!("entities.{key}[{i}]");
            out.push((kind, v.clone(), if a.value_at(&path).is_some() { path } else { a.rule_name_path().to_string() }));
        }
    }
    out
}

/// The enrichment of a request's alerts. `redactor` is the one that redacted them: it
/// knows the fingerprint of every secret it replaced.
pub fn context(app: &App, alerts: &[Alert], redactor: &Redactor) -> Result<Context, StoreError> {
    build(&app.store, app.geo.as_ref(), alerts, |p| redactor.fingerprint_of(p).map(str::to_string))
}

/// [`context`] over a store directly (benchmarks, tools).
pub fn build(store: &Store, geo_db: Option<&geo::GeoDb>, alerts: &[Alert], fingerprint_of: impl Fn(&str) -> Option<String>) -> Result<Context, StoreError> {
    let mut ctx = Context::default();

    // Entities of every alert, by key; tokens by the fingerprint of the secret.
    let mut named: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for a in alerts {
        for (kind, value, path) in entity_paths(a) {
            let value = match (kind, fingerprint_of(&value)) {
                ("token", Some(fp)) => {
                    ctx.fingerprints.insert(value.clone(), fp.clone());
                    fp
                }
                _ => value,
            };
            named.entry(import::key(kind, &value)).or_default().push((a.id.clone(), path, value));
        }
    }

    // Inventory, and the status of each identity's owner.
    let keys: Vec<String> = named.keys().cloned().collect();
    let records = store.inventory_records(&keys)?;
    let owner_keys: Vec<String> = records.values().filter_map(|r| r.owner.as_deref()).map(|o| import::key("user", o)).collect();
    let owners = store.inventory_records(&owner_keys)?;
    let lead_time = alerts.iter().map(|a| a.time).max().unwrap_or_else(chrono::Utc::now);
    for (key, record) in records {
        let owner_status: Option<Status> = record.owner.as_deref().and_then(|o| owners.get(&import::key("user", o))).and_then(|r| r.status);
        let refs: Vec<(String, String)> = named.get(&key).map(|v| v.iter().map(|(id, path, _)| (id.clone(), path.clone())).collect()).unwrap_or_default();
        let seen_as = ctx.fingerprints.iter().find(|(_, fp)| import::key("token", fp) == key).map(|(p, _)| p.as_str());
        let text = inventory::document_text(&record, lead_time, owner_status, seen_as);
        ctx.inventory.push(InventoryMatch { stale: record.stale_facts(lead_time, owner_status), entity_key: key, record, alerts: refs, text });
    }

    // Threat intel on entities and on values inside fields.
    let mut by_value: BTreeMap<Observable, Vec<MatchedValue>> = BTreeMap::new();
    for a in alerts {
        for c in intel::candidates(a) {
            by_value.entry(c.observable.clone()).or_default().push(MatchedValue { alert_id: a.id.clone(), path: c.path, value: c.observable.value });
        }
    }
    let observables: Vec<Observable> = by_value.keys().cloned().collect();
    for (indicator, matched) in store.intel_matches(&observables)? {
        let values: Vec<MatchedValue> = matched.iter().flat_map(|o| by_value.get(o).cloned().unwrap_or_default()).collect();
        let in_force = values.iter().any(|v| alerts.iter().find(|a| a.id == v.alert_id).is_some_and(|a| indicator.valid_at(a.time)));
        if in_force {
            ctx.intel.push(IntelMatch { indicator, matches: values });
        } else {
            ctx.expired_intel.push(format!(
                "{} matched {} but was not in force at the alert's time; not cited.",
                indicator.id,
                values.first().map(|v| v.value.as_str()).unwrap_or("a value")
            ));
        }
    }

    // Changes to the same entities within the window before each alert.
    let mut seen_changes = BTreeSet::new();
    for a in alerts {
        for (kind, value, _) in entity_paths(a) {
            let value = ctx.fingerprints.get(&value).cloned().unwrap_or(value);
            let key = import::key(kind, &value);
            for c in store.changes_between(&key, a.time - chrono::Duration::hours(WINDOW_HOURS), a.time)? {
                if !seen_changes.insert(c.id.clone()) {
                    continue;
                }
                let owner = ctx.inventory.iter().find(|m| m.entity_key == key).and_then(|m| m.record.owner.clone()).or_else(|| a.asset.owner.clone());
                let by_owner = owner.filter(|o| o.trim().eq_ignore_ascii_case(c.by.trim()));
                let hours_before = (a.time - c.time).num_minutes() as f64 / 60.0;
                ctx.changes.push(ChangeMatch { change: c, entity_key: key.clone(), alert_id: a.id.clone(), hours_before, by_owner });
            }
        }
    }

    // The stricter of the sender's asset and the inventory, per alert.
    for a in alerts {
        let records: Vec<&InventoryMatch> = ctx.inventory.iter().filter(|m| m.alerts.iter().any(|(id, _)| id == &a.id)).collect();
        let view = stricter(a, &records);
        if view.effective != a.asset || !view.disagreements.is_empty() {
            ctx.assets.push(view);
        }
    }

    // Geo for the addresses the alerts name or carry in fields.
    let mut ips: BTreeSet<IpAddr> = BTreeSet::new();
    for a in alerts {
        ips.extend(a.entities.ips.iter().filter_map(|i| i.trim().parse::<IpAddr>().ok()));
    }
    ips.extend(observables.iter().filter(|o| o.kind == intel::ObsKind::Ip).filter_map(|o| o.value.parse::<IpAddr>().ok()));
    ctx.geo = ips.into_iter().take(MAX_GEO).map(|ip| geo::label(ip, geo_db)).collect();
    Ok(ctx)
}

fn env_rank(asset: &Asset) -> u8 {
    if asset.is_production() {
        2
    } else if asset.environment.is_some() {
        1
    } else {
        0
    }
}

/// The stricter of an alert's `asset` and the inventory records of its entities: the more
/// production-like environment, the higher criticality; the owner on record when the
/// sender gave none. Every disagreement is said.
fn stricter(a: &Alert, records: &[&InventoryMatch]) -> AssetView {
    let mut effective = a.asset.clone();
    let mut notes = Vec::new();
    for m in records {
        let inv = m.record.as_asset();
        if let Some(env) = &inv.environment {
            let differs = a.asset.environment.as_deref().is_some_and(|s| !s.eq_ignore_ascii_case(env));
            if env_rank(&inv) > env_rank(&effective) {
                effective.environment = Some(env.clone());
            }
            if differs {
                notes.push(format!(
                    "Inventory says {} is {env}; alert {} said {}. The stricter, {}, is used.",
                    m.record.entity,
                    a.id,
                    a.asset.environment.as_deref().unwrap_or_default(),
                    effective.environment.as_deref().unwrap_or(env)
                ));
            }
        }
        if let (Some(c), Some(level)) = (&inv.criticality, inv.criticality_level()) {
            let sender = a.asset.criticality_level();
            if effective.criticality_level().is_none_or(|e| level > e) {
                effective.criticality = Some(c.clone());
            }
            if sender.is_some_and(|s| s != level) {
                notes.push(format!(
                    "Inventory says {} has criticality {c}; alert {} said {}. The higher, {}, is used.",
                    m.record.entity,
                    a.id,
                    a.asset.criticality.as_deref().unwrap_or_default(),
                    effective.criticality.as_deref().unwrap_or(c)
                ));
            }
        }
        if let Some(o) = &inv.owner {
            match &a.asset.owner {
                Some(s) if !s.eq_ignore_ascii_case(o) => {
                    notes.push(format!("Inventory owner of {} is {o}; alert {} named {s}.", m.record.entity, a.id));
                }
                None if effective.owner.is_none() => effective.owner = Some(o.clone()),
                _ => {}
            }
        }
    }
    AssetView { alert_id: a.id.clone(), effective, disagreements: notes }
}

impl Context {
    /// Whether enrichment found nothing at all.
    pub fn is_empty(&self) -> bool {
        self.inventory.is_empty() && self.intel.is_empty() && self.changes.is_empty() && self.assets.is_empty()
    }

    /// The inventory record of an entity, if the alerts named it and the inventory has it.
    /// A token may be given by placeholder or by fingerprint.
    pub fn inventory_for(&self, kind: &str, value: &str) -> Option<&InventoryMatch> {
        let value = self.fingerprints.get(value).map(String::as_str).unwrap_or(value);
        let key = import::key(kind, value);
        self.inventory.iter().find(|m| m.entity_key == key)
    }

    /// Changes made by the owner of what they changed: they may explain the alert.
    pub fn owner_changes(&self) -> impl Iterator<Item = &ChangeMatch> {
        self.changes.iter().filter(|c| c.by_owner.is_some())
    }

    /// The alerts with the stricter asset view applied; `raw` (what citations point into)
    /// stays as the sender sent it.
    pub fn apply_assets(&self, mut alerts: Vec<Alert>) -> Vec<Alert> {
        for a in &mut alerts {
            if let Some(v) = self.assets.iter().find(|v| v.alert_id == a.id) {
                a.asset = v.effective.clone();
            }
        }
        alerts
    }

    /// The enrichment as retrieved documents. They rank with the best index hit: they are
    /// facts about this request's own entities, and the prompt trims the lowest first.
    pub fn hits(&self, index_hits: &[Hit]) -> Vec<Hit> {
        let score = index_hits.iter().map(|h| h.score).fold(1.0_f32, f32::max);
        let doc = |kind: DocKind, id: &str, title: String, text: String| Hit { doc: std::sync::Arc::new(fact_document(kind, id, title, text)), score };
        let mut out = Vec::new();
        for m in &self.intel {
            let values: Vec<&str> = m.matches.iter().map(|v| v.value.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
            out.push(doc(
                DocKind::Intel,
                &m.indicator.id,
                format!("Threat intel: {} ({})", m.indicator.name, values.join(", ")),
                format!("{}Matched in the alerts: {}\n", m.indicator.document_text(), values.join(", ")),
            ));
        }
        for m in &self.inventory {
            let title = match (&m.record.owner, &m.record.criticality) {
                (Some(o), Some(c)) => format!("Inventory: {} (owner {o}, criticality {c})", m.record.entity),
                (Some(o), None) => format!("Inventory: {} (owner {o})", m.record.entity),
                _ => format!("Inventory: {}", m.record.entity),
            };
            out.push(doc(DocKind::Inventory, &m.record.entity, title, m.text.clone()));
        }
        for c in &self.changes {
            let note = c
                .by_owner
                .as_ref()
                .map(|o| format!("Made by {o}, the owner of {} on record, {:.1} h before alert {}.", c.change.entity, c.hours_before, c.alert_id));
            let note = note.unwrap_or_else(|| format!("Made {:.1} h before alert {}.", c.hours_before, c.alert_id));
            out.push(doc(
                DocKind::Change,
                &c.change.id,
                format!("Change {}: {} on {} by {}", c.change.id, c.change.kind, c.change.entity, c.change.by),
                c.change.document_text(Some(&note)),
            ));
        }
        out
    }

    /// What code knows the engine may not have said: the sender and inventory disagree,
    /// intel out of its window, geo unavailable.
    pub fn notes(&self) -> Vec<String> {
        let mut out: Vec<String> = self.assets.iter().flat_map(|v| v.disagreements.iter().cloned()).collect();
        out.extend(self.expired_intel.iter().cloned());
        let no_geo: Vec<&str> = self.geo.iter().filter(|g| g.range == "public" && g.country.is_none()).map(|g| g.ip.as_str()).collect();
        if !no_geo.is_empty() {
            let why = self.geo.iter().find_map(|g| g.note.clone()).unwrap_or_default();
            out.push(format!("Geo unknown for {} ({why}).", no_geo.join(", ")));
        }
        out
    }

    /// A target with any redacted secret replaced by its fingerprint: `token:[REDACTED:…]`
    /// becomes `token:fp_…`, which a SOAR can act on and the secret is not in.
    pub fn actionable_target(&self, target: &str) -> String {
        let Some((kind, value)) = target.split_once(':') else { return target.to_string() };
        if let Some(fp) = self.fingerprints.get(value.trim()) {
            return format!("token:{fp}");
        }
        let mut out = value.to_string();
        for (placeholder, fp) in &self.fingerprints {
            out = out.replace(placeholder.as_str(), fp);
        }
        format!("{kind}:{out}")
    }
}

/// The code's part of a checked recommendation: actionable targets, the evidence status of
/// every proposed action, and what enrichment knows that must be said.
pub fn finish(rec: &mut Recommendation, actions: &crate::policy::ActionCatalog, alerts: &[Alert], ctx: &Context) {
    for p in &mut rec.proposed_actions {
        p.target = ctx.actionable_target(&p.target);
        p.evidence_status = evidence::status(actions, &p.action, &p.target, alerts, ctx);
    }
    // These are facts the contract says must be noted, whatever the engine wrote: they get
    // room of their own beyond the engine's bound. What an approver will ask for and the
    // case doesn't show is among them, for the first two proposals that miss something.
    let missing: Vec<String> = rec.proposed_actions.iter().filter_map(|p| evidence::missing_note(&p.action, &p.target, &p.evidence_status)).take(2).collect();
    for note in ctx.notes().into_iter().chain(missing) {
        if rec.uncertainty.len() >= MAX_UNCERTAINTY + MAX_CONTEXT_NOTES {
            break;
        }
        if !rec.uncertainty.contains(&note) {
            rec.uncertainty.push(note);
        }
    }
}

/// An enrichment fact as a document: no techniques, actions or verdict of its own.
fn fact_document(kind: DocKind, id: &str, title: String, text: String) -> Document {
    Document { kind, id: id.to_string(), title, text, techniques: Vec::new(), actions: Vec::new(), severity: None, disposition: None, keywords: String::new() }
}

/// The document behind an enrichment ref, read from the store (for `GET /v1/documents`):
/// what a recommendation cited, as it stands now.
pub fn stored_document(store: &Store, doc_ref: &str) -> Result<Option<Document>, StoreError> {
    let make = fact_document;
    if let Some(entity) = doc_ref.strip_prefix("inventory:") {
        let Ok(e) = import::Entity::parse(entity) else { return Ok(None) };
        let records = store.inventory_records(std::slice::from_ref(&e.key))?;
        return Ok(records
            .get(&e.key)
            .map(|r| make(DocKind::Inventory, &r.entity, format!("Inventory: {}", r.entity), inventory::document_text(r, chrono::Utc::now(), None, None))));
    }
    if let Some(id) = doc_ref.strip_prefix("intel:") {
        return Ok(store.indicator(id)?.map(|i| make(DocKind::Intel, &i.id, format!("Threat intel: {}", i.name), i.document_text())));
    }
    if let Some(id) = doc_ref.strip_prefix("change:") {
        return Ok(store.change(id)?.map(|c| make(DocKind::Change, &c.id, format!("Change {}: {} on {}", c.id, c.kind, c.entity), c.document_text(None))));
    }
    Ok(None)
}
