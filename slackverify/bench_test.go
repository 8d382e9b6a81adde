package slackverify_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/chatnotify/chatnotify/slackverify"
)

// blockActionsJSON is a realistic block_actions payload for a click on an
// approval message's Approve button.
const blockActionsJSON = `{"type":"block_actions","user":{"id":"U0CA5RKL3","username":"amy.reviewer","name":"amy.reviewer","team_id":"T9TK3CUKW"},"api_app_id":"A0CA5RKL3","token":"Shh_its_a_seekrit","container":{"type":"message","message_ts":"1548261231.000200","channel_id":"C0CA5RKL3","is_ephemeral":false},"trigger_id":"12466734323.1395872398.3b6c4cd4f2ad0ea1b0c0b0d2b1a6b53d","team":{"id":"T9TK3CUKW","domain":"example-security"},"enterprise":null,"is_enterprise_install":false,"channel":{"id":"C0CA5RKL3","name":"security-approvals"},"message":{"bot_id":"B0CA5RKL3","type":"message","text":"Approval required: deploy agent to production","user":"U0CA5RKL4","ts":"1548261231.000200","team":"T9TK3CUKW","blocks":[{"type":"header","block_id":"hdr","text":{"type":"plain_text","text":"Approval required","emoji":true}},{"type":"section","block_id":"desc","text":{"type":"mrkdwn","text":"*Deploy agent to production*\nAgent: billing-agent  Risk score: 72","verbatim":false}},{"type":"actions","block_id":"approval_req-42","elements":[{"type":"button","action_id":"approve_action","text":{"type":"plain_text","text":"Approve","emoji":true},"style":"primary","value":"req-42"},{"type":"button","action_id":"deny_action","text":{"type":"plain_text","text":"Deny","emoji":true},"style":"danger","value":"req-42"}]}]},"state":{"values":{}},"response_url":"https://hooks.slack.com/actions/T9TK3CUKW/123456789012/abcdefghijklmnopqrstuvwx","actions":[{"action_id":"approve_action","block_id":"approval_req-42","text":{"type":"plain_text","text":"Approve","emoji":true},"value":"req-42","style":"primary","type":"button","action_ts":"1548426417.840180"}]}`

const benchSecret = "8f742231b10e8888abcd99yyyzzz85a5"

func benchRequest(b *testing.B) (http.Header, []byte) {
	b.Helper()
	body := []byte("payload=" + url.QueryEscape(blockActionsJSON))
	if len(body) < 1800 || len(body) > 2600 {
		b.Fatalf("benchmark body is %d bytes, want about 2 KB", len(body))
	}
	h := http.Header{}
	slackverify.Sign(h, body, time.Now(), benchSecret)
	return h, body
}

// BenchmarkVerify compares verifying one ~2 KB interactivity body:
// ours (a Verifier built once, as a server uses it), ours_func (the
// one-off function) and slack-go's SecretsVerifier. All use the real clock.
func BenchmarkVerify(b *testing.B) {
	h, body := benchRequest(b)
	b.Logf("body: %d bytes", len(body))

	b.Run("ours", func(b *testing.B) {
		v, err := slackverify.New(benchSecret, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		defer reportThreadCPU(b)()
		for b.Loop() {
			if err := v.Verify(h, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ours_func", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		defer reportThreadCPU(b)()
		for b.Loop() {
			if err := slackverify.Verify(h, body, time.Now(), benchSecret); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("slackgo", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		defer reportThreadCPU(b)()
		for b.Loop() {
			sv, err := slack.NewSecretsVerifier(h, benchSecret)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := sv.Write(body); err != nil {
				b.Fatal(err)
			}
			if err := sv.Ensure(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMiddleware measures the whole middleware on the same body:
// read, verify, mark the context, restore the body, call a next handler
// that checks Verified.
func BenchmarkMiddleware(b *testing.B) {
	h, body := benchRequest(b)
	v, err := slackverify.New(benchSecret, nil)
	if err != nil {
		b.Fatal(err)
	}
	mw := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slackverify.Verified(r.Context()) {
			b.Fatal("not verified")
		}
	}))
	r := httptest.NewRequest(http.MethodPost, "/slack/interactions", nil)
	r.Header = h
	bodyStr := string(body)
	rd := strings.NewReader(bodyStr)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	defer reportThreadCPU(b)()
	for b.Loop() {
		rd.Reset(bodyStr)
		r.Body = readCloser{rd}
		r.ContentLength = int64(len(body))
		mw.ServeHTTP(w, r)
	}
	if w.Code != http.StatusOK {
		b.Fatalf("status %d", w.Code)
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// reportThreadCPU pins the benchmark to its OS thread and returns a
// function that reports the thread's CPU time per iteration as cpu-ns/op:
// on a shared machine that figure is far steadier than ns/op, which also
// counts the time spent waiting for a core. (Background GC work runs on
// other threads and is not counted, which favours the allocating side.)
func reportThreadCPU(b *testing.B) func() {
	runtime.LockOSThread()
	start, ok := threadCPU()
	return func() {
		defer runtime.UnlockOSThread()
		end, ok2 := threadCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
