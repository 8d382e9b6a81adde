-- chatnotify: compatible-from 2 (contract: approvals are rekeyed by (org_id, id); code of version 1 would read and write them unscoped)
-- chatnotify schema, version 2 (PostgreSQL): every record is scoped to
-- its organisation.
--   - Approval requests are keyed by (org_id, id): the same client-chosen
--     ID in two organisations is two requests.
--   - Audit entry IDs are unique per organisation.
--   - Audit entries and posts are found by organisation first.
-- Every existing row is kept. The new keys are built under an ACCESS
-- EXCLUSIVE lock, held for the time it takes to index the tables.

ALTER TABLE chatnotify_approvals
    DROP CONSTRAINT chatnotify_approvals_pkey,
    ADD PRIMARY KEY (org_id, id);

ALTER TABLE chatnotify_audit
    DROP CONSTRAINT chatnotify_audit_id_key,
    ADD UNIQUE (org_id, id);
DROP INDEX chatnotify_audit_approval;
CREATE INDEX chatnotify_audit_org_approval ON chatnotify_audit (org_id, approval_id, at, seq);

DROP INDEX chatnotify_posts_approval;
CREATE INDEX chatnotify_posts_org_approval ON chatnotify_posts (org_id, approval_id, posted_at, seq);
