package approval_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/slackverify"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// The benchmarks below measure one Slack click end to end, as the
// comparison in ../shared/bench does over HTTP: verify the signature,
// parse the form and payload, decide a fresh pending approval (memstore,
// audit entry included), answer. Each iteration clicks its own approval.
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

// benchService returns a service over a memstore holding n pending
// approvals apr-0000000000 … .
func benchService(b *testing.B, n int) *approval.Service {
	b.Helper()
	st := memstore.New()
	svc, err := approval.NewService(st, st, nil)
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

// okServer stands in for Slack's response_url endpoint.
func okServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}))
	b.Cleanup(srv.Close)
	return srv
}

func BenchmarkSlackClick(b *testing.B) {
	run := func(b *testing.B, verify bool, deferral time.Duration) {
		srv := okServer(b)
		svc := benchService(b, b.N)
		h, err := approval.NewSlackHandler(svc, &approval.SlackOptions{
			AllowLoopbackResponseURLs: true, MaxDeferral: deferral,
		})
		if err != nil {
			b.Fatal(err)
		}
		var handler http.Handler = h
		if verify {
			v, err := slackverify.New(benchSecret, nil)
			if err != nil {
				b.Fatal(err)
			}
			handler = v.Middleware(h)
		}
		clicks := newBenchClicks(b, srv.URL+"/actions/T1/1/x", verify)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, clicks.request(i))
			if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte("APPROVED")) {
				b.Fatalf("click %d: %d %s", i, w.Code, w.Body)
			}
		}
		if deferral < 0 {
			// Sending at once is part of what is measured.
			if err := h.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := h.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("verified", func(b *testing.B) { run(b, true, 0) })
	b.Run("unverified", func(b *testing.B) { run(b, false, 0) })
	b.Run("verified-send-at-once", func(b *testing.B) { run(b, true, -1) })
	b.Run("slack-go", func(b *testing.B) {
		svc := benchService(b, b.N)
		v, err := slackverify.New(benchSecret, nil)
		if err != nil {
			b.Fatal(err)
		}
		handler := v.Middleware(slackGoHandler(svc))
		clicks := newBenchClicks(b, "https://hooks.slack.com/actions/T1/1/x", true)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, clicks.request(i))
			if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte("APPROVED")) {
				b.Fatalf("click %d: %d %s", i, w.Code, w.Body)
			}
		}
	})
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

// slackGoHandler is the same click handled the usual slack-go way, as in
// ../shared/bench/baseline: url.ParseQuery, slack.InteractionCallback,
// and a map encoded with encoding/json, deciding through the same Service.
func slackGoHandler(svc *approval.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		var cb slack.InteractionCallback
		if err := json.Unmarshal([]byte(r.PostForm.Get("payload")), &cb); err != nil || len(cb.ActionCallback.BlockActions) == 0 {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		act := cb.ActionCallback.BlockActions[0]
		d := approval.Approve
		if act.ActionID == "deny_action" {
			d = approval.Deny
		}
		name := cb.User.Name
		if name == "" {
			name = cb.User.Username
		}
		req, err := svc.Review(r.Context(), act.Value, d, approval.Reviewer{ID: cb.User.ID, Name: name, Verified: true}, approval.SourceSlack)
		text := ":white_check_mark: *APPROVED* by " + req.ReviewedBy
		if err != nil {
			text = ":warning: " + approval.Message(err)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"replace_original": true, "text": text})
	})
}
