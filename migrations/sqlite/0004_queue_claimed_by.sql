-- Who holds a claim on queued work: a replica that restarts takes back its own claims at
-- once, instead of waiting for them to go stale; other replicas' claims stay theirs.
ALTER TABLE recommendation_queue ADD COLUMN claimed_by TEXT;
