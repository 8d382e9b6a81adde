-- chatnotify: compatible-from 2 (expand: a new table and new columns with defaults; code of version 2 keeps working)
-- chatnotify schema, version 5 (PostgreSQL): the Teams conversations the bot
-- was added to (teams.Conversation), recorded by the bot's messaging
-- endpoint from conversationUpdate and installationUpdate activities and
-- listed by the settings API so that an admin picks one. One row per
-- organisation and conversation, replaced by every later event; removed
-- marks a conversation the bot can no longer post to (removed,
-- uninstalled, the channel or team deleted). It holds no secret: a
-- conversation reference is not a credential (posting needs the bot's
-- token). Expand only: nothing existing changes.
--
-- The channels gain the conversation reference of a Teams channel reached
-- through the bot (notify.ChannelConfig ServiceURL, ConversationID,
-- TenantID), empty for every other channel, so older code that does not
-- write them keeps working.
--   - The primary key serves SaveConversation's upsert.
--   - chatnotify_teams_conversations_org serves ListConversations: one
--     organisation's rows, newest first.

CREATE TABLE chatnotify_teams_conversations (
    org_id          TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    service_url     TEXT NOT NULL DEFAULT '',
    tenant_id       TEXT NOT NULL DEFAULT '',
    team_id         TEXT NOT NULL DEFAULT '',
    team_name       TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL DEFAULT '',
    removed         BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, conversation_id)
);
CREATE INDEX chatnotify_teams_conversations_org
    ON chatnotify_teams_conversations (org_id, updated_at DESC, conversation_id);

ALTER TABLE chatnotify_channels ADD COLUMN service_url TEXT NOT NULL DEFAULT '';
ALTER TABLE chatnotify_channels ADD COLUMN conversation_id TEXT NOT NULL DEFAULT '';
ALTER TABLE chatnotify_channels ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
