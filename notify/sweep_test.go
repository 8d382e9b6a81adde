package notify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// The Sweep of the in-memory queue: a ticker of the Dispatcher's own,
// started by NewDispatcher and stopped by Close. (The durable queue's
// periodic job is tested in internal/queuetest, on both databases.)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newSweepDispatcher(t *testing.T, o *notify.DispatcherOptions) *notify.Dispatcher {
	t.Helper()
	fake := notifytest.New()
	t.Cleanup(fake.Close)
	sender, err := notify.NewSender(&notify.SenderOptions{SlackAPIURL: fake.SlackAPIURL(), AllowLoopbackURLs: true})
	require.NoError(t, err)
	d, err := notify.NewDispatcher(memstore.New(), sender, o)
	require.NoError(t, err)
	return d
}

func TestSweepRunsOnATickerUntilClose(t *testing.T) {
	var runs atomic.Int32
	var logs lockedBuffer
	d := newSweepDispatcher(t, &notify.DispatcherOptions{
		SweepInterval: 20 * time.Millisecond,
		Sweep: func(ctx context.Context) error {
			if runs.Add(1) == 2 {
				return errors.New("the database is away")
			}
			return nil
		},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	require.Eventually(t, func() bool { return runs.Load() >= 4 }, 5*time.Second, 5*time.Millisecond,
		"the sweep goes on after a failed run")
	assert.Contains(t, logs.String(), "the sweep failed; the next one tries again")
	assert.Contains(t, logs.String(), "the database is away")

	require.NoError(t, d.Close(t.Context()))
	n := runs.Load()
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, n, runs.Load(), "no run after Close returned")
	require.NoError(t, d.Close(t.Context()), "Close again")
}

// Close lets a run in progress finish within its ctx, then cancels it;
// either way the run has returned when Close does.
func TestCloseWaitsForTheSweep(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window time.Duration
		ended  string
	}{
		{"finishes within the window", 5 * time.Second, "finished"},
		{"cancelled past the window", 100 * time.Millisecond, "cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{}, 1)
			var ended atomic.Value
			d := newSweepDispatcher(t, &notify.DispatcherOptions{
				SweepInterval: 10 * time.Millisecond,
				Sweep: func(ctx context.Context) error {
					select {
					case started <- struct{}{}:
					default:
						return nil // only the first run is slow
					}
					select {
					case <-time.After(500 * time.Millisecond):
						ended.Store("finished")
					case <-ctx.Done():
						ended.Store("cancelled")
					}
					return ctx.Err()
				},
			})
			<-started
			ctx, cancel := context.WithTimeout(t.Context(), tc.window)
			defer cancel()
			if err := d.Close(ctx); err != nil {
				// In memory, a Close whose ctx has ended says so.
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.Equal(t, "cancelled", tc.ended)
			}
			assert.Equal(t, tc.ended, ended.Load(), "the run had returned when Close did")
		})
	}
}

// The example's use: ExpireDue on the Sweep expires a request past its
// deadline and brings its copy up to date, without a click.
func TestSweepExpiresWithExpireDue(t *testing.T) {
	fake := notifytest.New()
	defer fake.Close()
	st := memstore.New()
	sender, err := notify.NewSender(&notify.SenderOptions{SlackAPIURL: fake.SlackAPIURL(), AllowLoopbackURLs: true})
	require.NoError(t, err)
	_, err = st.CreateChannel(t.Context(), notify.Channel{OrgID: "acme", Type: notify.Slack, Name: "sec", Enabled: true,
		Config: notify.ChannelConfig{BotToken: "xoxb-test", ChannelID: "C1"}})
	require.NoError(t, err)
	var svc atomic.Pointer[approval.Service]
	ops := make(chan string, 10)
	d, err := notify.NewDispatcher(st, sender, &notify.DispatcherOptions{
		Posts: st, Approvals: st, DisableRateLimit: true,
		OnDelivery:    func(r notify.Result) { ops <- r.Op },
		SweepInterval: 20 * time.Millisecond,
		Sweep: func(ctx context.Context) error {
			if s := svc.Load(); s != nil {
				_, err := s.ExpireDue(ctx, 100)
				return err
			}
			return nil
		},
	})
	require.NoError(t, err)
	defer d.Close(context.Background())
	s, err := approval.NewService(st, st, &approval.Options{FollowUp: d.FollowUp})
	require.NoError(t, err)
	req, err := s.Create(t.Context(), approval.Request{OrgID: "acme", Title: "soon gone", ExpiresAt: time.Now().Add(300 * time.Millisecond)})
	require.NoError(t, err)
	require.NoError(t, d.Enqueue("acme", notify.ApprovalRequested{Request: req}))
	require.Equal(t, "post", <-ops)
	svc.Store(s)
	select {
	case op := <-ops:
		assert.Equal(t, "update", op)
	case <-time.After(10 * time.Second):
		t.Fatal("the expired request's copy was not updated")
	}
	got, err := st.GetApproval(t.Context(), "acme", req.ID)
	require.NoError(t, err)
	assert.Equal(t, approval.StatusExpired, got.Status)
}
