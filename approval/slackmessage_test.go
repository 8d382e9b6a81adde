package approval

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decidedRequest(st Status) Request {
	at := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	r := Request{
		ID: "apr-42", OrgID: "org-1", Title: "Delete production bucket logs-archive",
		Agent: "deploy-bot", Action: "s3:DeleteBucket", RiskScore: 82, Status: st,
	}
	if st != StatusPending {
		r.ReviewedAt = &at
	}
	if st == StatusApproved || st == StatusDenied {
		r.ReviewedBy, r.ReviewerID, r.ReviewSource = "amy", "U0AMY", SourceSlack
	}
	return r
}

func TestSlackResultText(t *testing.T) {
	tests := []struct {
		r    Request
		want string
	}{
		{decidedRequest(StatusApproved), ":white_check_mark: *APPROVED* by amy"},
		{decidedRequest(StatusDenied), ":x: *DENIED* by amy"},
		{decidedRequest(StatusExpired), ":warning: Approval request has expired"},
		{decidedRequest(StatusPending), ":hourglass_flowing_sand: Awaiting review"},
		{Request{Status: StatusApproved, ReviewedBy: "amy <!channel> & co"}, ":white_check_mark: *APPROVED* by amy &lt;!channel&gt; &amp; co"},
		{Request{Status: StatusDenied, ReviewedBy: "bob\nsmith"}, ":x: *DENIED* by bob smith"},
		{Request{Status: StatusApproved}, ":white_check_mark: *APPROVED*"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, SlackResultText(tt.r))
	}
}

// TestSlackResultLineEscapesUnknownStatus checks that a status this
// package does not know (a host's own, or a store's bad data) is escaped
// like any other text from the request: for Slack, and as JSON in the
// handler's hand-written answer.
func TestSlackResultLineEscapesUnknownStatus(t *testing.T) {
	r := Request{Status: Status(`on_hold "<!channel>" \ & co`), ReviewedBy: "amy"}
	want := `:grey_question: *ON_HOLD "&lt;!CHANNEL&gt;" \ &amp; CO* by amy`
	assert.Equal(t, want, SlackResultText(r))

	inJSON := appendSlackResultLine([]byte(`"`), r.Status, r.ReviewedBy, true)
	var got string
	require.NoError(t, json.Unmarshal(append(inJSON, '"'), &got), "%s", inJSON)
	assert.Equal(t, want, got)
}

func TestSlackResultMessage(t *testing.T) {
	text, blocks := SlackResultMessage(decidedRequest(StatusApproved))
	assert.Equal(t, ":white_check_mark: *APPROVED* by amy", text)
	js, err := json.Marshal(blocks)
	require.NoError(t, err)
	assert.JSONEq(t, `[
		{"type":"section","text":{"type":"mrkdwn","text":":white_check_mark: *APPROVED* by amy\n*Delete production bucket logs-archive*"}},
		{"type":"section","fields":[
			{"type":"mrkdwn","text":"*Risk*\n82 (high)"},
			{"type":"mrkdwn","text":"*Agent*\ndeploy-bot"},
			{"type":"mrkdwn","text":"*Action*\ns3:DeleteBucket"},
			{"type":"mrkdwn","text":"*Request ID*\napr-42"}]},
		{"type":"context","elements":[{"type":"mrkdwn","text":"Approved via Slack <!date^1772368200^{date_short_pretty} at {time}|2026-03-01 12:30 UTC>"}]}
	]`, string(js))

	t.Run("expired", func(t *testing.T) {
		text, blocks := SlackResultMessage(decidedRequest(StatusExpired))
		assert.Equal(t, ":warning: Approval request has expired", text)
		js, err := json.Marshal(blocks)
		require.NoError(t, err)
		var decoded any
		require.NoError(t, json.Unmarshal(js, &decoded))
		var texts []string
		collect(decoded, &texts)
		joined := strings.Join(texts, "\n")
		assert.Contains(t, joined, "Expired <!date^1772368200^")
		assert.Contains(t, joined, "Delete production bucket logs-archive")
	})
	t.Run("minimal request", func(t *testing.T) {
		_, blocks := SlackResultMessage(Request{Status: StatusPending})
		js, err := json.Marshal(blocks)
		require.NoError(t, err)
		assert.JSONEq(t, `[
			{"type":"section","text":{"type":"mrkdwn","text":":hourglass_flowing_sand: Awaiting review\n*Untitled request*"}},
			{"type":"section","fields":[{"type":"mrkdwn","text":"*Risk*\n0 (low)"}]}
		]`, string(js))
	})
}

func TestSlackResultMessageEscapesAndCuts(t *testing.T) {
	r := decidedRequest(StatusDenied)
	r.Title = "<!channel> please\napprove <https://evil.example|this> & more " + strings.Repeat("x", 400)
	r.Agent = "<@U123>"
	r.Action = strings.Repeat("é", 300)
	r.ReviewedBy = "<!here>"
	text, blocks := SlackResultMessage(r)
	js, err := json.Marshal(blocks)
	require.NoError(t, err)
	var texts []string
	var decoded any
	require.NoError(t, json.Unmarshal(js, &decoded))
	collect(decoded, &texts)
	texts = append(texts, text)
	for _, s := range texts {
		assert.NotContains(t, s, "<!channel>")
		assert.NotContains(t, s, "<!here>")
		assert.NotContains(t, s, "<@U123>")
		assert.NotContains(t, s, "<https://evil.example")
		assert.LessOrEqual(t, utf8.RuneCountInString(s), 2000, "inside Block Kit's limits")
	}
	joined := strings.Join(texts, "\n")
	assert.Contains(t, joined, "&lt;!channel&gt; please approve &lt;https://evil.example|this&gt; &amp; more xxx")
	assert.Contains(t, joined, "xxx…*", "a long title is cut")
	assert.Contains(t, joined, strings.Repeat("é", slackMaxName-1)+"…")
	assert.NotContains(t, joined, strings.Repeat("é", slackMaxName))
}

func collect(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "text" {
				*out = append(*out, s)
			} else {
				collect(x, out)
			}
		}
	case []any:
		for _, x := range v {
			collect(x, out)
		}
	}
}

// TestSlackReplacementMatchesBlocks checks that the hand-written JSON the
// handler posts says exactly what SlackResultMessage's blocks say, as
// encoding/json would encode them.
func TestSlackReplacementMatchesBlocks(t *testing.T) {
	weird := []string{
		"", "plain", `quote " backslash \ slash /`, "tab\tnewline\nreturn\r", "\x00\x01\x1f\x7f",
		"<!channel> & <@U1>", "emoji 🎉 and é", "invalid \xff\xfe utf8", "line\u2028sep\u2029", strings.Repeat("ab", 300),
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var reqs []Request
	for _, st := range []Status{StatusApproved, StatusDenied, StatusExpired, StatusPending, Status("odd\"status")} {
		for i, w := range weird {
			r := Request{ID: "apr-" + w, Title: w, Agent: w, Action: weird[(i+1)%len(weird)], RiskScore: i * 11, Status: st, ReviewedBy: w, ReviewSource: SourceTeams}
			if i%2 == 0 {
				r.ReviewedAt = &at
			}
			reqs = append(reqs, r)
		}
	}
	for _, r := range reqs {
		text, blocks := SlackResultMessage(r)
		want, err := json.Marshal(struct {
			ReplaceOriginal bool          `json:"replace_original"`
			Text            string        `json:"text"`
			Blocks          []slack.Block `json:"blocks"`
		}{true, text, blocks})
		require.NoError(t, err)
		got := appendSlackReplacement(nil, r)
		require.True(t, json.Valid(got), "%s", got)
		assert.JSONEq(t, string(want), string(got), "request %+v", r)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{
		"", "a", `"`, `\`, "\n\r\t\b\f", "\x00\x1f\x7f", "<>&", "é🎉", "\xff", "a\xc3", "\u2028\u2029", "\ufffd",
		"\xed\xa0\x80", // an encoded surrogate: invalid UTF-8
	} {
		got := appendJSONString(nil, s)
		require.True(t, json.Valid(got), "%q → %s", s, got)
		var back string
		require.NoError(t, json.Unmarshal(got, &back))
		want, _ := json.Marshal(s)
		var wantBack string
		require.NoError(t, json.Unmarshal(want, &wantBack))
		assert.Equal(t, wantBack, back, "%q decodes as encoding/json's encoding does", s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00", "\xff", "é", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON for %q: %s", s, got)
		}
		want, _ := json.Marshal(s)
		var a, b string
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Fatalf("%q: got %q, encoding/json %q", s, a, b)
		}
	})
}

func TestAppendSlackEphemeral(t *testing.T) {
	got := appendSlackEphemeral(nil, `Already approved "now"`)
	assert.JSONEq(t, `{"response_type":"ephemeral","replace_original":false,"text":":warning: Already approved \"now\""}`, string(got))
}

func TestSlackCut(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"  padded  ", 10, "padded"},
		{"a\nb\tc", 10, "a b c"},
		{"abcdef", 4, "abc…"},
		{"ééééé", 3, "éé…"},
		{"abc", 3, "abc"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, slackCut(tt.s, tt.n), "%q", tt.s)
	}
}
