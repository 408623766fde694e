-- Indexes that every recommendation wrote to and no query read through.
--
-- No statement reads actions by status alone (listings filter optionally, which SQLite
-- answers with a scan; by case, `actions_case_status` serves), yet each new action went
-- into the middle of this index (automatic actions are `approved`, others
-- `pending_approval`), where SQLite rebalances sibling pages: about five of a
-- recommendation's 42 page writes.
DROP INDEX IF EXISTS actions_status;
-- Only alerts from the stream have a fingerprint, and dedup looks them up by it; alerts
-- of `POST /v1/recommend` added a NULL entry each.
DROP INDEX IF EXISTS case_alerts_fingerprint;
CREATE INDEX IF NOT EXISTS case_alerts_fingerprint ON case_alerts(fingerprint) WHERE fingerprint IS NOT NULL;
