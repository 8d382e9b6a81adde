package notify

import (
	"context"
	"time"
)

// Post records one delivered copy of an approval request, so that every
// copy can be brought up to date once the request is decided: Slack
// messages posted with a bot token are edited in place (chat.update), and
// Teams channels get a follow-up card. The [Dispatcher] records one for
// each approval request it delivers, when [DispatcherOptions.Posts] is
// set.
type Post struct {
	ApprovalID  string      `json:"approval_id"`
	OrgID       string      `json:"org_id"`
	ChannelID   string      `json:"channel_id"` // the Channel's ID
	ChannelType ChannelType `json:"channel_type"`
	Receipt     Receipt     `json:"receipt"`
	PostedAt    time.Time   `json:"posted_at"`
}

// PostStore keeps [Post] records. Every read is scoped to an
// organisation: approval IDs are unique only within one, so the posts of
// another organisation's request with the same ID are never returned.
// Implementations must be safe for concurrent use.
type PostStore interface {
	// RecordPost stores p, of organisation p.OrgID. A zero p.PostedAt
	// becomes the current time in UTC.
	RecordPost(ctx context.Context, p Post) error

	// ListPosts returns the posts of the request approvalID of
	// organisation orgID, oldest first (by PostedAt, then insertion
	// order), or an empty slice when there are none. It never returns a
	// post of another organisation.
	ListPosts(ctx context.Context, orgID, approvalID string) ([]Post, error)
}
