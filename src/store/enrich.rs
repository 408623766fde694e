//! Enrichment data (contract section 12): inventory records, threat-intel indicators and
//! their observables, change records. Each import is one transaction with its audit entry:
//! a file is kept whole or not at all.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde_json::json;

use super::{Store, StoreError, audit, now};
use crate::enrich::changes::ChangeRecord;
use crate::enrich::import::{Entity, stored_time};
use crate::enrich::intel::{Indicator, ObsKind, Observable};
use crate::enrich::inventory::InventoryRecord;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS inventory (
    entity_key TEXT PRIMARY KEY, entity TEXT NOT NULL, record TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intel_indicators (
    id TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intel_observables (
    kind TEXT NOT NULL, value TEXT NOT NULL, indicator_id TEXT NOT NULL,
    PRIMARY KEY (kind, value, indicator_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS intel_observables_indicator ON intel_observables(indicator_id);
CREATE TABLE IF NOT EXISTS intel_prefixes (
    family INTEGER NOT NULL, len INTEGER NOT NULL, PRIMARY KEY (family, len)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    id TEXT PRIMARY KEY, entity_key TEXT NOT NULL, time TEXT NOT NULL, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_entity_time ON changes(entity_key, time);
"#;

fn entity_of(text: &str) -> Result<Entity, StoreError> {
    Entity::parse(text).map_err(StoreError::InvalidEntity)
}

impl Store {
    /// Upserts inventory records by entity, in one transaction.
    pub fn import_inventory(&self, records: &[InventoryRecord], actor: &str) -> Result<usize, StoreError> {
        let at = now();
        self.tx(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO inventory (entity_key, entity, record, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(entity_key) DO UPDATE SET entity = excluded.entity, record = excluded.record, updated_at = excluded.updated_at",
            )?;
            for r in records {
                let e = entity_of(&r.entity)?;
                stmt.execute(params![e.key, e.text, serde_json::to_string(r)?, at])?;
            }
            audit::append(tx, actor, "enrich.inventory.import", "inventory", &json!({"records": records.len()}))?;
            Ok(records.len())
        })
    }

    /// Upserts indicators by id (their observables replaced), in one transaction.
    pub fn import_intel(&self, indicators: &[Indicator], actor: &str) -> Result<usize, StoreError> {
        let at = now();
        self.tx(|tx| {
            let mut del = tx.prepare_cached("DELETE FROM intel_observables WHERE indicator_id = ?1")?;
            let mut ind = tx.prepare_cached(
                "INSERT INTO intel_indicators (id, record, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
            )?;
            let mut obs = tx.prepare_cached("INSERT OR IGNORE INTO intel_observables (kind, value, indicator_id) VALUES (?1, ?2, ?3)")?;
            let mut prefix = tx.prepare_cached("INSERT OR IGNORE INTO intel_prefixes (family, len) VALUES (?1, ?2)")?;
            for i in indicators {
                del.execute(params![i.id])?;
                ind.execute(params![i.id, serde_json::to_string(i)?, at])?;
                for o in &i.observables {
                    obs.execute(params![o.kind.as_str(), o.value, i.id])?;
                    if o.kind == ObsKind::Cidr
                        && let Some((net, len)) = o.value.split_once('/')
                    {
                        let family = if net.contains(':') { 6 } else { 4 };
                        prefix.execute(params![family, len.parse::<i64>().unwrap_or(0)])?;
                    }
                }
            }
            audit::append(tx, actor, "enrich.intel.import", "intel", &json!({"indicators": indicators.len()}))?;
            Ok(indicators.len())
        })
    }

    /// Upserts change records by id, in one transaction.
    pub fn import_changes(&self, changes: &[ChangeRecord], actor: &str) -> Result<usize, StoreError> {
        self.tx(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO changes (id, entity_key, time, record) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET entity_key = excluded.entity_key, time = excluded.time, record = excluded.record",
            )?;
            for c in changes {
                let e = entity_of(&c.entity)?;
                stmt.execute(params![c.id, e.key, stored_time(&c.time), serde_json::to_string(c)?])?;
            }
            audit::append(tx, actor, "enrich.changes.import", "changes", &json!({"changes": changes.len()}))?;
            Ok(changes.len())
        })
    }

    /// Inventory records by entity key (`host:ws-042`), for the keys that have one.
    pub fn inventory_records(&self, keys: &[String]) -> Result<BTreeMap<String, InventoryRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT record FROM inventory WHERE entity_key = ?1")?;
        let mut out = BTreeMap::new();
        for k in keys {
            if out.contains_key(k) {
                continue;
            }
            let rec: Option<String> = stmt.query_row(params![k], |r| r.get(0)).optional()?;
            if let Some(text) = rec {
                out.insert(k.clone(), serde_json::from_str(&text)?);
            }
        }
        Ok(out)
    }

    /// Indicators that list any of `observables`, with the observables they matched on.
    /// Addresses are also matched against imported ranges.
    pub fn intel_matches(&self, observables: &[Observable]) -> Result<Vec<(Indicator, Vec<Observable>)>, StoreError> {
        let conn = self.conn()?;
        let mut by_value = conn.prepare_cached("SELECT indicator_id FROM intel_observables WHERE kind = ?1 AND value = ?2")?;
        let prefixes: Vec<(i64, i64)> = if observables.iter().any(|o| o.kind == ObsKind::Ip) {
            let mut p = conn.prepare_cached("SELECT family, len FROM intel_prefixes")?;
            p.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let mut hits: BTreeMap<String, Vec<Observable>> = BTreeMap::new();
        let mut look = |kind: ObsKind, value: &str, matched: &Observable| -> Result<(), StoreError> {
            let ids = by_value.query_map(params![kind.as_str(), value], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            for id in ids {
                let v = hits.entry(id).or_default();
                if !v.contains(matched) {
                    v.push(matched.clone());
                }
            }
            Ok(())
        };
        for o in observables {
            match o.kind {
                ObsKind::Domain => {
                    for d in crate::enrich::intel::domain_and_parents(&o.value) {
                        look(ObsKind::Domain, &d, o)?;
                    }
                }
                ObsKind::Ip => {
                    look(ObsKind::Ip, &o.value, o)?;
                    if let Ok(ip) = o.value.parse::<std::net::IpAddr>() {
                        let family = if ip.is_ipv4() { 4 } else { 6 };
                        for (_, len) in prefixes.iter().filter(|(f, _)| *f == family) {
                            let net = crate::enrich::intel::network(ip, *len as u8);
                            look(ObsKind::Cidr, &format!("{net}/{len}"), o)?;
                        }
                    }
                }
                kind => look(kind, &o.value, o)?,
            }
        }
        let mut get = conn.prepare_cached("SELECT record FROM intel_indicators WHERE id = ?1")?;
        let mut out = Vec::new();
        for (id, matched) in hits {
            let rec: Option<String> = get.query_row(params![id], |r| r.get(0)).optional()?;
            if let Some(text) = rec {
                out.push((serde_json::from_str(&text)?, matched));
            }
        }
        Ok(out)
    }

    /// One indicator by id.
    pub fn indicator(&self, id: &str) -> Result<Option<Indicator>, StoreError> {
        let conn = self.conn()?;
        let text: Option<String> = conn.query_row("SELECT record FROM intel_indicators WHERE id = ?1", params![id], |r| r.get(0)).optional()?;
        Ok(match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        })
    }

    /// One change record by id.
    pub fn change(&self, id: &str) -> Result<Option<ChangeRecord>, StoreError> {
        let conn = self.conn()?;
        let text: Option<String> = conn.query_row("SELECT record FROM changes WHERE id = ?1", params![id], |r| r.get(0)).optional()?;
        Ok(match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        })
    }

    /// Changes to an entity (by key) in `[from, to]`, oldest first.
    pub fn changes_between(&self, entity_key: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ChangeRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT record FROM changes WHERE entity_key = ?1 AND time >= ?2 AND time <= ?3 ORDER BY time, id LIMIT 50")?;
        let rows = stmt.query_map(params![entity_key, stored_time(&from), stored_time(&to)], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        rows.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
    }

    /// How many records of each kind are loaded.
    pub fn enrichment_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let conn = self.conn()?;
        let count = |table: &str| conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get::<_, i64>(0));
        Ok((count("inventory")?, count("intel_indicators")?, count("changes")?))
    }
}
