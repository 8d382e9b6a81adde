-- chatnotify: compatible-from 2 (contract: approvals are rekeyed by (org_id, id); code of version 1 would read and write them unscoped)
-- chatnotify schema, version 2 (SQLite): every record is scoped to its
-- organisation.
--   - Approval requests are keyed by (org_id, id): the same client-chosen
--     ID in two organisations is two requests.
--   - Audit entry IDs are unique per organisation.
--   - Audit entries and posts are found by organisation first.
-- SQLite cannot change a table's keys in place, so chatnotify_approvals
-- and chatnotify_audit are rebuilt, keeping every row (and the audit
-- trail's seq, its insertion order). Nothing references these tables.

CREATE TABLE chatnotify_approvals_v2 (
    id            TEXT NOT NULL,
    org_id        TEXT NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    agent         TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL DEFAULT '',
    risk_score    INTEGER NOT NULL DEFAULT 0,
    requested_by  TEXT NOT NULL DEFAULT '',
    console_url   TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    reviewed_at   TEXT,
    reviewed_by   TEXT NOT NULL DEFAULT '',
    reviewer_id   TEXT NOT NULL DEFAULT '',
    review_source TEXT NOT NULL DEFAULT '',
    review_notes  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, id)
);
INSERT INTO chatnotify_approvals_v2 (id, org_id, title, description, agent, action, risk_score, requested_by,
    console_url, status, created_at, expires_at, reviewed_at, reviewed_by, reviewer_id, review_source, review_notes)
SELECT id, org_id, title, description, agent, action, risk_score, requested_by,
    console_url, status, created_at, expires_at, reviewed_at, reviewed_by, reviewer_id, review_source, review_notes
FROM chatnotify_approvals;
DROP TABLE chatnotify_approvals;
ALTER TABLE chatnotify_approvals_v2 RENAME TO chatnotify_approvals;
CREATE INDEX chatnotify_approvals_pending ON chatnotify_approvals (status, expires_at);

CREATE TABLE chatnotify_audit_v2 (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL,
    org_id         TEXT NOT NULL,
    action         TEXT NOT NULL,
    approval_id    TEXT NOT NULL DEFAULT '',
    at             TEXT NOT NULL,
    actor          TEXT NOT NULL DEFAULT '',
    actor_id       TEXT NOT NULL DEFAULT '',
    actor_verified INTEGER NOT NULL DEFAULT 0,
    source         TEXT NOT NULL DEFAULT '',
    decision       TEXT NOT NULL DEFAULT '',
    risk_score     INTEGER NOT NULL DEFAULT 0,
    notes          TEXT NOT NULL DEFAULT '',
    UNIQUE (org_id, id)
);
INSERT INTO chatnotify_audit_v2 (seq, id, org_id, action, approval_id, at, actor, actor_id, actor_verified,
    source, decision, risk_score, notes)
SELECT seq, id, org_id, action, approval_id, at, actor, actor_id, actor_verified,
    source, decision, risk_score, notes
FROM chatnotify_audit;
DROP TABLE chatnotify_audit;
ALTER TABLE chatnotify_audit_v2 RENAME TO chatnotify_audit;
CREATE INDEX chatnotify_audit_org ON chatnotify_audit (org_id, at, seq);
CREATE INDEX chatnotify_audit_org_approval ON chatnotify_audit (org_id, approval_id, at, seq);

DROP INDEX chatnotify_posts_approval;
CREATE INDEX chatnotify_posts_org_approval ON chatnotify_posts (org_id, approval_id, posted_at, seq);
