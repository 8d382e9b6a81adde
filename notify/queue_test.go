package notify_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// gate is a test sender that blocks every post until released (or its
// context ends), and tells when a post starts.
type gate struct {
	started chan struct{}
	release chan struct{}
	sent    atomic.Int32
}

func newGate() *gate {
	return &gate{started: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (g *gate) sender() notify.TestSender {
	return notify.TestSender{Post: func(ctx context.Context, ch notify.Channel, ev notify.Event) (notify.Receipt, error) {
		g.started <- struct{}{}
		select {
		case <-g.release:
			g.sent.Add(1)
			return notify.Receipt{}, nil
		case <-ctx.Done():
			return notify.Receipt{}, ctx.Err()
		}
	}}
}

func queueStore(t *testing.T) *memstore.Store {
	st := memstore.New()
	f := newFakes(t)
	seedChannel(t, st, "org-1", f.hookChannel())
	return st
}

// settle waits, without a deadline of its own (the test's timeout is the
// bound), until cond holds.
func settle(t *testing.T, cond func() bool) {
	t.Helper()
	// A generous bound, so that a regression fails the test instead of
	// hanging the suite until go test's timeout.
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 30 s")
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestQueue(t *testing.T) {
	ev := notify.DriftAlert{Resource: "x"}

	t.Run("the constructor starts no goroutine", func(t *testing.T) {
		st := queueStore(t)
		before := runtime.NumGoroutine()
		d, err := notify.NewTestDispatcher(st, newGate().sender(), nil)
		require.NoError(t, err)
		assert.Equal(t, before, runtime.NumGoroutine())
		require.NoError(t, d.Close(t.Context()))
	})

	t.Run("a full queue is an error, never a silent drop", func(t *testing.T) {
		g := newGate()
		var got results
		d, err := notify.NewTestDispatcher(queueStore(t), g.sender(), &notify.DispatcherOptions{
			QueueSize: 2, Workers: 1, DisableRateLimit: true, OnDelivery: got.add,
		})
		require.NoError(t, err)
		require.NoError(t, d.Enqueue("org-1", ev))
		<-g.started // the worker holds the first post
		require.NoError(t, d.Enqueue("org-1", ev))
		require.NoError(t, d.Enqueue("org-1", ev))
		assert.Equal(t, 2, notify.QueueLen(d))
		assert.ErrorIs(t, d.Enqueue("org-1", ev), notify.ErrQueueFull)
		close(g.release)
		require.NoError(t, d.Close(t.Context()))
		assert.Equal(t, int32(3), g.sent.Load(), "every accepted event was delivered")
		assert.Len(t, got.get(), 3)
		assert.ErrorIs(t, d.Enqueue("org-1", ev), notify.ErrClosed)
	})

	t.Run("a full queue is logged by FollowUp, which has no error to return", func(t *testing.T) {
		g := newGate()
		f := newFakes(t)
		d, err := notify.NewTestDispatcher(queueStore(t), g.sender(), &notify.DispatcherOptions{
			QueueSize: 1, Workers: 1, DisableRateLimit: true, Posts: memstore.New(), Logger: debugLogger(f.log),
		})
		require.NoError(t, err)
		require.NoError(t, d.Enqueue("org-1", ev))
		<-g.started
		require.NoError(t, d.Enqueue("org-1", ev))
		d.FollowUp(t.Context(), approval.FollowUp{Request: approval.Request{ID: "q", OrgID: "org-1", Status: approval.StatusApproved}, Decided: true})
		assert.Contains(t, f.log.String(), "could not queue the follow-up")
		assert.Contains(t, f.log.String(), `"approval_id":"q"`)
		close(g.release)
		require.NoError(t, d.Close(t.Context()))
	})

	t.Run("Close drains queued and in-flight work", func(t *testing.T) {
		f := newFakes(t)
		st := memstore.New()
		for _, name := range []string{"a", "b", "c"} {
			ch := f.hookChannel()
			ch.Name, ch.Config.WebhookURL = name, f.srv.SlackWebhookURL(name)
			seedChannel(t, st, "org-1", ch)
		}
		var got results
		d, err := notify.NewDispatcher(st, f.sender(t, nil), &notify.DispatcherOptions{
			QueueSize: 100, Workers: 3, DisableRateLimit: true, OnDelivery: got.add,
		})
		require.NoError(t, err)
		for range 50 {
			require.NoError(t, d.Enqueue("org-1", ev))
		}
		require.NoError(t, d.Close(t.Context()))
		assert.Len(t, got.get(), 150)
		assert.Equal(t, 150, f.count("webhook"))
		for _, r := range got.get() {
			assert.True(t, r.OK)
		}
		require.NoError(t, d.Close(t.Context()), "Close is idempotent")
	})

	t.Run("Close with a deadline cancels what is left and reports it", func(t *testing.T) {
		g := newGate()
		var got results
		d, err := notify.NewTestDispatcher(queueStore(t), g.sender(), &notify.DispatcherOptions{
			QueueSize: 10, Workers: 1, DisableRateLimit: true, OnDelivery: got.add,
		})
		require.NoError(t, err)
		for range 5 {
			require.NoError(t, d.Enqueue("org-1", ev))
		}
		<-g.started
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // the deadline has already passed
		assert.ErrorIs(t, d.Close(ctx), context.Canceled)
		// Close waited for the workers: every job is already reported, and
		// none runs any more (the store may be closed now).
		require.Len(t, got.get(), 5, "every accepted job is reported by the time Close returns")
		for _, r := range got.get() {
			assert.False(t, r.OK)
			assert.Equal(t, "canceled", r.Code)
		}
		assert.Equal(t, int32(0), g.sent.Load())
	})

	t.Run("workers exit after Close: no goroutine leak", func(t *testing.T) {
		before := runtime.NumGoroutine()
		f := newFakes(t)
		st := memstore.New()
		seedChannel(t, st, "org-1", f.hookChannel())
		d, err := notify.NewDispatcher(st, f.sender(t, nil), &notify.DispatcherOptions{Workers: 4, DisableRateLimit: true})
		require.NoError(t, err)
		for range 10 {
			require.NoError(t, d.Enqueue("org-1", ev))
		}
		require.NoError(t, d.Close(t.Context()))
		f.srv.Close()
		settle(t, func() bool { return runtime.NumGoroutine() <= before })
	})
}
