//! Enrichment data (contract section 12): inventory records, threat-intel indicators and
//! their observables, change records. Each import is one transaction with its audit entry:
//! a file is kept whole or not at all.

use std::collections::BTreeMap;

use super::db::params;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Store, StoreError, audit, now};
use crate::enrich::changes::ChangeRecord;
use crate::enrich::import::{Entity, stored_time};
use crate::enrich::intel::{Indicator, ObsKind, Observable};
use crate::enrich::inventory::InventoryRecord;

fn entity_of(text: &str) -> Result<Entity, StoreError> {
    Entity::parse(text).map_err(StoreError::InvalidEntity)
}

impl Store {
    /// Upserts inventory records by entity, in one transaction.
    pub fn import_inventory(&self, records: &[InventoryRecord], actor: &str) -> Result<usize, StoreError> {
        let at = now();
        self.tx(|tx| {
            for r in records {
                let e = entity_of(&r.entity)?;
                tx.execute(
                    "INSERT INTO inventory (entity_key, entity, record, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(entity_key) DO UPDATE SET entity = excluded.entity, record = excluded.record, updated_at = excluded.updated_at",
                    params![e.key, e.text, serde_json::to_string(r)?, at],
                )?;
            }
            audit::append(tx, actor, "enrich.inventory.import", "inventory", &json!({"records": records.len()}))?;
            Ok(records.len())
        })
    }

    /// Upserts indicators by id (their observables replaced), in one transaction.
    pub fn import_intel(&self, indicators: &[Indicator], actor: &str) -> Result<usize, StoreError> {
        let at = now();
        self.tx(|tx| {
            for i in indicators {
                tx.execute("DELETE FROM intel_observables WHERE indicator_id = ?1", params![i.id])?;
                tx.execute(
                    "INSERT INTO intel_indicators (id, record, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
                    params![i.id, serde_json::to_string(i)?, at],
                )?;
                for o in &i.observables {
                    tx.execute(
                        "INSERT INTO intel_observables (kind, value, indicator_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                        params![o.kind.as_str(), o.value, i.id],
                    )?;
                    if o.kind == ObsKind::Cidr
                        && let Some((net, len)) = o.value.split_once('/')
                    {
                        let family = if net.contains(':') { 6 } else { 4 };
                        tx.execute(
                            "INSERT INTO intel_prefixes (family, len) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                            params![family, len.parse::<i64>().unwrap_or(0)],
                        )?;
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
            for c in changes {
                let e = entity_of(&c.entity)?;
                tx.execute(
                    "INSERT INTO changes (id, entity_key, time, record) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET entity_key = excluded.entity_key, time = excluded.time, record = excluded.record",
                    params![c.id, e.key, stored_time(&c.time), serde_json::to_string(c)?],
                )?;
            }
            audit::append(tx, actor, "enrich.changes.import", "changes", &json!({"changes": changes.len()}))?;
            Ok(changes.len())
        })
    }

    /// Inventory records by entity key (`host:ws-042`), for the keys that have one.
    pub fn inventory_records(&self, keys: &[String]) -> Result<BTreeMap<String, InventoryRecord>, StoreError> {
        let conn = self.read()?;
        let mut out = BTreeMap::new();
        for k in keys {
            if out.contains_key(k) {
                continue;
            }
            let rec: Option<String> = conn.query_opt("SELECT record FROM inventory WHERE entity_key = ?1", params![k], |r| r.get(0))?;
            if let Some(text) = rec {
                out.insert(k.clone(), serde_json::from_str(&text)?);
            }
        }
        Ok(out)
    }

    /// Indicators that list any of `observables`, with the observables they matched on.
    /// Addresses are also matched against imported ranges.
    pub fn intel_matches(&self, observables: &[Observable]) -> Result<Vec<(Indicator, Vec<Observable>)>, StoreError> {
        let conn = self.read()?;
        let prefixes: Vec<(i64, i64)> = if observables.iter().any(|o| o.kind == ObsKind::Ip) {
            conn.query_map("SELECT family, len FROM intel_prefixes", params![], |r| Ok((r.get(0)?, r.get(1)?)))?
        } else {
            Vec::new()
        };
        let mut hits: BTreeMap<String, Vec<Observable>> = BTreeMap::new();
        let mut look = |kind: ObsKind, value: &str, matched: &Observable| -> Result<(), StoreError> {
            let ids = conn.query_map("SELECT indicator_id FROM intel_observables WHERE kind = ?1 AND value = ?2", params![kind.as_str(), value], |r| {
                r.get::<String>(0)
            })?;
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
        let mut out = Vec::new();
        for (id, matched) in hits {
            let rec: Option<String> = conn.query_opt("SELECT record FROM intel_indicators WHERE id = ?1", params![id], |r| r.get(0))?;
            if let Some(text) = rec {
                out.push((serde_json::from_str(&text)?, matched));
            }
        }
        Ok(out)
    }

    /// One indicator by id.
    pub fn indicator(&self, id: &str) -> Result<Option<Indicator>, StoreError> {
        let conn = self.read()?;
        let text: Option<String> = conn.query_opt("SELECT record FROM intel_indicators WHERE id = ?1", params![id], |r| r.get(0))?;
        Ok(match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        })
    }

    /// One change record by id.
    pub fn change(&self, id: &str) -> Result<Option<ChangeRecord>, StoreError> {
        let conn = self.read()?;
        let text: Option<String> = conn.query_opt("SELECT record FROM changes WHERE id = ?1", params![id], |r| r.get(0))?;
        Ok(match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        })
    }

    /// Changes to an entity (by key) in `[from, to]`, oldest first.
    pub fn changes_between(&self, entity_key: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ChangeRecord>, StoreError> {
        let conn = self.read()?;
        let rows = conn.query_map(
            "SELECT record FROM changes WHERE entity_key = ?1 AND time >= ?2 AND time <= ?3 ORDER BY time, id LIMIT 50",
            params![entity_key, stored_time(&from), stored_time(&to)],
            |r| r.get::<String>(0),
        )?;
        rows.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
    }

    /// How many records of each kind are loaded.
    pub fn enrichment_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let conn = self.read()?;
        let count = |table: &str| conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), params![], |r| r.get::<i64>(0));
        Ok((count("inventory")?, count("intel_indicators")?, count("changes")?))
    }
}
