-- Indexes that every recommendation wrote to and no query read through (as in SQLite's
-- migration 6).
--
-- No statement reads actions by status alone: listings filter optionally and by case
-- `actions_case_status` serves.
DROP INDEX IF EXISTS actions_status;
-- Only alerts from the stream have a fingerprint, and dedup looks them up by it; alerts
-- of `POST /v1/recommend` added a NULL entry each.
DROP INDEX IF EXISTS case_alerts_fingerprint;
CREATE INDEX IF NOT EXISTS case_alerts_fingerprint ON case_alerts(fingerprint) WHERE fingerprint IS NOT NULL;
