-- A streamed alert is looked up by its id (a re-send with other content replaces the alert
-- its case holds): without an index every alert received scans every alert stored.
CREATE INDEX IF NOT EXISTS case_alerts_alert_id ON case_alerts(alert_id);
