-- chatnotify: compatible-from 2 (expand: a new table only; code of version 2 keeps working)
-- chatnotify schema, version 3 (PostgreSQL): the deliveries log, one row per
-- job that delivers to a channel, as the dispatcher last saved it
-- (notify.Delivery). It holds no secret. Expand only: nothing existing
-- changes, so a replica of version 2 keeps working beside it.
--   - The primary key serves SaveDelivery and GetDelivery.
--   - chatnotify_deliveries_channel serves the newest-first, keyset
--     paginated list of one channel's deliveries.
--   - The other three serve ChannelHealth, one range each:
--     chatnotify_deliveries_status a channel's counts by status,
--     chatnotify_deliveries_delivered its latest delivered_at, and
--     chatnotify_deliveries_failing (only the failing rows: failed, or
--     pending after a failed attempt) its latest failing delivery and
--     those updated since its last success. Its predicate is written
--     exactly as the queries write it (internal/sqlstore/deliveries.go).

CREATE TABLE chatnotify_deliveries (
    org_id          TEXT NOT NULL,
    id              TEXT NOT NULL,
    channel_id      TEXT NOT NULL,
    event           TEXT NOT NULL DEFAULT '',
    approval_id     TEXT NOT NULL DEFAULT '',
    op              TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    reason          TEXT NOT NULL DEFAULT '',
    code            TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    first_failed_at TIMESTAMPTZ,
    retry           TEXT,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX chatnotify_deliveries_channel ON chatnotify_deliveries (org_id, channel_id, created_at, id);
CREATE INDEX chatnotify_deliveries_status ON chatnotify_deliveries (org_id, channel_id, status);
CREATE INDEX chatnotify_deliveries_delivered ON chatnotify_deliveries (org_id, channel_id, delivered_at)
    WHERE delivered_at IS NOT NULL;
CREATE INDEX chatnotify_deliveries_failing ON chatnotify_deliveries (org_id, channel_id, updated_at, id)
    WHERE (status = 'failed' OR (status = 'pending' AND reason <> ''));
