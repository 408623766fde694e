-- Reads by case that run on every recommendation or stream batch: without these, finding
-- a case's pending approvals walked every pending approval of every case, and cost grew
-- with the queue an analyst had not yet worked.
CREATE INDEX IF NOT EXISTS approvals_case_status ON approvals(case_id, status);
CREATE INDEX IF NOT EXISTS actions_case_status ON actions(case_id, status);
CREATE INDEX IF NOT EXISTS case_pivots_case ON case_pivots(case_id);
-- The newest stored alerts that a tuning draft counts its exclusions in.
CREATE INDEX IF NOT EXISTS case_alerts_received ON case_alerts(received_at);
