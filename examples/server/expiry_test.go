package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// Tests of the expiry sweep (expiry.go): a request whose deadline passes
// without a click becomes expired on its own, is audited, and every chat
// copy shows it.

func TestExpirySweepExpiresAndUpdatesEveryCopyWithoutAClick(t *testing.T) {
	for _, st := range testStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHost(t, map[string]string{"DATABASE_URL": st.dsn(t), "EXPIRY_SWEEP_INTERVAL": "20ms"})
			e := &e2eHost{testHost: h, slackChannel: "C0EXPIRY01"}
			h.botChannel(t, "Expiring Approvals", e.slackChannel)
			h.createChannel(t, map[string]any{
				"channel_type": "teams", "name": "Expiring on Teams",
				"config": map[string]any{"webhook_url": h.fake.TeamsWebhookURL("expiry")},
			})
			e.teamsPath = urlPath(h.fake.TeamsWebhookURL("expiry"))

			req := h.createApproval(t, map[string]any{
				"title": "Restart the payments database", "risk_score": 64, "expires_in_seconds": 1,
			})
			post := e.waitBotPost(t, req.ID)
			e.waitTeamsCard(t, "Restart the payments database")
			eventually(t, "both copies of "+req.ID+" to be recorded", func() bool {
				posts, err := h.app.store.ListPosts(t.Context(), defaultOrg, req.ID)
				require.NoError(t, err)
				return len(posts) == 2
			})
			// Only now, so that the sweep cannot overtake the recording of
			// the copies, however slow the machine.
			h.app.startExpirySweeper()

			var got approval.Request
			eventually(t, req.ID+" to expire without a click", func() bool {
				got = h.getApproval(t, req.ID)
				return got.Status != approval.StatusPending
			})
			assert.Equal(t, approval.StatusExpired, got.Status)
			assert.Equal(t, "Expired before review", got.ReviewNotes)
			assert.Empty(t, got.ReviewedBy, "nobody reviewed it")
			require.NotNil(t, got.ReviewedAt)
			assert.False(t, got.ReviewedAt.Before(got.ExpiresAt), "expired at %v, after its deadline %v", got.ReviewedAt, got.ExpiresAt)

			// The audit entry is written just after the expiry itself.
			var entries []approval.AuditEntry
			eventually(t, "the audit entry of the expiry", func() bool {
				entries = h.audit(t, "?approval_id="+req.ID)
				return len(entries) > 0
			})
			require.Len(t, entries, 1)
			assert.Equal(t, approval.AuditExpired, entries[0].Action)
			assert.Equal(t, approval.StatusExpired, entries[0].Decision)
			assert.Equal(t, 64, entries[0].RiskScore)
			assert.Empty(t, entries[0].Actor)

			var m notifytest.Message
			eventually(t, "the chat.update of the Slack copy", func() bool {
				m = e.message(post.Channel, post.TS)
				return len(m.Edits) > 0
			})
			assert.Equal(t, []string{"chat.update"}, m.Edits)
			assert.Equal(t, ":warning: Approval request has expired", m.Text)
			assert.Contains(t, fmt.Sprint(m.Blocks), "Restart the payments database", "the result keeps the request's title")
			_, _, hasApprove := findButton(m.Blocks, approveAction)
			_, _, hasDeny := findButton(m.Blocks, denyAction)
			assert.False(t, hasApprove || hasDeny, "the buttons are gone: %v", m.Blocks)

			res := e.waitTeams(t, "the Teams result card of "+req.ID, func(_ notifytest.Request, text string) bool {
				return strings.Contains(text, req.ID) && strings.Contains(text, "Approval request has expired")
			})
			assert.Empty(t, res.Buttons, "a result card has no Approve or Deny link")
		})
	}
}

// run starts the sweep on its own, logs what it expired, and stops it at
// shutdown.
func TestRunSweepsExpiredRequests(t *testing.T) {
	s := startRun(t, map[string]string{
		"DATABASE_URL": "memory:", "ADMIN_TOKEN": testAdminToken, "EXPIRY_SWEEP_INTERVAL": "20ms",
	})
	h := &testHost{url: s.base}
	req := h.createApproval(t, map[string]any{"title": "Drop the staging schema", "expires_in_seconds": 1})
	require.Equal(t, approval.StatusPending, req.Status)

	eventually(t, req.ID+" to expire without a click", func() bool {
		return h.getApproval(t, req.ID).Status == approval.StatusExpired
	})
	var entries []approval.AuditEntry
	eventually(t, "the audit entry of the expiry", func() bool {
		entries = h.audit(t, "?approval_id="+req.ID)
		return len(entries) > 0
	})
	require.Len(t, entries, 1)
	assert.Equal(t, approval.AuditExpired, entries[0].Action)
	eventually(t, "the sweep's log line", func() bool {
		return strings.Contains(s.logs.String(), `level=INFO msg="expired approval requests past their deadline" count=1`)
	})

	require.NoError(t, s.stop(t))
	assert.Contains(t, s.logs.String(), "stopped cleanly")
	assert.NotContains(t, s.logs.String(), "expiry sweep failed")
}

func TestExpirySweepInterval(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{
		{"", 30 * time.Second},
		{"0", 0},
		{"1m30s", 90 * time.Second},
		{" 250ms ", 250 * time.Millisecond},
	} {
		t.Run("valid "+tc.value, func(t *testing.T) {
			a := newBareApp(t, tc.value)
			assert.Equal(t, tc.want, a.sweepEvery)
			a.startExpirySweeper()
			if tc.want == 0 {
				assert.Nil(t, a.sweeper, "0 disables the sweep")
			} else {
				assert.NotNil(t, a.sweeper)
			}
		})
	}
	for _, value := range []string{"soon", "30", "-5s", "1 minute"} {
		t.Run("invalid "+value, func(t *testing.T) {
			vars := map[string]string{"ADDR": "127.0.0.1:0", "DATABASE_URL": "memory:", "EXPIRY_SWEEP_INTERVAL": value}
			var stdout syncbuf.Buffer
			err := run(t.Context(), loadConfig(func(k string) string { return vars[k] }), slog.New(slog.DiscardHandler), &stdout)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "EXPIRY_SWEEP_INTERVAL must be a Go duration")
			assert.Empty(t, stdout.String(), "no banner for a server that does not start")
		})
	}
}

func TestCloseStopsTheExpirySweep(t *testing.T) {
	a := newBareApp(t, "10ms")
	a.startExpirySweeper()
	sw := a.sweeper
	require.NotNil(t, sw)
	a.startExpirySweeper()
	assert.Same(t, sw, a.sweeper, "a second start does not start a second sweep")

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.Close(ctx))
	select {
	case <-sw.done:
	default:
		t.Fatal("Close returned while the sweep was still running")
	}
	assert.Nil(t, a.sweeper)
}

// newBareApp is an in-memory app, not serving, with the given
// EXPIRY_SWEEP_INTERVAL; it is closed after t (Close may be called
// twice).
func newBareApp(t *testing.T, interval string) *app {
	t.Helper()
	vars := map[string]string{"DATABASE_URL": "memory:", "EXPIRY_SWEEP_INTERVAL": interval, "ACTION_TOKEN_SECRET": testActionKey}
	a, err := newApp(t.Context(), loadConfig(func(k string) string { return vars[k] }), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(context.Background()) })
	return a
}
