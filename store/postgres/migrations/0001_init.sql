-- chatnotify: compatible-from 1 (the first schema)
-- chatnotify sqlstore schema, version 1 (PostgreSQL).

CREATE TABLE chatnotify_channels (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    channel_type TEXT NOT NULL,
    name         TEXT NOT NULL,
    bot_token    TEXT NOT NULL DEFAULT '',
    channel_id   TEXT NOT NULL DEFAULT '',
    webhook_url  TEXT NOT NULL DEFAULT '',
    events       TEXT NOT NULL DEFAULT '[]',
    enabled      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX chatnotify_channels_org ON chatnotify_channels (org_id, created_at, id);

CREATE TABLE chatnotify_approvals (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    agent         TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL DEFAULT '',
    risk_score    INTEGER NOT NULL DEFAULT 0,
    requested_by  TEXT NOT NULL DEFAULT '',
    console_url   TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    reviewed_at   TIMESTAMPTZ,
    reviewed_by   TEXT NOT NULL DEFAULT '',
    reviewer_id   TEXT NOT NULL DEFAULT '',
    review_source TEXT NOT NULL DEFAULT '',
    review_notes  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX chatnotify_approvals_pending ON chatnotify_approvals (status, expires_at);

CREATE TABLE chatnotify_audit (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    org_id         TEXT NOT NULL,
    action         TEXT NOT NULL,
    approval_id    TEXT NOT NULL DEFAULT '',
    at             TIMESTAMPTZ NOT NULL,
    actor          TEXT NOT NULL DEFAULT '',
    actor_id       TEXT NOT NULL DEFAULT '',
    actor_verified BOOLEAN NOT NULL DEFAULT FALSE,
    source         TEXT NOT NULL DEFAULT '',
    decision       TEXT NOT NULL DEFAULT '',
    risk_score     INTEGER NOT NULL DEFAULT 0,
    notes          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX chatnotify_audit_org ON chatnotify_audit (org_id, at, seq);
CREATE INDEX chatnotify_audit_approval ON chatnotify_audit (approval_id, at, seq);

CREATE TABLE chatnotify_posts (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    approval_id  TEXT NOT NULL,
    org_id       TEXT NOT NULL,
    channel_id   TEXT NOT NULL,
    channel_type TEXT NOT NULL,
    receipt      TEXT NOT NULL DEFAULT '{}',
    posted_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX chatnotify_posts_approval ON chatnotify_posts (approval_id, posted_at, seq);
