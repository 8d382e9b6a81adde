package notify

import (
	"context"
	"encoding/json"
	"time"
)

// The statuses of a [Delivery].
const (
	deliveryPending   = "pending"   // queued, running, or waiting for a retry
	deliveryDelivered = "delivered" // the platform accepted it
	deliveryFailed    = "failed"    // given up: a permanent error, or retries exhausted
)

// Delivery is one job that delivers to a channel (a post, a chat.update of
// a copy, a Teams follow-up), as admins see it in the deliveries log. It
// never holds a secret: no bot token, webhook URL or response_url, and
// Reason is the classified, secret-free [DeliveryError.Reason].
type Delivery struct {
	// ID identifies the delivery within its organisation.
	ID string `json:"id"`
	// OrgID is the organisation of the channel. It is never serialised.
	OrgID string `json:"-"`
	// ChannelID is the [Channel] delivered to.
	ChannelID string `json:"channel_id"`
	// Event is the type of the event delivered.
	Event EventType `json:"event"`
	// ApprovalID is the approval request the delivery is about, if any.
	ApprovalID string `json:"approval_id,omitempty"`
	// Op is what the job does: "post", "update" or "follow_up".
	Op string `json:"op"`
	// Status is "pending" (queued, running or waiting for a retry),
	// "delivered" or "failed" (given up: a permanent error, or the retry
	// horizon passed).
	Status string `json:"status"`
	// Attempts counts the attempts made so far.
	Attempts int `json:"attempts"`
	// Reason says why the last attempt failed, for admins; empty when it
	// did not fail.
	Reason string `json:"reason,omitempty"`
	// Code is the platform's error code of the last failed attempt
	// ([DeliveryError.Code]), if any.
	Code string `json:"code,omitempty"`
	// CreatedAt is when the job was created; it never changes.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when the delivery was last saved: its creation or the
	// end of its last attempt.
	UpdatedAt time.Time `json:"updated_at"`
	// DeliveredAt is when the platform accepted it; nil until then.
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	// FirstFailedAt is when an attempt of it failed first; nil while none
	// has. It is kept once set, also when a later attempt succeeds.
	FirstFailedAt *time.Time `json:"first_failed_at,omitempty"`
	// Retry is what the [Dispatcher] needs to queue the job again. Stores
	// keep it as given and never interpret it; it holds no secret and is
	// never serialised.
	Retry json.RawMessage `json:"-"`
}

// Health summarises the deliveries log of one channel, as the settings
// API shows it beside the channel.
//
// A delivery is failing when its Status is "failed", or when it is
// "pending" with a Reason (its last attempt failed and it waits for a
// retry).
type Health struct {
	// LastDeliveredAt is the latest DeliveredAt of the channel's
	// deliveries; nil when none was delivered.
	LastDeliveredAt *time.Time `json:"last_delivered_at,omitempty"`
	// LastError is the Reason of the channel's failing delivery with the
	// latest UpdatedAt (the latest ID among equal times); empty when none
	// is failing. It stays after the channel recovers, while
	// FailingSince is nil.
	LastError string `json:"last_error,omitempty"`
	// FailingSince is when the channel started failing after its last
	// success; nil when no failing delivery was updated after
	// LastDeliveredAt (or, without one, when none is failing). It is the
	// earliest FirstFailedAt (its UpdatedAt when FirstFailedAt is nil)
	// among the failing deliveries updated after LastDeliveredAt, but
	// never earlier than LastDeliveredAt.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// Pending counts the channel's deliveries whose Status is "pending".
	Pending int `json:"pending"`
	// Failed counts the channel's deliveries whose Status is "failed".
	Failed int `json:"failed"`
}

// DeliveryStore keeps the deliveries log: each [Delivery] as it was last
// saved. It is optional. The settings API given one
// ([SettingsOptions.Deliveries]) shows each channel's health and its
// deliveries, and can retry failed ones (see the package documentation).
// The stores under store/ provide one (their Deliveries method). The
// [Dispatcher] given it ([DispatcherOptions.Deliveries]) writes it: each
// channel job is saved pending when created and again at the end of each
// attempt, and [Dispatcher.Retry] queues a failed one again.
//
// Every method is scoped to one organisation: no call ever returns,
// changes or reveals a delivery of another organisation, and a channel
// of another organisation has no deliveries.
//
// Implementations must be safe for concurrent use. store/storetest
// checks any implementation against this contract.
type DeliveryStore interface {
	// SaveDelivery stores d under (d.OrgID, d.ID), replacing every field
	// of the delivery saved before under that key, if any, except
	// CreatedAt: the first save fixes it, and a zero CreatedAt then
	// becomes the current time. A zero UpdatedAt becomes the current
	// time. Times are kept in UTC, to the microsecond. SaveDelivery
	// returns an error and stores nothing when d.OrgID, d.ID or
	// d.ChannelID is empty.
	SaveDelivery(ctx context.Context, d Delivery) error

	// GetDelivery returns the delivery id of orgID, or ErrNotFound.
	GetDelivery(ctx context.Context, orgID, id string) (Delivery, error)

	// ListDeliveries returns at most limit deliveries of the channel
	// channelID of orgID, newest first: by CreatedAt, then by ID, both
	// descending. When before.ID is not empty, it lists only those that
	// come after before in that order (an earlier CreatedAt than
	// before.CreatedAt, or the same and a smaller ID), so that passing
	// the last delivery of a page gives the next page; before need not
	// be stored any more. It returns an empty, non-nil slice and no
	// error when there are none, or when limit is not positive.
	ListDeliveries(ctx context.Context, orgID, channelID string, before Delivery, limit int) ([]Delivery, error)

	// ChannelHealth returns the [Health] of the channel channelID of
	// orgID, computed from its deliveries as Health's fields describe.
	// A channel without deliveries, of another organisation or unknown,
	// has the zero Health, and no error.
	ChannelHealth(ctx context.Context, orgID, channelID string) (Health, error)
}
