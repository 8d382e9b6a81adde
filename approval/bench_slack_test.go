package approval_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/slackverify"
)

// The benchmarks below measure one Slack click end to end, as the
// comparison in ../shared/bench does over HTTP: verify the signature,
// parse the form and payload (net/url, encoding/json), find the
// organisation, decide a fresh pending approval (an in-memory store,
// audit entry included), hand over the FollowUps, answer. Each iteration
// clicks its own approval.
//
//	go test -run '^$' -bench SlackClick -benchmem ./approval/
//
// "harness" is the cost of building and signing the request and the
// recorder alone; subtract it from the others.

const benchSecret = "bench-signing-secret-0123456789abcdef"

// benchClicks builds signed block_actions requests shaped like Slack's
// (and like ../shared/bench/gen's), each for approval apr-<i>, patching a
// fixed-width ID into a template instead of re-encoding the payload.
type benchClicks struct {
	body    []byte
	offsets []int // where the 10-digit number of the ID starts
	now     time.Time
	sign    bool
}

func newBenchClicks(tb testing.TB, responseURL string, sign bool) *benchClicks {
	tb.Helper()
	const placeholder = "apr-0000000000"
	payload := map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": "U0CA5", "username": "amy.reviewer", "name": "amy.reviewer", "team_id": "T3MDE"},
		"api_app_id": "A0CA5", "token": "Shh_its_a_seekrit", "trigger_id": "12466734323.1395872398",
		"container":    map[string]any{"type": "message", "message_ts": "1548261231.000200", "channel_id": "C0123456789", "is_ephemeral": false},
		"team":         map[string]any{"id": "T3MDE", "domain": "acme"},
		"channel":      map[string]any{"id": "C0123456789", "name": "security-alerts"},
		"response_url": responseURL,
		"message": map[string]any{
			"type": "message", "ts": "1548261231.000200", "text": "Approval requested",
			"blocks": []any{
				map[string]any{"type": "section", "block_id": "summary", "text": map[string]any{"type": "mrkdwn", "text": "*Approval requested* for agent `deploy-bot`: delete production bucket logs-archive (risk score 82)"}},
				map[string]any{"type": "actions", "block_id": "approval_actions", "elements": []any{
					map[string]any{"type": "button", "action_id": "approve_action", "text": map[string]any{"type": "plain_text", "text": "Approve"}, "style": "primary", "value": placeholder},
					map[string]any{"type": "button", "action_id": "deny_action", "text": map[string]any{"type": "plain_text", "text": "Deny"}, "style": "danger", "value": placeholder},
				}},
			},
		},
		"actions": []any{map[string]any{"type": "button", "action_id": "approve_action", "block_id": "approval_actions", "value": placeholder, "text": map[string]any{"type": "plain_text", "text": "Approve"}, "action_ts": "1548426417.840180"}},
	}
	js, err := json.Marshal(payload)
	if err != nil {
		tb.Fatal(err)
	}
	c := &benchClicks{body: []byte("payload=" + url.QueryEscape(string(js))), now: time.Now(), sign: sign}
	for i := 0; ; {
		j := bytes.Index(c.body[i:], []byte(placeholder))
		if j < 0 {
			break
		}
		c.offsets = append(c.offsets, i+j+len("apr-"))
		i += j + len(placeholder)
	}
	if len(c.offsets) != 3 {
		tb.Fatalf("template has %d IDs", len(c.offsets))
	}
	return c
}

// request returns the click on approval i; the body is a fresh copy.
func (c *benchClicks) request(i int) *http.Request {
	body := bytes.Clone(c.body)
	var digits [10]byte
	n := strconv.AppendInt(digits[:0], int64(i), 10)
	for _, off := range c.offsets {
		copy(body[off:off+10], "0000000000")
		copy(body[off+10-len(n):off+10], n)
	}
	r := httptest.NewRequest(http.MethodPost, approval.SlackInteractionsPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.sign {
		slackverify.Sign(r.Header, body, c.now, benchSecret)
	}
	return r
}

func benchID(i int) string {
	s := strconv.Itoa(i)
	return "apr-" + "0000000000"[len(s):] + s
}

// benchService returns a service over a testStore holding n pending
// approvals apr-0000000000 … of org "default", whose FollowUps go to a
// hook that only counts them, as a host's queue would take them.
func benchService(b *testing.B, n int) *approval.Service {
	b.Helper()
	st := newTestStore()
	var followUps atomic.Int64
	svc, err := approval.NewService(st, st, &approval.Options{
		FollowUp: func(context.Context, approval.FollowUp) { followUps.Add(1) },
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for i := range n {
		_, err := st.CreateApproval(ctx, approval.Request{
			ID: benchID(i), OrgID: "default", Title: "bench approval " + strconv.Itoa(i),
			Agent: "deploy-bot", Action: "delete bucket logs-archive", RiskScore: 82, ExpiresAt: exp,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return svc
}

func benchOrgID(context.Context, string, string) (string, error) { return "default", nil }

func BenchmarkSlackClick(b *testing.B) {
	run := func(b *testing.B, verify bool) {
		svc := benchService(b, b.N)
		opts := &approval.SlackOptions{OrgID: benchOrgID, AllowUnsigned: !verify}
		if verify {
			v, err := slackverify.New(benchSecret, nil)
			if err != nil {
				b.Fatal(err)
			}
			opts.Verifier = v
		}
		h, err := approval.NewSlackHandler(svc, opts)
		if err != nil {
			b.Fatal(err)
		}
		clicks := newBenchClicks(b, "https://hooks.slack.com/actions/T1/1/x", verify)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, clicks.request(i))
			if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte("APPROVED")) {
				b.Fatalf("click %d: %d %s", i, w.Code, w.Body)
			}
		}
	}
	b.Run("verified", func(b *testing.B) { run(b, true) })
	b.Run("unverified", func(b *testing.B) { run(b, false) })
	b.Run("harness", func(b *testing.B) {
		clicks := newBenchClicks(b, "https://hooks.slack.com/actions/T1/1/x", true)
		noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w := httptest.NewRecorder()
			noop.ServeHTTP(w, clicks.request(i))
		}
	})
}
