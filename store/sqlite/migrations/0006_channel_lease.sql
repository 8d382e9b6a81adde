-- chatnotify: compatible-from 2 (expand: new columns with defaults only; code of version 2 keeps working)
-- chatnotify schema, version 6 (SQLite): one send at a time per destination,
-- across every process on the database. chatnotify_channel_rate (migration
-- 0004) gains a lease and the spacing of actual sends:
--   - holder is the River job ID whose try is sending to the destination
--     (0: none), until held_until (nanoseconds since the Unix epoch), when a
--     lease left by a killed process lapses. A try takes the lease with
--     its send slot in one conditional statement and gives it back in the
--     transaction completing its job, or right after a failed try.
--   - free_at is the earliest time the destination's next send may start:
--     the previous send's start plus the destination's interval, or later
--     after a 429 or a server error.
--   - next_allowed_at keeps its meaning for the jobs waiting for their
--     turn: the next wake-up time handed out, so that waiting jobs wake one
--     interval apart instead of all at once. Code of versions 4 and 5,
--     which reserves its sends there, keeps spacing its own sends by it
--     (without the lease) during a rolling deploy.
-- Expand only: nothing existing changes.

ALTER TABLE chatnotify_channel_rate ADD COLUMN holder BIGINT NOT NULL DEFAULT 0;
ALTER TABLE chatnotify_channel_rate ADD COLUMN held_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE chatnotify_channel_rate ADD COLUMN free_at BIGINT NOT NULL DEFAULT 0;
