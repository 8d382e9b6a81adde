package notify

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func botTestChannel(conv string) Channel {
	return Channel{ID: "ch-1", Type: Teams, Enabled: true, Config: ChannelConfig{
		ServiceURL: "https://smba.trafficmanager.net/amer/", ConversationID: conv, TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47"}}
}

// TestTeamsBotRateWindows books 2,000 sends to one conversation at once
// and checks every window of the Bot Connector's per-conversation limits
// holds, and that another conversation is not held back.
func TestTeamsBotRateWindows(t *testing.T) {
	d := &Dispatcher{o: DispatcherOptions{TeamsRates: defaultTeamsRates(), SlackRates: defaultSlackRates()}}
	ch := botTestChannel("19:a@thread.tacv2")
	rates := d.rates(ch)
	require.Equal(t, teamsBotRates(), rates)
	assert.Equal(t, defaultTeamsRates(), d.rates(Channel{Type: Teams, Config: ChannelConfig{WebhookURL: "https://x.webhook.office.com/a"}}))

	l := newLimiter()
	t0 := time.Unix(1700000000, 0)
	var at []time.Time
	for range 2000 {
		at = append(at, l.reserve(limitKey(ch), rates, t0))
	}
	for _, r := range rates {
		for i := r.N; i < len(at); i++ {
			require.GreaterOrEqual(t, at[i].Sub(at[i-r.N]), r.Per, "more than %d per %s at send %d", r.N, r.Per, i)
		}
	}
	off := func(i int) time.Duration { return at[i].Sub(t0) }
	assert.Equal(t, []time.Duration{0, 0, 0, 0, 0, 0, 0, time.Second, 2 * time.Second, 2 * time.Second}, []time.Duration{off(0), off(1), off(2), off(3), off(4), off(5), off(6), off(7), off(8), off(9)})
	assert.Equal(t, 30*time.Second, off(60), "the 61st waits for the 30 s window")
	assert.Equal(t, time.Hour, off(1800), "the 1,801st waits for the hour")
	t.Logf("sends 1–10 at %v; 61st at %v; 1,800th at %v; 1,801st at %v", []time.Duration{off(0), off(6), off(7), off(8), off(9)}, off(60), off(1799), off(1800))

	other := l.reserve(limitKey(botTestChannel("19:b@thread.tacv2")), rates, t0)
	assert.Equal(t, t0, other, "each conversation has its own limit")
	assert.Equal(t, "teams:conversation:19:a@thread.tacv2", limitKey(ch))
}

// TestTeamsBotCopyJobEncodes checks the durable form of the update of a
// bot copy carries its activity ID.
func TestTeamsBotCopyJobEncodes(t *testing.T) {
	ch := botTestChannel("19:a@thread.tacv2")
	p := Post{ApprovalID: "apr-1", OrgID: "org-1", ChannelID: ch.ID, ChannelType: Teams, Receipt: Receipt{TeamsActivityID: "1700000000001"}}
	kind, ok := updateKind(ch, p)
	require.True(t, ok)
	assert.Equal(t, jobUpdate, kind, "replaced in place, not followed up")
	ch.Enabled = false
	kind, ok = updateKind(ch, p)
	assert.True(t, ok && kind == jobUpdate, "even once the channel is disabled, like a Slack copy")
	kind, _ = updateKind(ch, Post{ChannelType: Teams})
	assert.NotEqual(t, jobUpdate, kind, "a copy without an activity ID")

	e, err := (&job{kind: jobUpdate, orgID: "org-1", ch: ch, post: p}).encode()
	require.NoError(t, err)
	assert.True(t, e.Unique)
	assert.Equal(t, "1700000000001", e.Args.TeamsActivityID)
	b, err := json.Marshal(e.Args)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"teams_activity_id":"1700000000001"`)
	assert.NotContains(t, string(b), "smba", "IDs only, not the channel")
	assert.Equal(t, 2*time.Second, durableTeamsBotInterval)
}

func TestActivityURL(t *testing.T) {
	for _, tc := range []struct{ base, conv, id, want string }{
		{"https://smba.trafficmanager.net/amer/", "19:a@thread.tacv2", "", "https://smba.trafficmanager.net/amer/v3/conversations/19:a@thread.tacv2/activities"},
		{"https://smba.trafficmanager.net/emea", "19:a@thread.tacv2;messageid=1", "17", "https://smba.trafficmanager.net/emea/v3/conversations/19:a@thread.tacv2%3Bmessageid=1/activities/17"},
		{"https://smba.infra.gcc.teams.microsoft.com/", "a:x/y?z", "1/2", "https://smba.infra.gcc.teams.microsoft.com/v3/conversations/a:x%2Fy%3Fz/activities/1%2F2"},
	} {
		u, err := checkServiceURL(tc.base, false)
		require.NoError(t, err)
		assert.Equal(t, tc.want, activityURL(u, tc.conv, tc.id))
	}
}
