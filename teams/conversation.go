package teams

import (
	"context"
	"time"
)

// Conversation is a Teams conversation the bot was added to: a channel
// of a team, a group chat or a personal chat, as the bot's discovery
// activities (conversationUpdate, installationUpdate) reported it last.
// It is what an admin picks from when setting up a Teams channel reached
// through the bot: ServiceURL, ConversationID and TenantID are the
// conversation reference the bot posts to.
type Conversation struct {
	// OrgID is the organisation the conversation's tenant belongs to. It
	// is not part of the JSON form: every listing is of one organisation.
	OrgID string `json:"-"`
	// ConversationID is the ID to post to, such as
	// "19:…@thread.tacv2": the channel the user selected when adding the
	// bot (channelData.settings.selectedChannel.id), else the channel of
	// the event (channelData.channel.id), else conversation.id.
	ConversationID string `json:"conversation_id"`
	// ServiceURL is the Bot Connector endpoint of the conversation, as
	// Teams sent it, such as "https://smba.trafficmanager.net/amer/".
	ServiceURL string `json:"service_url"`
	// TenantID is the Microsoft Entra tenant of the conversation.
	TenantID string `json:"tenant_id"`
	// TeamID and TeamName name the team of a channel; empty for chats.
	TeamID   string `json:"team_id,omitempty"`
	TeamName string `json:"team_name,omitempty"`
	// Name is the channel's or chat's name, when Teams sent one.
	Name string `json:"name,omitempty"`
	// Removed reports that the bot was removed from the conversation (or
	// uninstalled, or the channel or team deleted): it can no longer
	// post there.
	Removed bool `json:"removed"`
	// UpdatedAt is when the conversation was last recorded.
	UpdatedAt time.Time `json:"updated_at"`
}

// ConversationStore keeps the conversations the bot can post to, per
// organisation: the bot's messaging endpoint (package approval) records
// them, the settings API (package notify) lists them. Implementations
// must be safe for concurrent use; store/memstore, store/sqlite and
// store/postgres implement it, and store/storetest checks any other
// implementation.
type ConversationStore interface {
	// SaveConversation inserts or replaces c by (c.OrgID,
	// c.ConversationID): saving a conversation again overwrites every
	// field, Removed included, so a bot added back after its removal is
	// listed as not removed. A zero UpdatedAt is the current time. Both
	// keys must be non-empty; the same ConversationID in two
	// organisations is two records.
	SaveConversation(ctx context.Context, c Conversation) error
	// ListConversations returns orgID's conversations, removed ones
	// included, newest first (by UpdatedAt, then by ConversationID), with
	// UpdatedAt in UTC. It returns an empty, non-nil slice when there are
	// none, and never another organisation's conversations.
	ListConversations(ctx context.Context, orgID string) ([]Conversation, error)
}
