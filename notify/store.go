package notify

import (
	"context"
	"errors"
)

// Errors returned by a [ChannelStore].
var (
	// ErrNotFound is returned when no channel with the given ID belongs to
	// the given organisation. A channel of another organisation is not
	// found, so callers cannot learn that it exists.
	ErrNotFound = errors.New("notify: channel not found")
	// ErrConflict is returned by CreateChannel and UpdateChannel when
	// another channel of the same organisation already has the name.
	ErrConflict = errors.New("notify: a channel with this name already exists")
)

// ChannelStore keeps notification channels. Every method is scoped to one
// organisation: no call ever returns, changes or reveals a channel of
// another organisation.
//
// Implementations must be safe for concurrent use. The packages under
// store/ provide in-memory, SQLite and PostgreSQL implementations, and
// store/storetest checks any implementation against this contract.
type ChannelStore interface {
	// ListChannels returns the channels of orgID, oldest first (by
	// CreatedAt, then ID). It returns an empty slice and no error when the
	// organisation has none.
	ListChannels(ctx context.Context, orgID string) ([]Channel, error)

	// GetChannel returns the channel id of orgID, or ErrNotFound.
	GetChannel(ctx context.Context, orgID, id string) (Channel, error)

	// CreateChannel stores a new channel for ch.OrgID and returns it as
	// stored: with a new unique ID (any ID in ch is ignored) and CreatedAt
	// and UpdatedAt set to the current time in UTC. It returns ErrConflict
	// when the organisation already has a channel named ch.Name.
	CreateChannel(ctx context.Context, ch Channel) (Channel, error)

	// UpdateChannel replaces the Type, Name, Config, Events and Enabled
	// fields of the channel ch.ID of ch.OrgID, keeps its CreatedAt, sets
	// UpdatedAt to the current time in UTC, and returns the channel as
	// stored. It returns ErrNotFound when the organisation has no such
	// channel and ErrConflict when another of its channels has the name.
	UpdateChannel(ctx context.Context, ch Channel) (Channel, error)

	// DeleteChannel removes the channel id of orgID, or returns
	// ErrNotFound.
	DeleteChannel(ctx context.Context, orgID, id string) error
}
