-- The schema as of the first numbered migration, for PostgreSQL. Integers are BIGINT (the
-- store reads them as i64); text compares byte by byte (COLLATE "C") whatever the
-- database's locale, because ids and RFC 3339 times are ordered and compared as text.
CREATE TABLE api_keys (
    id TEXT COLLATE "C" PRIMARY KEY, name TEXT COLLATE "C" NOT NULL, role TEXT COLLATE "C" NOT NULL,
    key_hash TEXT COLLATE "C" NOT NULL UNIQUE, created_at TEXT COLLATE "C" NOT NULL, revoked_at TEXT COLLATE "C",
    principal TEXT COLLATE "C", expires_at TEXT COLLATE "C"
);
CREATE TABLE cases (
    id TEXT COLLATE "C" PRIMARY KEY, created_at TEXT COLLATE "C" NOT NULL, updated_at TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL, severity TEXT COLLATE "C", title TEXT COLLATE "C" NOT NULL, created_by TEXT COLLATE "C" NOT NULL,
    closed TEXT COLLATE "C",
    assignee TEXT COLLATE "C", first_alert_at TEXT COLLATE "C", newest_alert_at TEXT COLLATE "C", merged_into TEXT COLLATE "C"
);
CREATE TABLE case_alerts (
    case_id TEXT COLLATE "C" NOT NULL REFERENCES cases(id), seq BIGINT NOT NULL, alert_id TEXT COLLATE "C" NOT NULL,
    alert TEXT COLLATE "C" NOT NULL, received_at TEXT COLLATE "C" NOT NULL, request_id TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT COLLATE "C", occurrences BIGINT NOT NULL DEFAULT 1, first_seen TEXT COLLATE "C", last_seen TEXT COLLATE "C",
    alert_time TEXT COLLATE "C", pivots TEXT COLLATE "C",
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE case_history (
    case_id TEXT COLLATE "C" NOT NULL REFERENCES cases(id), seq BIGINT NOT NULL, at TEXT COLLATE "C" NOT NULL,
    from_state TEXT COLLATE "C", to_state TEXT COLLATE "C" NOT NULL, actor TEXT COLLATE "C" NOT NULL, reason TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE requests (
    id TEXT COLLATE "C" PRIMARY KEY, received_at TEXT COLLATE "C" NOT NULL, actor TEXT COLLATE "C" NOT NULL, case_id TEXT COLLATE "C" NOT NULL,
    body_hash TEXT COLLATE "C" NOT NULL, alert_count BIGINT NOT NULL
);
CREATE TABLE recommendations (
    id TEXT COLLATE "C" PRIMARY KEY, case_id TEXT COLLATE "C" NOT NULL REFERENCES cases(id), request_id TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL, actor TEXT COLLATE "C" NOT NULL, status TEXT COLLATE "C" NOT NULL, response TEXT COLLATE "C" NOT NULL,
    raw_output TEXT COLLATE "C", engine TEXT COLLATE "C" NOT NULL, prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0, latency_ms BIGINT NOT NULL DEFAULT 0,
    injection TEXT COLLATE "C"
);
CREATE TABLE idempotency (
    actor TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, body_hash TEXT COLLATE "C" NOT NULL,
    recommendation_id TEXT COLLATE "C" NOT NULL, claimed_at TEXT COLLATE "C", PRIMARY KEY (actor, key)
);
CREATE TABLE approvals (
    id TEXT COLLATE "C" PRIMARY KEY, case_id TEXT COLLATE "C" NOT NULL REFERENCES cases(id), recommendation_id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL, action_id TEXT COLLATE "C", binding_hash TEXT COLLATE "C" NOT NULL, tier TEXT COLLATE "C" NOT NULL,
    required_approvals BIGINT NOT NULL, status TEXT COLLATE "C" NOT NULL, requested_by TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL, expires_at TEXT COLLATE "C" NOT NULL, decided_at TEXT COLLATE "C", summary TEXT COLLATE "C" NOT NULL,
    requested_principal TEXT COLLATE "C"
);
CREATE TABLE approval_decisions (
    approval_id TEXT COLLATE "C" NOT NULL REFERENCES approvals(id), actor TEXT COLLATE "C" NOT NULL, decision TEXT COLLATE "C" NOT NULL,
    rationale TEXT COLLATE "C" NOT NULL, at TEXT COLLATE "C" NOT NULL, principal TEXT COLLATE "C", PRIMARY KEY (approval_id, actor)
);
CREATE TABLE actions (
    id TEXT COLLATE "C" PRIMARY KEY, case_id TEXT COLLATE "C" NOT NULL REFERENCES cases(id), recommendation_id TEXT COLLATE "C" NOT NULL,
    approval_id TEXT COLLATE "C", action TEXT COLLATE "C" NOT NULL, target TEXT COLLATE "C" NOT NULL, tier TEXT COLLATE "C" NOT NULL,
    rationale TEXT COLLATE "C" NOT NULL, status TEXT COLLATE "C" NOT NULL, created_at TEXT COLLATE "C" NOT NULL, updated_at TEXT COLLATE "C" NOT NULL,
    outcome TEXT COLLATE "C"
);
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY, time TEXT COLLATE "C" NOT NULL, actor TEXT COLLATE "C" NOT NULL, kind TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C" NOT NULL, data TEXT COLLATE "C" NOT NULL, prev_hash TEXT COLLATE "C" NOT NULL, hash TEXT COLLATE "C" NOT NULL,
    scheme TEXT COLLATE "C"
);
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT COLLATE "C" NOT NULL
);
CREATE INDEX approvals_status ON approvals(status);
CREATE INDEX actions_status ON actions(status);
CREATE INDEX recommendations_case ON recommendations(case_id);

-- Enrichment (contract section 12).
CREATE TABLE inventory (
    entity_key TEXT COLLATE "C" PRIMARY KEY, entity TEXT COLLATE "C" NOT NULL, record TEXT COLLATE "C" NOT NULL, updated_at TEXT COLLATE "C" NOT NULL
);
CREATE TABLE intel_indicators (
    id TEXT COLLATE "C" PRIMARY KEY, record TEXT COLLATE "C" NOT NULL, updated_at TEXT COLLATE "C" NOT NULL
);
CREATE TABLE intel_observables (
    kind TEXT COLLATE "C" NOT NULL, value TEXT COLLATE "C" NOT NULL, indicator_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (kind, value, indicator_id)
);
CREATE INDEX intel_observables_indicator ON intel_observables(indicator_id);
CREATE TABLE intel_prefixes (
    family BIGINT NOT NULL, len BIGINT NOT NULL, PRIMARY KEY (family, len)
);
CREATE TABLE changes (
    id TEXT COLLATE "C" PRIMARY KEY, entity_key TEXT COLLATE "C" NOT NULL, time TEXT COLLATE "C" NOT NULL, record TEXT COLLATE "C" NOT NULL
);
CREATE INDEX changes_entity_time ON changes(entity_key, time);

-- The alert stream (contract section 10).
CREATE TABLE case_pivots (
    pivot TEXT COLLATE "C" NOT NULL, case_id TEXT COLLATE "C" NOT NULL REFERENCES cases(id),
    first_time TEXT COLLATE "C" NOT NULL, last_time TEXT COLLATE "C" NOT NULL, PRIMARY KEY (pivot, case_id)
);
CREATE TABLE case_relations (
    case_id TEXT COLLATE "C" NOT NULL REFERENCES cases(id), related_id TEXT COLLATE "C" NOT NULL, why TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (case_id, related_id)
);
CREATE TABLE recommendation_queue (
    case_id TEXT COLLATE "C" PRIMARY KEY REFERENCES cases(id), queued_at TEXT COLLATE "C" NOT NULL,
    generation BIGINT NOT NULL, claimed_generation BIGINT, claimed_at TEXT COLLATE "C"
);
CREATE INDEX case_alerts_fingerprint ON case_alerts(fingerprint);
CREATE INDEX cases_state ON cases(state);

-- Learning after closure (contract section 13).
CREATE TABLE learning_tasks (
    id TEXT COLLATE "C" PRIMARY KEY, case_id TEXT COLLATE "C" NOT NULL REFERENCES cases(id), kind TEXT COLLATE "C" NOT NULL,
    title TEXT COLLATE "C" NOT NULL, draft TEXT COLLATE "C" NOT NULL, status TEXT COLLATE "C" NOT NULL, created_at TEXT COLLATE "C" NOT NULL,
    decided_by TEXT COLLATE "C", decided_at TEXT COLLATE "C", note TEXT COLLATE "C"
);
CREATE INDEX learning_tasks_status ON learning_tasks(status);
CREATE INDEX learning_tasks_case ON learning_tasks(case_id);

-- The head row always exists here: writers lock it to take turns (see store/db).
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
