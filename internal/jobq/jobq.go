// Package jobq is the seam between notify's Dispatcher and a durable job
// queue owned by a SQL store (internal/riverqueue, on River). It holds only
// plain types, so that notify, internal/sqlstore and internal/riverqueue
// can share them without importing each other's engines.
//
// The flow a reader should keep in mind:
//
//	approval.Service.Create → store.CreateApproval ──tx──> request row + fan_out job (Push in the tx)
//	approval.Service.Review → store.DecideApproval ──tx──> decision      + decided job
//	River worker → Run (notify.Dispatcher) → Outcome → one tx: copy row + follow-on jobs + JobCompleteTx
//
// A job's Args hold IDs and plain data only (organisation, channel and
// request IDs, the event of a drift or agent alert), never a bot token or
// webhook URL: the worker reads the channel from the store when it runs,
// and the request too, so a retry renders the current state. The one
// credential a job may carry, a click's response_url (valid 30 minutes),
// is kept apart in Secret, which the store seals with its SecretKey when
// it has one.
package jobq

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// Kinds of jobs (notify's jobKind values). Each is one River job kind,
// prefixed "chatnotify.".
const (
	FanOut    = "fan_out"
	Decided   = "decided"
	Post      = "post"
	Update    = "update"
	FollowUp  = "follow_up"
	Replace   = "replace"
	Ephemeral = "ephemeral"
)

// Kinds lists every kind, for worker registration.
var Kinds = []string{FanOut, Decided, Post, Update, FollowUp, Replace, Ephemeral}

// Args are the stored arguments of every kind of job. Fields unused by a
// kind are left empty. Never a secret.
type Args struct {
	OrgID      string `json:"org_id"`
	ChannelID  string `json:"channel_id,omitempty"`
	ApprovalID string `json:"approval_id,omitempty"`
	// EventType and Event: a drift or agent event, as JSON (fan_out, post).
	// An approval request is not stored: it is read by ApprovalID.
	EventType string          `json:"event_type,omitempty"`
	Event     json.RawMessage `json:"event,omitempty"`
	// Copy: the Slack message or Teams channel an update or follow-up
	// brings up to date (IDs only).
	SlackChannel string `json:"slack_channel,omitempty"`
	SlackTS      string `json:"slack_ts,omitempty"`
	// TeamsActivityID is the Teams bot card an update replaces (PUT).
	TeamsActivityID string `json:"teams_activity_id,omitempty"`
	// Warning is an ephemeral job's text.
	Warning string `json:"warning,omitempty"`
	// NotAfter is when a replace or ephemeral job's response_url stops
	// working.
	NotAfter time.Time `json:"not_after,omitzero"`
	// DeliveryID is the job's entry in the deliveries log (post, update,
	// follow_up), when the Dispatcher keeps one. For a unique job it is
	// derived from the other Args, so it never makes two jobs different.
	DeliveryID string `json:"delivery_id,omitempty"`
	// Requeued is when an admin retried the failed delivery this job
	// makes again (ns since the epoch): it keeps the new job from being
	// a duplicate of the failed unique one.
	Requeued int64 `json:"requeued,omitempty"`
}

// Job is one job to insert.
type Job struct {
	Kind string
	Args Args
	// Secret is a short-lived credential (a response_url), sealed at rest
	// by the store when it has a SecretKey.
	Secret string
	// Unique: at most one job of this kind with these Args is ever
	// inserted (in any state, completed included): a second insert is a
	// no-op. Used for the hand-off jobs (inserted by the store's
	// transaction and again by the Dispatcher's Enqueue or FollowUp) and
	// for copy updates (queued by a decision and by a post's catch-up).
	Unique bool
	// Log, when set, is the job's new entry in the deliveries log, saved
	// pending in the transaction that inserts the job (unless an entry
	// has its ID already: a unique job queued twice).
	Log *Log
}

// Log is a write to the deliveries log (notify.Delivery; the SQL stores'
// chatnotify_deliveries) that goes with a job, in the queue's database:
// on a Job, the new delivery the job is; on an Outcome, the end of a try
// (in the transaction completing the job when it succeeded, right after
// the try otherwise).
type Log struct {
	OrgID, ID string
	// At is when it happened: CreatedAt of a new delivery, UpdatedAt
	// (and DeliveredAt, or FirstFailedAt if none yet) at a try's end.
	At time.Time
	// A new delivery (a Job's Log), saved pending with no attempt.
	ChannelID, Event, ApprovalID, Op string
	Retry                            json.RawMessage
	// The end of a try (an Outcome's Log): the delivery's new Status
	// ("delivered", "pending": a retry follows, "failed"), the Reason and
	// Code of a failure (empty on success), and the Attempts to add: 1
	// when the platform was called, 0 when the job ended before.
	Status, Reason, Code string
	Attempts             int
}

// IsNew reports whether l is a Job's Log: a new delivery.
func (l Log) IsNew() bool { return l.Op != "" }

// Requeuer is a Queue that can retry a failed delivery atomically.
type Requeuer interface {
	// Requeue sets the delivery id of orgID from "failed" back to
	// "pending" (its Reason and Code cleared, UpdatedAt at) and inserts
	// job, in one transaction, and reports true; it changes nothing and
	// reports false when the delivery is not "failed" (any more): of
	// concurrent callers, in any process on the database, one wins.
	Requeue(ctx context.Context, orgID, id string, at time.Time, job Job) (bool, error)
}

// ApprovalFanOut is the job that posts the approval request id of orgID
// to its organisation's channels.
func ApprovalFanOut(orgID, id string) Job {
	return Job{Kind: FanOut, Args: Args{OrgID: orgID, ApprovalID: id, EventType: "approval_request"}, Unique: true}
}

// DecidedJob is the job that brings every copy of the decided request id
// of orgID up to date.
func DecidedJob(orgID, id string) Job {
	return Job{Kind: Decided, Args: Args{OrgID: orgID, ApprovalID: id}, Unique: true}
}

// Attempt is one try of a job, handed to a [Run] function.
type Attempt struct {
	Job       Job
	ID        int64 // the queue's job ID
	Number    int   // 1 for the first try
	CreatedAt time.Time
	// Turn asks for the destination key's turn, shared by every process
	// on the database: its lease (one try sending to it at a time) and its
	// send slot, due interval after the previous send started. 0: the
	// turn is this try's, send now; the queue gives the lease back when
	// the try ends (in the transaction completing the job on success). A
	// wait is a snooze: return an Outcome with Snooze set to it.
	Turn func(ctx context.Context, key string, interval time.Duration) (time.Duration, error)
}

// Copy is a copy of an approval request to record (notify.Post, with the
// receipt as JSON).
type Copy struct {
	ApprovalID  string
	OrgID       string
	ChannelID   string
	ChannelType string
	Receipt     json.RawMessage
	PostedAt    time.Time
}

// Outcome is the result of one try.
type Outcome struct {
	// Err is the try's error; nil means done.
	Err error
	// Permanent: Err is not worth retrying; the job ends at once.
	Permanent bool
	// Snooze > 0: try again after it without spending an attempt (a
	// rate-limit slot, a platform's Retry-After). Err may describe it.
	Snooze time.Duration
	// HoldKey and HoldUntil push the destination's next slot (on a 429
	// or a server error), so the destination's other jobs wait instead of
	// taking workers.
	HoldKey   string
	HoldUntil time.Time
	// On success: Push is queued, Copy recorded and, when Copy's request
	// is no longer pending, IfDecided queued, all in the transaction that
	// completes the job.
	Push      []Job
	Copy      *Copy
	IfDecided []Job
	// Done is called once the job has ended for good: with nil after the
	// completion committed, or with the last error when it is cancelled
	// or gives up. Not called for a try that will be retried.
	Done func(err error)
	// Log, when set, records the try's end in the deliveries log: in the
	// transaction completing the job on success, right after the try
	// otherwise. Not written when the try was cut short by a stop.
	Log *Log
}

// Run makes one try of a job.
type Run func(ctx context.Context, a Attempt) Outcome

// Queue is a durable queue as the Dispatcher sees it.
type Queue interface {
	// Push inserts jobs, all or none, inside tx when tx is not nil.
	Push(ctx context.Context, tx *sql.Tx, jobs ...Job) error
	// Start starts working jobs with run. Once started, the store inserts
	// its hand-off jobs in its own transactions.
	Start(ctx context.Context, run Run) error
	// Stop stops fetching jobs, lets the running ones finish within ctx
	// and leaves the rest in the database.
	Stop(ctx context.Context) error
}

// Provider is a store that owns a durable queue.
type Provider interface {
	DeliveryQueue() Queue
}

// Sweep is the kind of the periodic job that runs the Dispatcher's
// DispatcherOptions.Sweep (the expiry sweep), through the same Run as
// every other job. It is not in Kinds: a queue works it only once
// [Periodic.Every] has asked for it.
const Sweep = "sweep"

// Periodic is a Queue that can run a periodic job.
type Periodic interface {
	// Every makes the queue insert a job of kind (with empty Args) every
	// interval, starting at Start: one job per tick across every process
	// on the database (inserted by River's elected leader), and none
	// while the previous one is still queued or running. Call it before
	// Start.
	Every(kind string, interval time.Duration)
}
