-- Why an approval ended without a decision (contract section 4), as in the SQLite
-- migration: `expired`, `case_closed` or `superseded`; NULL while pending and once
-- decided. Approvals that expired before this column get the reason their
-- `approval.expired` audit entry gave (closure wrote one, the TTL none).
ALTER TABLE approvals ADD COLUMN closed_reason TEXT COLLATE "C";
UPDATE approvals SET closed_reason = CASE
    WHEN EXISTS (SELECT 1 FROM audit a WHERE a.subject = approvals.id AND a.kind = 'approval.expired'
                 AND a.data LIKE '%"reason":"case_closed"%') THEN 'case_closed'
    ELSE 'expired' END
WHERE status = 'expired';
