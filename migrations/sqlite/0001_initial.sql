-- The schema as of the first numbered migration. `IF NOT EXISTS` throughout: a data dir
-- from before migrations has some of these tables already (their missing columns were
-- added first), and gets the rest here. Columns added to a table over time come last, in
-- the order those data dirs got them.
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT,
    principal TEXT, expires_at TEXT
);
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    state TEXT NOT NULL, severity TEXT, title TEXT NOT NULL, created_by TEXT NOT NULL,
    closed TEXT,
    assignee TEXT, first_alert_at TEXT, newest_alert_at TEXT, merged_into TEXT
);
CREATE TABLE IF NOT EXISTS case_alerts (
    case_id TEXT NOT NULL REFERENCES cases(id), seq INTEGER NOT NULL, alert_id TEXT NOT NULL,
    alert TEXT NOT NULL, received_at TEXT NOT NULL, request_id TEXT NOT NULL,
    fingerprint TEXT, occurrences INTEGER NOT NULL DEFAULT 1, first_seen TEXT, last_seen TEXT,
    alert_time TEXT, pivots TEXT,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE IF NOT EXISTS case_history (
    case_id TEXT NOT NULL REFERENCES cases(id), seq INTEGER NOT NULL, at TEXT NOT NULL,
    from_state TEXT, to_state TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, received_at TEXT NOT NULL, actor TEXT NOT NULL, case_id TEXT NOT NULL,
    body_hash TEXT NOT NULL, alert_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recommendations (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id), request_id TEXT NOT NULL,
    created_at TEXT NOT NULL, actor TEXT NOT NULL, status TEXT NOT NULL, response TEXT NOT NULL,
    raw_output TEXT, engine TEXT NOT NULL, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, latency_ms INTEGER NOT NULL DEFAULT 0,
    injection TEXT
);
CREATE TABLE IF NOT EXISTS idempotency (
    actor TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL,
    recommendation_id TEXT NOT NULL, claimed_at TEXT, PRIMARY KEY (actor, key)
);
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id), recommendation_id TEXT NOT NULL,
    kind TEXT NOT NULL, action_id TEXT, binding_hash TEXT NOT NULL, tier TEXT NOT NULL,
    required_approvals INTEGER NOT NULL, status TEXT NOT NULL, requested_by TEXT NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL, decided_at TEXT, summary TEXT NOT NULL,
    requested_principal TEXT
);
CREATE TABLE IF NOT EXISTS approval_decisions (
    approval_id TEXT NOT NULL REFERENCES approvals(id), actor TEXT NOT NULL, decision TEXT NOT NULL,
    rationale TEXT NOT NULL, at TEXT NOT NULL, principal TEXT, PRIMARY KEY (approval_id, actor)
);
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id), recommendation_id TEXT NOT NULL,
    approval_id TEXT, action TEXT NOT NULL, target TEXT NOT NULL, tier TEXT NOT NULL,
    rationale TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
    subject TEXT NOT NULL, data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    scheme TEXT
);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status);
CREATE INDEX IF NOT EXISTS actions_status ON actions(status);
CREATE INDEX IF NOT EXISTS recommendations_case ON recommendations(case_id);

-- Enrichment (contract section 12).
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

-- The alert stream (contract section 10).
CREATE TABLE IF NOT EXISTS case_pivots (
    pivot TEXT NOT NULL, case_id TEXT NOT NULL REFERENCES cases(id),
    first_time TEXT NOT NULL, last_time TEXT NOT NULL, PRIMARY KEY (pivot, case_id)
);
CREATE TABLE IF NOT EXISTS case_relations (
    case_id TEXT NOT NULL REFERENCES cases(id), related_id TEXT NOT NULL, why TEXT NOT NULL,
    PRIMARY KEY (case_id, related_id)
);
CREATE TABLE IF NOT EXISTS recommendation_queue (
    case_id TEXT PRIMARY KEY REFERENCES cases(id), queued_at TEXT NOT NULL,
    generation INTEGER NOT NULL, claimed_generation INTEGER, claimed_at TEXT
);
CREATE INDEX IF NOT EXISTS case_alerts_fingerprint ON case_alerts(fingerprint);
CREATE INDEX IF NOT EXISTS cases_state ON cases(state);

-- Learning after closure (contract section 13).
CREATE TABLE IF NOT EXISTS learning_tasks (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id), kind TEXT NOT NULL,
    title TEXT NOT NULL, draft TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,
    decided_by TEXT, decided_at TEXT, note TEXT
);
CREATE INDEX IF NOT EXISTS learning_tasks_status ON learning_tasks(status);
CREATE INDEX IF NOT EXISTS learning_tasks_case ON learning_tasks(case_id);
