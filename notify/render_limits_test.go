package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
)

// consoleURL returns an acceptable console link of n bytes with an '&'
// every few characters (each becomes "&amp;" in mrkdwn).
func consoleURL(n int) string {
	u := "https://console.example.com/approvals/apr_1?"
	for i := 0; len(u) < n; i++ {
		u += "a=" + string(rune('a'+i%26)) + "&"
	}
	return u[:n]
}

// allEvents renders every kind of event around one set of texts.
func allEvents(text, id, console string) []Event {
	r := fixtureRequest()
	r.Title, r.Description, r.Agent, r.Action, r.RequestedBy, r.ID, r.ConsoleURL = text, text, text, text, text, id, console
	d := fixtureDrift()
	d.Resource, d.Summary, d.Expected, d.Actual, d.ID, d.Severity, d.ConsoleURL = text, text, text, text, id, Severity(text), console
	a := fixtureAgent()
	a.Agent, a.Reason, a.Status, a.PreviousStatus, a.ConsoleURL = text, text, AgentState(text), AgentState(text), console
	dec := decided(approval.StatusApproved, text, approval.Source(text))
	dec.Title, dec.Agent, dec.Action, dec.ID = text, text, text, id
	return []Event{ApprovalRequested{Request: r}, d, a, TestMessage{Text: text}, decidedEvent{dec}}
}

// renderAll renders ev as a bot and as a webhook message, checking both.
func renderAll(t testing.TB, ev Event) []slackMessage {
	t.Helper()
	var out []slackMessage
	for _, interactive := range []bool{true, false} {
		m := slackOf(ev, slackRender{interactive: interactive, console: safeLink(eventConsoleURL(ev))})
		checkSlack(t, m)
		out = append(out, m)
	}
	b, err := teamsOf(ev, teamsRender{console: safeLink(eventConsoleURL(ev)), approveURL: "https://host.example.com/a", denyURL: "https://host.example.com/d"})
	require.NoError(t, err)
	checkTeamsCard(t, b)
	return out
}

// Defect 5: fields were cut after escaping ("&am…", "&lt;&l…") and long
// texts reached Slack's limits. Every text now holds, whatever its input.
func TestSlackExtremeInputs(t *testing.T) {
	entities := strings.Repeat("&<>", 3334)[:10000]
	cases := map[string]string{
		"10k characters of &<>":     entities,
		"10k characters of <!here>": strings.Repeat("<!here>", 1500),
		"emoji and combining marks": strings.Repeat("e\u0301👩‍👩‍👧‍👦🇫🇷&", 1200),
		"invalid UTF-8":             strings.Repeat("a\xff\xfe<\xc3(&", 2000),
		"zero-width and bidi":       strings.Repeat("\u202Eadmin\u202C\u200B\u2066x\u2069\uFEFF&", 800),
		"newlines and tabs":         strings.Repeat("line\n\t\r&\u2028", 2000),
		"CJK":                       strings.Repeat("承認を求める&", 2000),
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			for _, ev := range allEvents(text, "apr_1", consoleURL(2950)) {
				for _, m := range renderAll(t, ev) {
					all := m.Text + string(mustJSON(t, m.Blocks))
					for _, r := range []string{"\u202E", "\u202C", "\u2066", "\u2069", "\u200B", "\uFEFF"} {
						assert.NotContains(t, all, r, "invisible characters are dropped")
					}
				}
			}
		})
	}
	t.Run("a field is cut on an entity boundary", func(t *testing.T) {
		r := fixtureRequest()
		r.Agent = strings.Repeat("&", 1000) // 5,000 characters escaped
		m := renderSlack(ApprovalRequested{Request: r}, slackRender{})
		checkSlack(t, m)
		field := fieldText(t, m, "Agent")
		assert.Equal(t, "*Agent*\n"+strings.Repeat("&amp;", 398)+"…", field, "as many whole entities as fit, then …")
		assert.LessOrEqual(t, utf8.RuneCountInString(field), slackMaxFieldText)
	})
	t.Run("a description of 10k &<> is cut to the section limit, whole entities", func(t *testing.T) {
		r := fixtureRequest()
		r.Description = entities
		m := renderSlack(ApprovalRequested{Request: r}, slackRender{})
		checkSlack(t, m)
		s := sectionText(t, m, 1)
		assert.True(t, strings.HasPrefix(s, "*Delete production database backups*\n&amp;&lt;&gt;"), s[:60])
		assert.True(t, strings.HasSuffix(s, "…"))
		assert.Greater(t, utf8.RuneCountInString(s), slackMaxText-5, "the section is filled, not emptied")
	})
	t.Run("zero-width and bidi characters are dropped from titles, joiners stay", func(t *testing.T) {
		r := fixtureRequest()
		r.Title = "\u202Egnp.exe\u202C \u2066x\u2069\u200B 👩\u200D💻 \u200Fשלום"
		m := renderSlack(ApprovalRequested{Request: r}, slackRender{})
		assert.Equal(t, "*gnp.exe x 👩\u200D💻 \u200Fשלום*", strings.SplitN(sectionText(t, m, 1), "\n", 2)[0])
		card := cardJSON(t, ApprovalRequested{Request: r}, teamsRender{})
		assert.Contains(t, card, mustJSONString(t, "gnp.exe x 👩\u200D💻 \u200Fשלום"))
		assert.NotContains(t, card, "\u202E")
	})
}

// fieldText returns the text of the field labelled label.
func fieldText(t *testing.T, m slackMessage, label string) string {
	t.Helper()
	var blocks []struct {
		Fields []struct {
			Text string `json:"text"`
		} `json:"fields"`
	}
	require.NoError(t, json.Unmarshal(mustJSON(t, m.Blocks), &blocks))
	for _, b := range blocks {
		for _, f := range b.Fields {
			if strings.HasPrefix(f.Text, "*"+label+"*\n") {
				return f.Text
			}
		}
	}
	t.Fatalf("no field %s", label)
	return ""
}

// sectionText returns the text of block i, a section.
func sectionText(t *testing.T, m slackMessage, i int) string {
	t.Helper()
	var blocks []struct {
		Type string `json:"type"`
		Text struct {
			Text string `json:"text"`
		} `json:"text"`
	}
	require.NoError(t, json.Unmarshal(mustJSON(t, m.Blocks), &blocks))
	require.Greater(t, len(blocks), i)
	require.Equal(t, "section", blocks[i].Type)
	return blocks[i].Text.Text
}

// Defect 5: a 2,950-character console URL put 3,004–5,900 characters in
// the webhook message's link section once its '&' were escaped.
func TestSlackLongConsoleURL(t *testing.T) {
	long := consoleURL(2950)
	require.Equal(t, long, safeLink(long), "an acceptable link")
	require.Greater(t, strings.Count(long, "&"), 500)

	t.Run("webhook: a link too long once escaped is dropped, and nothing speaks of a console", func(t *testing.T) {
		for _, ev := range allEvents("x", "apr_1", long)[:3] {
			m := renderSlack(ev, slackRender{console: long})
			checkSlack(t, m)
			assert.NotContains(t, string(mustJSON(t, m)), "console", "%s", ev.eventType())
		}
	})
	t.Run("bot: the URL button still carries it", func(t *testing.T) {
		for _, ev := range allEvents("x", "apr_1", long)[:3] {
			m := renderSlack(ev, slackRender{interactive: true, console: long})
			checkSlack(t, m)
			bs := buttonsOf(m)
			require.NotEmpty(t, bs)
			assert.Equal(t, long, bs[len(bs)-1].url, "%s", ev.eventType())
		}
	})
	t.Run("webhook: the longest link that fits is kept whole", func(t *testing.T) {
		const rest = " to approve or deny this request."
		// "<" + URL + "|View in console>" + rest, URL without '&'.
		n := slackMaxText - 1 - len("|View in console>") - len(rest)
		u := "https://console.example.com/" + strings.Repeat("a", n-len("https://console.example.com/"))
		m := renderSlack(ApprovalRequested{Request: fixtureRequest()}, slackRender{console: u})
		checkSlack(t, m)
		assert.Contains(t, string(mustJSON(t, m.Blocks)), mustJSONString(t, "<"+u+"|View in console>"+rest))
		m = renderSlack(ApprovalRequested{Request: fixtureRequest()}, slackRender{console: u + "a"})
		checkSlack(t, m)
		assert.NotContains(t, string(mustJSON(t, m.Blocks)), "View in console", "one more character and it is dropped")
	})
	t.Run("bot: even with all texts at their limits, the link button stays", func(t *testing.T) {
		// A URL of '&' only is 3,000 bytes raw but 18,000 in JSON (\u0026):
		// it cannot fit, so it is the one text dropped.
		amps := "https://console.example.com/?" + strings.Repeat("&", 2971)
		require.Equal(t, amps, safeLink(amps))
		m := renderSlack(ApprovalRequested{Request: fixtureRequest()}, slackRender{interactive: true, console: amps})
		checkSlack(t, m)
		assert.Equal(t, []string{"approve_action", "deny_action"}, actionIDs(m), "Approve and Deny stay; the unfittable link goes")
		m = renderSlack(ApprovalRequested{Request: fixtureRequest()}, slackRender{interactive: true, console: long})
		assert.Equal(t, []string{"approve_action", "deny_action", "view_console"}, actionIDs(m))
	})
}

func actionIDs(m slackMessage) []string {
	var ids []string
	for _, b := range buttonsOf(m) {
		ids = append(ids, b.actionID)
	}
	return ids
}

// The whole message's blocks stay under slackMaxBlocksJSON: the longest
// texts are cut first, the description before the fields.
func TestSlackBlocksJSONBudget(t *testing.T) {
	t.Run("100 fields worth of text", func(t *testing.T) {
		huge := strings.Repeat("🙂&", 100*slackMaxFieldText/2) // emoji: 4 bytes each in JSON, & 10
		for _, ev := range allEvents(huge, strings.Repeat("i", 1500), consoleURL(2950)) {
			for _, m := range renderAll(t, ev) {
				assert.Less(t, len(mustJSON(t, m.Blocks)), slackMaxBlocksJSON)
				if ev.eventType() != eventTest {
					assert.NotEmpty(t, m.Blocks, "%s: still a Block Kit message", ev.eventType())
				}
			}
		}
	})
	t.Run("the description is cut before the fields", func(t *testing.T) {
		r := fixtureRequest()
		r.Description = strings.Repeat("📦", 3000) // 12,000 bytes alone
		r.Agent = strings.Repeat("a", 1000)
		r.Action = strings.Repeat("b", 1000)
		m := renderSlack(ApprovalRequested{Request: r}, slackRender{interactive: true, console: r.ConsoleURL})
		checkSlack(t, m)
		n := len(mustJSON(t, m.Blocks))
		assert.Less(t, n, slackMaxBlocksJSON)
		assert.Greater(t, n, slackMaxBlocksJSON-600, "cut no more than needed")
		assert.Equal(t, "*Agent*\n"+r.Agent, fieldText(t, m, "Agent"), "shorter texts are kept whole")
		assert.Equal(t, "*Action*\n"+r.Action, fieldText(t, m, "Action"))
		desc := strings.SplitN(sectionText(t, m, 1), "\n", 2)[1]
		assert.True(t, strings.HasSuffix(desc, "📦…"), "the description is cut")
		assert.Len(t, buttonsOf(m), 3, "the buttons stay")
	})
	t.Run("within the budget nothing is cut", func(t *testing.T) {
		r := fixtureRequest()
		r.Description = strings.Repeat("d", slackMaxText-len("*Delete production database backups*\n"))
		m := renderSlack(ApprovalRequested{Request: r}, slackRender{interactive: true, console: r.ConsoleURL})
		checkSlack(t, m)
		assert.NotContains(t, sectionText(t, m, 1), "…")
		assert.Equal(t, slackMaxText, utf8.RuneCountInString(sectionText(t, m, 1)), "a section at exactly its limit")
	})
}

// Each text is cut at its own limit, exactly: the boundary cases.
func TestSlackLimitBoundaries(t *testing.T) {
	label := len("*Agent*\n")
	t.Run("field", func(t *testing.T) {
		r := fixtureRequest()
		r.Agent = strings.Repeat("a", slackMaxFieldText-label)
		m := renderSlack(ApprovalRequested{Request: r}, slackRender{})
		assert.Equal(t, "*Agent*\n"+r.Agent, fieldText(t, m, "Agent"), "exactly 2,000: kept")
		r.Agent += "a"
		m = renderSlack(ApprovalRequested{Request: r}, slackRender{})
		got := fieldText(t, m, "Agent")
		assert.Equal(t, slackMaxFieldText, utf8.RuneCountInString(got), "2,001: cut to 2,000 with …")
		assert.True(t, strings.HasSuffix(got, "a…"))
	})
	t.Run("title", func(t *testing.T) {
		r := fixtureRequest()
		r.Title, r.Description = strings.Repeat("t", slackMaxTitle), ""
		m := renderSlack(ApprovalRequested{Request: r}, slackRender{})
		assert.Equal(t, "*"+r.Title+"*", sectionText(t, m, 1))
		r.Title += "t"
		m = renderSlack(ApprovalRequested{Request: r}, slackRender{})
		assert.Equal(t, "*"+strings.Repeat("t", slackMaxTitle-1)+"…*", sectionText(t, m, 1))
	})
	t.Run("button value", func(t *testing.T) {
		r := fixtureRequest()
		r.ID = strings.Repeat("i", slackMaxButtonValue)
		m := renderSlack(ApprovalRequested{Request: r}, slackRender{interactive: true})
		assert.Equal(t, []string{"approve_action", "deny_action"}, actionIDs(m), "a 2,000-character ID fits a value")
		checkSlack(t, m)
		r.ID += "i"
		m = renderSlack(ApprovalRequested{Request: r}, slackRender{interactive: true})
		assert.Empty(t, actionIDs(m), "2,001 does not: no button, rather than a cut ID that decides nothing")
		checkSlack(t, m)
	})
	t.Run("top-level text", func(t *testing.T) {
		m := renderSlack(TestMessage{Text: strings.Repeat("&", 1000)}, slackRender{})
		assert.Equal(t, strings.Repeat("&amp;", 599)+"…", m.Text)
		a := fixtureAgent()
		a.Reason = strings.Repeat("r", 5000)
		m = renderSlack(a, slackRender{})
		assert.Equal(t, slackMaxFallback, utf8.RuneCountInString(m.Text))
		checkSlack(t, m)
	})
}

func TestTeamsExtremeInputs(t *testing.T) {
	t.Run("huge description still fits Teams' 28 KB, buttons kept", func(t *testing.T) {
		r := fixtureRequest()
		r.Description = strings.Repeat("💥", 10000)
		r.Title = strings.Repeat("€", 5000)
		card := cardJSON(t, ApprovalRequested{Request: r}, teamsRender{approveURL: "https://a.example/x", denyURL: "https://a.example/y"})
		assert.Contains(t, card, `"title":"Approve"`, "the buttons survive shortening")
	})
	t.Run("cut never splits a rune", func(t *testing.T) {
		assert.Equal(t, "abc", cut("abc", 3))
		assert.Equal(t, "ab…", cut("abcd", 3))
		assert.Equal(t, "", cut("abcd", 0))
		assert.Equal(t, "é…", cut("éèê", 2))
		assert.Equal(t, "👩…", cut("👩‍👩‍👧", 2))
	})
	t.Run("markdown is escaped after the cut", func(t *testing.T) {
		assert.Equal(t, `\*\*…`, teamsText("****", 3))
	})
}
