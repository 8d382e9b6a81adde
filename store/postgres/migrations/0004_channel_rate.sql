-- chatnotify: compatible-from 2 (expand: a new table only; code of version 2 keeps working)
-- The durable delivery queue's per-destination rate limit, shared by every
-- process on the database: the earliest time (nanoseconds since the Unix
-- epoch) the destination's next message may go. A job reserves its slot by
-- moving it one interval on; a 429 or a server error pushes it further.
-- dest is the Dispatcher's destination key (a Slack channel ID, or a hash
-- of a webhook URL): never a secret.
CREATE TABLE IF NOT EXISTS chatnotify_channel_rate (
    dest            TEXT PRIMARY KEY,
    next_allowed_at BIGINT NOT NULL
);
