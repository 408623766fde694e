-- Indexes that every recommendation wrote to, shaped to what is read through them (as in
-- SQLite's migration 6).
--
-- Actions by status alone are read only by the outbox (`GET /v1/actions?status=approved`;
-- by case `actions_case_status` serves): its approved actions, in its order, get a
-- partial index instead of every action an entry by status.
DROP INDEX IF EXISTS actions_status;
CREATE INDEX IF NOT EXISTS actions_approved ON actions(created_at, id) WHERE status = 'approved';
-- Only alerts from the stream have a fingerprint, and dedup looks them up by it; alerts
-- of `POST /v1/recommend` added a NULL entry each.
DROP INDEX IF EXISTS case_alerts_fingerprint;
CREATE INDEX IF NOT EXISTS case_alerts_fingerprint ON case_alerts(fingerprint) WHERE fingerprint IS NOT NULL;
