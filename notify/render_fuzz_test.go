package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
)

// FuzzSlackRender renders every event from arbitrary request text, as a
// bot and as a webhook message, and checks what Slack and Teams require
// of any message (checkSlack, checkTeamsCard): blocks' JSON under 12,000
// bytes, at most 50 blocks, every Block Kit text limit, valid UTF-8, no
// split entity and no unescaped '<' from user text.
//
//	go test -run '^$' -fuzz FuzzSlackRender -fuzztime 60s ./notify
func FuzzSlackRender(f *testing.F) {
	// Seeds are short (the fuzzer minimizes what it finds, which is slow
	// on long inputs); rep stretches them past every limit.
	f.Add("Delete production backups", "The cleanup agent wants\nto delete 42 backups.", "cleanup-bot", "s3:DeleteObject", "alice@example.com", "apr_1", "https://console.example.com/a?b=c&d=e", 82, uint16(0), true)
	f.Add("<!channel> & <@U1>", "&<>", "<!here>", "a&b", "[x](https://evil.example)", "apr_2", "a=b&", 95, uint16(399), false)
	f.Add("e\u0301👩‍👩‍👧‍👦🇫🇷", "\u202Egnp.exe\u202C\u200B", "\xff\xfe", "\u2028\u2029\t\r\n", "承認", "i", "%26", 40, uint16(2999), true)
	f.Add("🙂&", "📦", "&", "<", ">", "xy", "&", -5, uint16(65535), true)
	f.Fuzz(func(t *testing.T, title, desc, agent, action, by, id, console string, score int, rep uint16, bot bool) {
		// rep stretches the texts the mutator keeps short into the
		// lengths where limits bite (at most about 6 KB each: past
		// every limit, and past slackMaxInput).
		stretch := func(s string) string {
			n := int(rep) + 1
			if len(s)*n > 6_000 {
				n = max(1, 6_000/max(1, len(s)))
			}
			return strings.Repeat(s, n)
		}
		title, desc, agent, action, by, id = stretch(title), stretch(desc), stretch(agent), stretch(action), stretch(by), stretch(id)
		if !strings.HasPrefix(console, "http") {
			// A long console link, stretched from its query like the texts.
			console = "https://console.example.com/x?" + stretch(console)
		}
		link := safeLink(console)
		r := approval.Request{
			ID: id, OrgID: "org-1", Title: title, Description: desc, Agent: agent, Action: action,
			RequestedBy: by, RiskScore: score, ConsoleURL: link, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
		}
		dec := r
		at := t0.Add(time.Minute)
		dec.ReviewedAt, dec.ReviewedBy, dec.ReviewSource = &at, by, approval.Source(action)
		dec.Status = []approval.Status{approval.StatusApproved, approval.StatusDenied, approval.StatusExpired, approval.StatusPending, approval.Status(title)}[uint(score)%5]
		events := []Event{
			ApprovalRequested{Request: r},
			decidedEvent{dec},
			DriftAlert{ID: id, Resource: title, Summary: desc, Expected: agent, Actual: action, Severity: Severity(by), DetectedAt: t0, ConsoleURL: link},
			AgentStatusChanged{Agent: title, Status: AgentState(by), PreviousStatus: AgentState(action), Reason: desc, ChangedAt: t0, ConsoleURL: link},
			TestMessage{Text: desc},
		}
		for _, ev := range events {
			m := slackOf(ev, slackRender{interactive: bot, console: link})
			checkSlack(t, m)
			b, err := teamsOf(ev, teamsRender{console: link, approveURL: "https://host.example.com/a", denyURL: "https://host.example.com/d"})
			require.NoError(t, err)
			checkTeamsCard(t, b)
		}
	})
}
