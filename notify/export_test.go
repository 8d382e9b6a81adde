package notify

import (
	"context"
	"net/http"

	"github.com/chatnotify/chatnotify/approval"
)

// SetJitter replaces the random source of d's backoff jitter, so tests
// can predict waits. It returns values in [0, 1).
func SetJitter(d *Dispatcher, f func() float64) { d.rand = f }

// WaitIdle returns once d has no job left: queued, running or waiting
// for a retry.
func WaitIdle(d *Dispatcher) { d.q.waitIdle() }

// QueueLen returns how many jobs wait in d's queue (not counting those
// running or waiting for a retry).
func QueueLen(d *Dispatcher) int {
	d.q.mu.Lock()
	defer d.q.mu.Unlock()
	return d.q.waiting
}

// IsMasked is isMasked.
func IsMasked(s string) bool { return isMasked(s) }

// AllEvents returns every subscribable event type.
func AllEvents() []EventType { return eventTypes() }

// ValidateWith is Channel.Validate under a URL policy.
func ValidateWith(ch Channel, allowLoopback bool) (Channel, error) {
	return validate(ch, allowLoopback)
}

// SlackReplacementText is the top-level text of the message replacing a
// copy of the decided request r.
func SlackReplacementText(r approval.Request) string { return slackReplacement(r).Text }

// TestSender is a transport for tests: its posts call Post (success when
// nil), its other jobs call ShowDecision and Respond (success when nil),
// and Loopback is its URL policy.
type TestSender struct {
	Post         func(ctx context.Context, ch Channel, ev Event) (Receipt, error)
	ShowDecision func(ctx context.Context, ch Channel, p Post, r approval.Request) error
	Respond      func(ctx context.Context, responseURL string, text string, replace bool) error
	Loopback     bool
}

func (s TestSender) Send(ctx context.Context, ch Channel, ev Event) (Receipt, error) {
	if s.Post == nil {
		return Receipt{}, nil
	}
	return s.Post(ctx, ch, ev)
}

func (s TestSender) showDecision(ctx context.Context, ch Channel, p Post, r approval.Request) error {
	if s.ShowDecision == nil {
		return nil
	}
	return s.ShowDecision(ctx, ch, p, r)
}

func (s TestSender) respond(ctx context.Context, u string, m slackResponse) error {
	if s.Respond == nil {
		return nil
	}
	return s.Respond(ctx, u, m.Text, m.ReplaceOriginal)
}

func (s TestSender) allowLoopback() bool { return s.Loopback }

// NewTestDispatcher is NewDispatcher with a test transport.
func NewTestDispatcher(channels ChannelStore, s TestSender, opts *DispatcherOptions) (*Dispatcher, error) {
	return newDispatcher(channels, s, opts)
}

// NewTestSettingsHandler is NewSettingsHandler with a test transport.
func NewTestSettingsHandler(store ChannelStore, s TestSender, auth Authorizer, opts *SettingsOptions) (http.Handler, error) {
	return newSettingsHandler(store, s, auth, opts)
}

// ShowDecision is s.showDecision.
func ShowDecision(ctx context.Context, s *PlatformSender, ch Channel, p Post, r approval.Request) error {
	return s.showDecision(ctx, ch, p, r)
}

// RespondReplace posts the replacement of a copy of r to a response_url.
func RespondReplace(ctx context.Context, s *PlatformSender, responseURL string, r approval.Request) error {
	m := slackReplacement(r)
	return s.respond(ctx, responseURL, slackResponse{Text: m.Text, Blocks: m.Blocks, ReplaceOriginal: true})
}

// ValidationField returns the field named by a validation error, or "".
func ValidationField(err error) string {
	if v, ok := err.(*validationError); ok {
		return v.Field
	}
	return ""
}
