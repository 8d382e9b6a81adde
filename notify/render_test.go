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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/slackmsg"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// t0 is 1700000000 in Unix time: 2023-11-14 22:13:20 UTC.
var t0 = time.Unix(1700000000, 0).UTC()

// testPublicURL is the host's public base URL in Teams links.
const testPublicURL = "https://host.example.com"

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

// testMessageText is a test message as a host names its own product.
const testMessageText = "This is a test notification from Example Platform."

func decided(st approval.Status, by string, src approval.Source) approval.Request {
	r := fixtureRequest()
	at := t0.Add(10 * time.Minute)
	r.Status, r.ReviewedAt, r.ReviewedBy, r.ReviewSource = st, &at, by, src
	switch st {
	case approval.StatusApproved:
		r.ReviewNotes = "Approved by " + by + " via " + src.Title()
	case approval.StatusDenied:
		r.ReviewNotes = "Denied by " + by + " via " + src.Title()
	default:
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

func testSigner(t testing.TB) *approval.Signer {
	t.Helper()
	s, err := approval.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	return s
}

// testLink is a Teams link as the sender builds it (teams.go): the public
// URL, the interactions path and a token naming r's organisation and ID
// and d, expiring with r.
func testLink(t testing.TB, r approval.Request, d approval.Decision) string {
	tok := testSigner(t).Sign(approval.ActionClaims{OrgID: r.OrgID, ApprovalID: r.ID, Decision: d, ExpiresAt: r.ExpiresAt})
	return testPublicURL + approval.TeamsInteractionsPath + "?token=" + url.QueryEscape(tok)
}

// teamsOpts returns the Teams rendering options of ev as a sender with a
// public URL and a signer builds them: the event's console link and, for
// an approval request, Approve and Deny links whose tokens expire with
// the request.
func teamsOpts(t testing.TB, ev Event, links bool) teamsRender {
	o := teamsRender{console: safeLink(eventConsoleURL(ev))}
	if ar, ok := deref(ev).(ApprovalRequested); ok && links {
		o.approveURL, o.denyURL = testLink(t, ar.Request, approval.Approve), testLink(t, ar.Request, approval.Deny)
	}
	return o
}

func TestSlackGolden(t *testing.T) {
	noConsole := fixtureRequest()
	noConsole.ConsoleURL = ""
	events := map[string]Event{
		"approval":            ApprovalRequested{Request: fixtureRequest()},
		"approval_no_console": ApprovalRequested{Request: noConsole},
		"drift":               fixtureDrift(),
		"agent":               fixtureAgent(),
	}
	for name, ev := range events {
		for _, via := range []string{"bot", "webhook"} {
			t.Run(name+"_"+via, func(t *testing.T) {
				m := renderSlack(ev, slackRender{interactive: via == "bot", console: safeLink(eventConsoleURL(ev))})
				golden(t, "slack_"+via+"_"+name, indentJSON(t, m))
				checkSlack(t, m)
			})
		}
	}
	t.Run("test_message", func(t *testing.T) {
		m := renderSlack(TestMessage{Text: testMessageText}, slackRender{interactive: true})
		golden(t, "slack_test_message", indentJSON(t, m))
		assert.Empty(t, m.Blocks, "a test message is plain text")
		assert.Equal(t, testMessageText, m.Text)
	})
	for _, st := range []approval.Status{approval.StatusApproved, approval.StatusDenied, approval.StatusExpired} {
		t.Run("decided_"+string(st), func(t *testing.T) {
			r := decided(st, "Amy <@U1>", approval.SourceTeams)
			m := slackDecided(r)
			golden(t, "slack_decided_"+string(st), indentJSON(t, m))
			checkSlack(t, m)
			assert.Equal(t, slackmsg.ResultLine(string(r.Status), r.ReviewedBy), m.Text,
				"the text is the result line the interaction handler answers with")
			assert.Empty(t, buttonsOf(m), "a decided request has no buttons")
		})
	}
}

func TestTeamsGolden(t *testing.T) {
	noConsole := fixtureRequest()
	noConsole.ConsoleURL = ""
	cases := []struct {
		name  string
		ev    Event
		links bool
	}{
		{"approval_links", ApprovalRequested{Request: fixtureRequest()}, true},
		{"approval_no_public_url", ApprovalRequested{Request: fixtureRequest()}, false},
		{"approval_no_console", ApprovalRequested{Request: noConsole}, false},
		{"drift", fixtureDrift(), true},
		{"agent", fixtureAgent(), true},
		{"test_message", TestMessage{Text: testMessageText}, true},
		{"decided_approved", decidedEvent{decided(approval.StatusApproved, "Amy", approval.SourceSlack)}, true},
		{"decided_denied", decidedEvent{decided(approval.StatusDenied, "Bob", approval.SourceAPI)}, true},
		{"decided_expired", decidedEvent{decided(approval.StatusExpired, "", "")}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := teamsOf(c.ev, teamsOpts(t, c.ev, c.links))
			require.NoError(t, err)
			var out bytes.Buffer
			require.NoError(t, json.Indent(&out, b, "", "  "))
			out.WriteByte('\n')
			golden(t, "teams_"+c.name, out.Bytes())
			checkTeamsCard(t, b)
		})
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// mustJSONString is s encoded as inside a JSON string (no quotes).
func mustJSONString(t testing.TB, s string) string {
	b := mustJSON(t, s)
	return string(b[1 : len(b)-1])
}

// checkTeamsCard checks the rules every Teams message must follow.
func checkTeamsCard(t testing.TB, b []byte) {
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
	assert.Equal(t, "application/vnd.microsoft.card.adaptive", msg.Attachments[0].ContentType)
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
		wantText    string // in the blocks
		noText      string // nowhere in the message
	}{
		{
			name: "bot with console", interactive: true, console: req.ConsoleURL,
			want: []button{
				{blockID: "approval_actions", actionID: "approve_action", value: req.ID, style: "primary", text: "Approve"},
				{blockID: "approval_actions", actionID: "deny_action", value: req.ID, style: "danger", text: "Deny"},
				{blockID: "approval_actions", actionID: "view_console", url: req.ConsoleURL, text: "View in console"},
			},
			noText: "in the console",
		},
		{
			name: "bot without console", interactive: true,
			want: []button{
				{blockID: "approval_actions", actionID: "approve_action", value: req.ID, style: "primary", text: "Approve"},
				{blockID: "approval_actions", actionID: "deny_action", value: req.ID, style: "danger", text: "Deny"},
			},
			noText: "console",
		},
		{name: "webhook with console", console: req.ConsoleURL, wantText: "<" + req.ConsoleURL + "|View in console> to approve or deny this request."},
		// Defect 9: a webhook copy said "in the console" with no link.
		{name: "webhook without console", noText: "console"},
		{
			name: "bot with an ID too long for a button value and a console", interactive: true, console: req.ConsoleURL,
			id:       strings.Repeat("x", slackMaxButtonValue+1),
			want:     []button{{blockID: "approval_actions", actionID: "view_console", url: req.ConsoleURL, text: "View in console"}},
			wantText: "Approve or deny this request in the console.",
		},
		{
			name: "bot with an ID too long for a button value, no console", interactive: true,
			id: strings.Repeat("x", slackMaxButtonValue+1), noText: "console",
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
			all := m.Text + string(mustJSON(t, m.Blocks))
			if c.wantText != "" {
				assert.Contains(t, all, mustJSONString(t, c.wantText))
			}
			if c.noText != "" {
				assert.NotContains(t, all, c.noText)
			}
			checkSlack(t, m)
		})
	}
	t.Run("drift and agent: console button for bots, link for webhooks, nothing without", func(t *testing.T) {
		for _, ev := range []Event{fixtureDrift(), fixtureAgent()} {
			bot := renderSlack(ev, slackRender{interactive: true, console: eventConsoleURL(ev)})
			assert.Equal(t, []button{{blockID: "console", actionID: "view_console", url: eventConsoleURL(ev), text: "View in console"}}, buttonsOf(bot))
			hook := renderSlack(ev, slackRender{console: eventConsoleURL(ev)})
			assert.Empty(t, buttonsOf(hook))
			assert.Contains(t, string(mustJSON(t, hook.Blocks)), mustJSONString(t, "<"+eventConsoleURL(ev)+"|View in console>"))
			for _, interactive := range []bool{true, false} {
				none := renderSlack(ev, slackRender{interactive: interactive})
				assert.NotContains(t, string(mustJSON(t, none)), "console")
			}
		}
	})
}

// The card shows the links it is given; it sends readers to the console
// only when it links to it (defect 9).
func TestTeamsLinks(t *testing.T) {
	r := fixtureRequest()
	approve, deny := testLink(t, r, approval.Approve), testLink(t, r, approval.Deny)
	t.Run("Approve, Deny and console links", func(t *testing.T) {
		card := cardJSON(t, ApprovalRequested{Request: r}, teamsRender{console: r.ConsoleURL, approveURL: approve, denyURL: deny})
		assert.Contains(t, card, `{"type":"Action.OpenUrl","title":"Approve","url":`+string(mustJSON(t, approve))+`}`)
		assert.Contains(t, card, `{"type":"Action.OpenUrl","title":"Deny","url":`+string(mustJSON(t, deny))+`}`)
		assert.Contains(t, card, `{"type":"Action.OpenUrl","title":"View in console","url":`+string(mustJSON(t, r.ConsoleURL))+`}`)
		assert.NotContains(t, card, "in the console.")
	})
	t.Run("no links: console link only, and says so", func(t *testing.T) {
		card := cardJSON(t, ApprovalRequested{Request: r}, teamsRender{console: r.ConsoleURL})
		assert.NotContains(t, card, `"title":"Approve"`)
		assert.NotContains(t, card, `"title":"Deny"`)
		assert.Contains(t, card, `"title":"View in console"`)
		assert.Contains(t, card, "Approve or deny this request in the console.")
	})
	t.Run("no links and no console: no word of a console", func(t *testing.T) {
		card := cardJSON(t, ApprovalRequested{Request: r}, teamsRender{})
		assert.NotContains(t, card, "console")
	})
	for _, ev := range []Event{fixtureDrift(), fixtureAgent()} {
		card := cardJSON(t, ev, teamsRender{})
		assert.NotContains(t, card, "console", "%s without a console link", ev.eventType())
	}
}

func cardJSON(t *testing.T, ev Event, o teamsRender) string {
	t.Helper()
	b, err := teamsOf(ev, o)
	require.NoError(t, err)
	checkTeamsCard(t, b)
	return string(b)
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
	dec := decided(approval.StatusApproved, "<!channel>", "<!here>")
	dec.Title, dec.Agent = "<!everyone>", "<@U1>"

	for _, ev := range []Event{ApprovalRequested{Request: evil}, drift, agent, TestMessage{Text: "<!channel> hi"}, decidedEvent{dec}} {
		t.Run(string(ev.eventType())+"/slack", func(t *testing.T) {
			for _, interactive := range []bool{true, false} {
				m := slackOf(ev, slackRender{interactive: interactive})
				checkSlack(t, m)
				all := m.Text + string(mustJSON(t, m.Blocks))
				for _, bad := range []string{"<!channel>", "<!here>", "<!everyone>", "<@U123>", "<@U1>", "<https://evil.example"} {
					assert.NotContains(t, all, mustJSONString(t, bad), "user text must be escaped")
					assert.NotContains(t, m.Text, bad)
				}
			}
		})
		t.Run(string(ev.eventType())+"/teams", func(t *testing.T) {
			b, err := teamsOf(ev, teamsRender{})
			require.NoError(t, err)
			assert.NotContains(t, string(b), "[bob](https://evil.example)", "markdown links in user text must be escaped")
			if ar, ok := ev.(ApprovalRequested); ok && ar.Request.RequestedBy != "" {
				assert.Contains(t, string(b), `\\[bob\\](https://evil.example)`, "brackets are backslash-escaped")
			}
		})
	}
}

// Defect 9: the risk read "High risk (82)", "82 (high)" and "high (82)"
// in three places. It is "82 (high)" everywhere now.
func TestRiskOneForm(t *testing.T) {
	r := fixtureRequest()
	assert.Equal(t, "82 (high)", riskText(r))
	for _, interactive := range []bool{true, false} {
		m := renderSlack(ApprovalRequested{Request: r}, slackRender{interactive: interactive, console: r.ConsoleURL})
		assert.Contains(t, string(mustJSON(t, m.Blocks)), mustJSONString(t, "*Risk*\n:red_circle: 82 (high)"), "tone emoji, then the one form")
		assert.Equal(t, "Approval requested: Delete production database backups, risk 82 (high)", m.Text)
	}
	d := slackDecided(decided(approval.StatusApproved, "amy", approval.SourceSlack))
	assert.Contains(t, string(mustJSON(t, d.Blocks)), mustJSONString(t, "*Risk*\n:red_circle: 82 (high)"))

	card := cardJSON(t, ApprovalRequested{Request: r}, teamsRender{})
	assert.Contains(t, card, `{"title":"Risk","value":"82 (high)"}`)
	assert.Contains(t, card, "Risk 82 (high)**")
	dc := cardJSON(t, decidedEvent{decided(approval.StatusDenied, "bob", approval.SourceAPI)}, teamsRender{})
	assert.Contains(t, dc, `{"title":"Risk","value":"82 (high)"}`)

	for _, s := range []string{card, dc, string(mustJSON(t, d)), string(mustJSON(t, renderSlack(ApprovalRequested{Request: r}, slackRender{})))} {
		for _, old := range []string{"High risk", "high (82)", "High (82)", "risk (82)"} {
			assert.NotContains(t, s, old)
		}
	}
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
		"https://example.com/" + strings.Repeat("a", 2980): "https://example.com/" + strings.Repeat("a", 2980),
		"https://example.com/x?\xf5":                       "", // found by FuzzSlackRender
		"https://example.com/\u00a0x":                      "",
		"https://example.com/\u202Egnp.exe":                "",
		"https://example.com/caf\u00e9":                    "https://example.com/caf\u00e9",
	} {
		assert.Equal(t, want, safeLink(raw), raw)
	}
}

func TestTones(t *testing.T) {
	for score, want := range map[int]string{0: "Low", 39: "Low", 40: "Medium", 69: "Medium", 70: "High", 82: "High", 89: "High", 90: "Critical", 100: "Critical"} {
		assert.Equal(t, want, riskTone(approval.Request{RiskScore: score}).word, "score %d", score)
	}
	assert.Equal(t, "Weird", severityTone("weird").word, "unknown severities keep their word")
	assert.Equal(t, "Paused", agentTone("paused").word)
}

// The Slack date of every message is slackmsg.Date, the one approval's
// handler uses too.
func TestSlackDateIsShared(t *testing.T) {
	m := renderSlack(ApprovalRequested{Request: fixtureRequest()}, slackRender{})
	assert.Contains(t, string(mustJSON(t, m.Blocks)), mustJSONString(t, "Requested "+slackmsg.Date(t0)))
	assert.Contains(t, string(mustJSON(t, m.Blocks)), mustJSONString(t, "*Expires*\n"+slackmsg.Date(t0.Add(time.Hour))))
}

// Found by FuzzSlackRender: a test message of control characters only
// rendered as an empty message, which Slack refuses (no_text).
func TestEmptyTestMessage(t *testing.T) {
	for _, text := range []string{"", "\x0f", " \n\t ", "\u202E\u200B"} {
		m := renderSlack(TestMessage{Text: text}, slackRender{})
		assert.Equal(t, emptyTestText, m.Text, "%q", text)
		checkSlack(t, m)
		card := cardJSON(t, TestMessage{Text: text}, teamsRender{})
		assert.Contains(t, card, emptyTestText)
	}
}
