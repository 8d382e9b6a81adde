package notify

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/teams"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// t0 is 1700000000 in Unix time: 2023-11-14 22:13:20 UTC.
var t0 = time.Unix(1700000000, 0).UTC()

func fixtureRequest() approval.Request {
	return approval.Request{
		ID:          "apr_0123456789",
		OrgID:       "org-1",
		Title:       "Delete production database backups",
		Description: "The cleanup agent wants to delete 42 backups older than 90 days\nfrom s3://prod-backups.",
		Agent:       "cleanup-bot",
		Action:      "s3:DeleteObject",
		RiskScore:   82,
		RequestedBy: "alice@example.com",
		ConsoleURL:  "https://console.example.com/approvals/apr_0123456789",
		Status:      approval.StatusPending,
		CreatedAt:   t0,
		ExpiresAt:   t0.Add(time.Hour),
	}
}

func fixtureDrift() DriftAlert {
	return DriftAlert{
		ID:         "drift-7",
		Resource:   "aws_security_group.web",
		Summary:    "Ingress rule opened to the internet outside Terraform.",
		Expected:   "ingress 443 from 10.0.0.0/8",
		Actual:     "ingress 0-65535 from 0.0.0.0/0",
		Severity:   SeverityCritical,
		DetectedAt: t0,
		ConsoleURL: "https://console.example.com/drift/drift-7",
	}
}

func fixtureAgent() AgentStatusChanged {
	return AgentStatusChanged{
		Agent:          "billing-agent",
		Status:         AgentErrored,
		PreviousStatus: AgentDeployed,
		Reason:         "OOMKilled after 3 restarts",
		ChangedAt:      t0,
		ConsoleURL:     "https://console.example.com/agents/billing-agent",
	}
}

func decided(st approval.Status, by string, src approval.Source) approval.Request {
	r := fixtureRequest()
	at := t0.Add(10 * time.Minute)
	r.Status, r.ReviewedAt, r.ReviewedBy, r.ReviewSource = st, &at, by, src
	if st != approval.StatusExpired {
		r.ReviewNotes = approval.ReviewNotes(st, by, src)
	} else {
		r.ReviewNotes = "Expired before review"
	}
	return r
}

// golden compares got with testdata/name.golden, rewriting it under
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), string(got), "golden file %s differs; run with -update after checking the change", path)
}

func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, b, "", "  "))
	out.WriteByte('\n')
	return out.Bytes()
}

func testSigner(t *testing.T) *teams.Signer {
	t.Helper()
	s, err := teams.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	return s
}

// goldenSender is a PlatformSender with fixed time, public URL and signer,
// used to render Teams cards as they are sent.
func goldenSender(t *testing.T, public bool) *PlatformSender {
	t.Helper()
	o := &SenderOptions{Now: func() time.Time { return t0 }}
	if public {
		o.PublicURL = "https://arx.example.com"
		o.Signer = testSigner(t)
	}
	s, err := NewSender(o)
	require.NoError(t, err)
	return s
}

func TestSlackGolden(t *testing.T) {
	events := map[string]Event{
		"approval": ApprovalRequested{Request: fixtureRequest()},
		"drift":    fixtureDrift(),
		"agent":    fixtureAgent(),
	}
	for name, ev := range events {
		for _, via := range []string{"bot", "webhook"} {
			t.Run(name+"_"+via, func(t *testing.T) {
				m := renderSlack(ev, slackRender{interactive: via == "bot", console: safeLink(eventConsoleURL(ev))})
				golden(t, "slack_"+via+"_"+name, indentJSON(t, m))
				checkBlockKitLimits(t, m)
			})
		}
	}
	t.Run("test_message", func(t *testing.T) {
		m := renderSlack(TestMessage{Text: "This is a test notification from ARXsec."}, slackRender{interactive: true})
		golden(t, "slack_test_message", indentJSON(t, m))
		assert.Empty(t, m.Blocks, "a test message is plain text")
	})
	for _, st := range []approval.Status{approval.StatusApproved, approval.StatusDenied, approval.StatusExpired} {
		t.Run("decided_"+string(st), func(t *testing.T) {
			r := decided(st, "Amy <@U1>", approval.SourceTeams)
			m := renderSlack(ApprovalDecided{Request: r}, slackRender{interactive: true})
			golden(t, "slack_decided_"+string(st), indentJSON(t, m))
			// The same message as approval's own renderer, so every path
			// shows the result the same way.
			text, blocks := approval.SlackResultMessage(r)
			assert.Equal(t, text, m.Text)
			assert.JSONEq(t, string(mustJSON(t, blocks)), string(mustJSON(t, m.Blocks)))
			assert.Empty(t, buttonsOf(m), "a decided request has no buttons")
		})
	}
}

func TestTeamsGolden(t *testing.T) {
	cases := []struct {
		name   string
		ev     Event
		public bool
	}{
		{"approval_links", ApprovalRequested{Request: fixtureRequest()}, true},
		{"approval_no_public_url", ApprovalRequested{Request: fixtureRequest()}, false},
		{"drift", fixtureDrift(), true},
		{"agent", fixtureAgent(), true},
		{"test_message", TestMessage{Text: "This is a test notification from ARXsec."}, true},
		{"decided_approved", ApprovalDecided{Request: decided(approval.StatusApproved, "Amy", approval.SourceSlack)}, true},
		{"decided_denied", ApprovalDecided{Request: decided(approval.StatusDenied, "Bob", approval.SourceAPI)}, true},
		{"decided_expired", ApprovalDecided{Request: decided(approval.StatusExpired, "", "")}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := goldenSender(t, c.public)
			b, err := renderTeams(c.ev, s.teamsOptions(c.ev))
			require.NoError(t, err)
			var out bytes.Buffer
			require.NoError(t, json.Indent(&out, b, "", "  "))
			out.WriteByte('\n')
			golden(t, "teams_"+c.name, out.Bytes())
			checkTeamsCard(t, b)
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// generic decodes v's JSON as generic values.
func generic(t *testing.T, v any) any {
	t.Helper()
	var g any
	require.NoError(t, json.Unmarshal(mustJSON(t, v), &g))
	return g
}

type button struct{ actionID, value, url, style, text string }

func buttonsOf(m slackMessage) []button {
	var out []button
	raw, _ := json.Marshal(m.Blocks)
	var blocks []map[string]any
	_ = json.Unmarshal(raw, &blocks)
	for _, b := range blocks {
		if b["type"] != "actions" {
			continue
		}
		for _, e := range b["elements"].([]any) {
			el := e.(map[string]any)
			bt := button{}
			bt.actionID, _ = el["action_id"].(string)
			bt.value, _ = el["value"].(string)
			bt.url, _ = el["url"].(string)
			bt.style, _ = el["style"].(string)
			if tx, ok := el["text"].(map[string]any); ok {
				bt.text, _ = tx["text"].(string)
			}
			out = append(out, bt)
		}
	}
	return out
}

// checkBlockKitLimits walks a rendered message and checks Block Kit's
// limits.
func checkBlockKitLimits(t *testing.T, m slackMessage) {
	t.Helper()
	assert.LessOrEqual(t, len(m.Blocks), slackMaxBlocks)
	assert.LessOrEqual(t, utf8.RuneCountInString(m.Text), slackMaxFallback)
	raw := mustJSON(t, m.Blocks)
	var blocks []map[string]any
	require.NoError(t, json.Unmarshal(raw, &blocks))
	textOf := func(v any) string {
		o, _ := v.(map[string]any)
		s, _ := o["text"].(string)
		return s
	}
	for _, b := range blocks {
		switch b["type"] {
		case "header":
			assert.LessOrEqual(t, utf8.RuneCountInString(textOf(b["text"])), slackMaxHeader, "header")
		case "section":
			assert.LessOrEqual(t, utf8.RuneCountInString(textOf(b["text"])), slackMaxText, "section text")
			fields, _ := b["fields"].([]any)
			assert.LessOrEqual(t, len(fields), slackMaxFields, "fields")
			for _, f := range fields {
				assert.LessOrEqual(t, utf8.RuneCountInString(textOf(f)), slackMaxFieldText, "field")
			}
			assert.True(t, b["text"] != nil || len(fields) > 0, "a section needs text or fields")
		case "context":
			for _, e := range b["elements"].([]any) {
				assert.LessOrEqual(t, utf8.RuneCountInString(textOf(e)), slackMaxText, "context")
			}
		case "actions":
			els := b["elements"].([]any)
			assert.LessOrEqual(t, len(els), 25)
			for _, e := range els {
				el := e.(map[string]any)
				assert.LessOrEqual(t, utf8.RuneCountInString(textOf(el["text"])), slackMaxButtonText, "button text")
				v, _ := el["value"].(string)
				assert.LessOrEqual(t, len(v), slackMaxButtonValue, "button value")
				id, _ := el["action_id"].(string)
				assert.LessOrEqual(t, len(id), 255, "action_id")
				u, _ := el["url"].(string)
				assert.LessOrEqual(t, len(u), 3000, "button url")
			}
		}
	}
}

// checkTeamsCard checks the rules every Teams message must follow.
func checkTeamsCard(t *testing.T, b []byte) {
	t.Helper()
	assert.LessOrEqual(t, len(b), 28*1000, "Teams messages must stay under 28 KB")
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string         `json:"contentType"`
			Content     map[string]any `json:"content"`
		} `json:"attachments"`
	}
	require.NoError(t, json.Unmarshal(b, &msg))
	assert.Equal(t, "message", msg.Type)
	require.Len(t, msg.Attachments, 1)
	c := msg.Attachments[0].Content
	assert.Equal(t, teams.ContentTypeAdaptiveCard, msg.Attachments[0].ContentType)
	assert.Equal(t, "1.4", c["version"])
	assert.Equal(t, "AdaptiveCard", c["type"])
	assert.Equal(t, map[string]any{"width": "Full"}, c["msteams"])
	assert.NotContains(t, string(b), "Action.Submit", "webhook cards cannot carry Action.Submit")
}

func TestSlackButtons(t *testing.T) {
	req := fixtureRequest()
	cases := []struct {
		name        string
		interactive bool
		console     string
		id          string
		want        []button
		wantText    string
	}{
		{
			name: "bot with console", interactive: true, console: req.ConsoleURL,
			want: []button{
				{actionID: "approve_action", value: req.ID, style: "primary", text: "Approve"},
				{actionID: "deny_action", value: req.ID, style: "danger", text: "Deny"},
				{actionID: "view_console", url: req.ConsoleURL, text: "View in console"},
			},
		},
		{
			name: "bot without console", interactive: true,
			want: []button{
				{actionID: "approve_action", value: req.ID, style: "primary", text: "Approve"},
				{actionID: "deny_action", value: req.ID, style: "danger", text: "Deny"},
			},
		},
		{name: "webhook with console", console: req.ConsoleURL, wantText: "<" + req.ConsoleURL + "|View in console> to approve or deny this request."},
		{name: "webhook without console", wantText: "Approve or deny this request in the console."},
		{
			name: "bot with an ID too long for a button value", interactive: true, id: strings.Repeat("x", slackMaxButtonValue+1),
			wantText: "Approve or deny this request in the console.",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := req
			if c.id != "" {
				r.ID = c.id
			}
			m := renderSlack(ApprovalRequested{Request: r}, slackRender{interactive: c.interactive, console: c.console})
			assert.Equal(t, c.want, buttonsOf(m))
			if c.wantText != "" {
				assert.Contains(t, string(mustJSON(t, m.Blocks)), mustJSONString(t, c.wantText))
			}
			checkBlockKitLimits(t, m)
		})
	}
	t.Run("drift and agent: console button for bots, link for webhooks", func(t *testing.T) {
		for _, ev := range []Event{fixtureDrift(), fixtureAgent()} {
			bot := renderSlack(ev, slackRender{interactive: true, console: eventConsoleURL(ev)})
			assert.Equal(t, []button{{actionID: "view_console", url: eventConsoleURL(ev), text: "View in console"}}, buttonsOf(bot))
			hook := renderSlack(ev, slackRender{console: eventConsoleURL(ev)})
			assert.Empty(t, buttonsOf(hook))
			assert.Contains(t, string(mustJSON(t, hook.Blocks)), mustJSONString(t, "<"+eventConsoleURL(ev)+"|View in console>"))
		}
	})
}

// mustJSONString is s encoded as inside a JSON string (no quotes).
func mustJSONString(t *testing.T, s string) string {
	b := mustJSON(t, s)
	return string(b[1 : len(b)-1])
}

func TestTeamsLinks(t *testing.T) {
	signer := testSigner(t)
	t.Run("with public URL and signer: signed Approve and Deny links", func(t *testing.T) {
		s := goldenSender(t, true)
		for _, tc := range []struct {
			name    string
			expires time.Time
			wantExp time.Time
		}{
			{"request deadline", t0.Add(time.Hour), t0.Add(time.Hour)},
			{"no deadline: bounded default", time.Time{}, t0.Add(7 * 24 * time.Hour)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := fixtureRequest()
				r.ExpiresAt = tc.expires
				o := s.teamsOptions(ApprovalRequested{Request: r})
				for action, link := range map[string]string{"approve": o.approveURL, "deny": o.denyURL} {
					require.True(t, strings.HasPrefix(link, "https://arx.example.com/v1/webhooks/teams/interactions?token="), link)
					tok := strings.TrimPrefix(link, "https://arx.example.com/v1/webhooks/teams/interactions?token=")
					claims, err := signer.Verify(unescape(t, tok), t0)
					require.NoError(t, err)
					assert.Equal(t, r.ID, claims.ApprovalID)
					assert.Equal(t, action, claims.Action)
					assert.True(t, tc.wantExp.Equal(claims.ExpiresAt), "expiry %v, want %v", claims.ExpiresAt, tc.wantExp)
				}
				card := s.cardJSON(t, ApprovalRequested{Request: r})
				assert.Contains(t, card, `"title":"Approve"`)
				assert.Contains(t, card, `"title":"Deny"`)
				assert.Contains(t, card, `"title":"View in console"`)
				assert.NotContains(t, card, "Approve or deny this request in the console.")
			})
		}
	})
	for _, tc := range []struct {
		name string
		opts SenderOptions
	}{
		{"no public URL", SenderOptions{Signer: signer}},
		{"no signer", SenderOptions{PublicURL: "https://arx.example.com"}},
	} {
		t.Run(tc.name+": console link only, and says so", func(t *testing.T) {
			s, err := NewSender(&tc.opts)
			require.NoError(t, err)
			card := s.cardJSON(t, ApprovalRequested{Request: fixtureRequest()})
			assert.NotContains(t, card, `"title":"Approve"`)
			assert.NotContains(t, card, `"title":"Deny"`)
			assert.Contains(t, card, `"title":"View in console"`)
			assert.Contains(t, card, "Approve or deny this request in the console.")
		})
	}
}

func (s *PlatformSender) cardJSON(t *testing.T, ev Event) string {
	t.Helper()
	b, err := renderTeams(ev, s.teamsOptions(ev))
	require.NoError(t, err)
	checkTeamsCard(t, b)
	return string(b)
}

func unescape(t *testing.T, s string) string {
	t.Helper()
	u, err := url.QueryUnescape(s)
	require.NoError(t, err)
	return u
}

func TestEscaping(t *testing.T) {
	evil := fixtureRequest()
	evil.Title = "<!channel> *urgent* <https://evil.example|click> & more"
	evil.Description = "<@U123> please <!here>"
	evil.Agent = "<!everyone>"
	evil.RequestedBy = "[bob](https://evil.example)"
	drift := fixtureDrift()
	drift.Resource = "<!channel>"
	drift.Actual = "<https://evil.example|x>"
	drift.Severity = "[bob](https://evil.example) <!here>" // an unknown severity keeps its word
	agent := fixtureAgent()
	agent.Agent = "<!here>"
	agent.Status, agent.PreviousStatus = "[bob](https://evil.example) <!channel>", "<!everyone>"
	agent.Reason = "see <https://evil.example|logs>"

	for _, ev := range []Event{ApprovalRequested{Request: evil}, drift, agent, TestMessage{Text: "<!channel> hi"}} {
		t.Run(string(ev.EventType())+"/slack", func(t *testing.T) {
			for _, interactive := range []bool{true, false} {
				m := renderSlack(ev, slackRender{interactive: interactive})
				all := m.Text + string(mustJSON(t, m.Blocks))
				for _, bad := range []string{"<!channel>", "<!here>", "<!everyone>", "<@U123>", "<https://evil.example"} {
					assert.NotContains(t, all, mustJSONString(t, bad), "user text must be escaped")
					assert.NotContains(t, m.Text, bad)
				}
			}
		})
		t.Run(string(ev.EventType())+"/teams", func(t *testing.T) {
			b, err := renderTeams(ev, teamsRender{})
			require.NoError(t, err)
			assert.NotContains(t, string(b), "[bob](https://evil.example)", "markdown links in user text must be escaped")
			if ar, ok := ev.(ApprovalRequested); ok && ar.Request.RequestedBy != "" {
				assert.Contains(t, string(b), `\\[bob\\](https://evil.example)`, "brackets are backslash-escaped")
			}
		})
	}
	t.Run("slack escapes exactly &, < and >", func(t *testing.T) {
		assert.Equal(t, "a &amp; b &lt;c&gt; *d* _e_", slackEscape("a & b <c> *d* _e_", 100))
	})
}

func TestTruncation(t *testing.T) {
	long := strings.Repeat("<&>ab", 5000) // escapes grow the text
	r := fixtureRequest()
	r.Title, r.Description, r.Agent, r.Action, r.RequestedBy, r.ID = long, long, long, long, long, strings.Repeat("i", 300)
	d := fixtureDrift()
	d.Resource, d.Summary, d.Expected, d.Actual, d.ID = long, long, long, long, long
	a := fixtureAgent()
	a.Agent, a.Reason, a.Status, a.PreviousStatus = long, long, AgentState(long), AgentState(long)
	events := []Event{ApprovalRequested{Request: r}, d, a, TestMessage{Text: long}, ApprovalDecided{Request: decidedLong(long)}}
	for _, ev := range events {
		t.Run(string(ev.EventType()), func(t *testing.T) {
			for _, interactive := range []bool{true, false} {
				m := renderSlack(ev, slackRender{interactive: interactive, console: "https://console.example.com/x"})
				checkBlockKitLimits(t, m)
				assert.True(t, strings.Contains(m.Text, "…") || ev.EventType() == EventApprovalDecided, "a cut is marked")
				assert.True(t, utf8.ValidString(string(mustJSON(t, m))))
				assert.NotRegexp(t, `&(a|am|l|g)?…`, m.Text, "an escape is never split")
			}
			s := goldenSender(t, true)
			b, err := renderTeams(ev, s.teamsOptions(ev))
			require.NoError(t, err)
			checkTeamsCard(t, b)
		})
	}
	t.Run("huge description still fits Teams' 28 KB", func(t *testing.T) {
		r := fixtureRequest()
		r.Description = strings.Repeat("💥", 10000)
		r.Title = strings.Repeat("€", 5000)
		b, err := renderTeams(ApprovalRequested{Request: r}, teamsRender{approveURL: "https://a.example/x", denyURL: "https://a.example/y"})
		require.NoError(t, err)
		checkTeamsCard(t, b)
		assert.Contains(t, string(b), `"title":"Approve"`, "the buttons survive shortening")
	})
	t.Run("cut and slackEscape", func(t *testing.T) {
		assert.Equal(t, "abc", cut("abc", 3))
		assert.Equal(t, "ab…", cut("abcd", 3))
		assert.Equal(t, "", cut("abcd", 0))
		assert.Equal(t, "é…", cut("éèê", 2))
		assert.Equal(t, "&lt;&gt;", slackEscape("<>", 8))
		assert.Equal(t, "&lt;…", slackEscape("<><>", 7), "never splits &gt;")
		assert.Equal(t, "…", slackEscape("<<<", 3))
		assert.LessOrEqual(t, utf8.RuneCountInString(slackEscape(long, 3000)), 3000)
	})
}

func decidedLong(long string) approval.Request {
	r := decided(approval.StatusApproved, long, approval.SourceSlack)
	r.Title, r.Agent, r.Action = long, long, long
	return r
}

func TestSafeLink(t *testing.T) {
	for raw, want := range map[string]string{
		"https://console.example.com/a?b=c&d=e":            "https://console.example.com/a?b=c&d=e",
		"http://localhost:8080/x":                          "http://localhost:8080/x",
		"javascript:alert(1)":                              "",
		"https://exa mple.com/":                            "",
		"https://example.com/<x>":                          "",
		"https://example.com/|x":                           "",
		"/relative":                                        "",
		"https://user:pw@example.com/":                     "",
		"https://example.com/" + strings.Repeat("a", 3000): "",
	} {
		assert.Equal(t, want, safeLink(raw), raw)
	}
	t.Run("a bad console link is dropped, not sent", func(t *testing.T) {
		r := fixtureRequest()
		r.ConsoleURL = "javascript:alert(1)"
		s := goldenSender(t, false)
		assert.Equal(t, "", s.consoleLink(ApprovalRequested{Request: r}))
	})
	t.Run("ConsoleURL option fills in for events without a link", func(t *testing.T) {
		s, err := NewSender(&SenderOptions{ConsoleURL: func(ev Event) string { return "https://console.example.com/" + string(ev.EventType()) }})
		require.NoError(t, err)
		a := fixtureAgent()
		a.ConsoleURL = ""
		assert.Equal(t, "https://console.example.com/agent_status", s.consoleLink(a))
		assert.Equal(t, fixtureDrift().ConsoleURL, s.consoleLink(fixtureDrift()), "the event's own link wins")
	})
}

func TestTones(t *testing.T) {
	for score, want := range map[int]string{0: "Low", 39: "Low", 40: "Medium", 69: "Medium", 70: "High", 82: "High", 89: "High", 90: "Critical", 100: "Critical"} {
		assert.Equal(t, want, riskTone(approval.Request{RiskScore: score}).word, "score %d", score)
	}
	m := renderSlack(ApprovalRequested{Request: fixtureRequest()}, slackRender{})
	assert.Contains(t, string(mustJSON(t, m.Blocks)), ":red_circle: High risk (82)", "risk visible at a glance")
	assert.Equal(t, "Weird", severityTone("weird").word, "unknown severities keep their word")
	assert.Equal(t, "Paused", agentTone("paused").word)
	assert.Equal(t, "<!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC>", slackDate(t0))
}
