package notify

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/chattext"
	"github.com/chatnotify/chatnotify/internal/teamsmsg"
)

// tone is how urgent something looks on both platforms: a word, a Slack
// emoji, a Teams container style and text colour.
type tone struct {
	word       string // "High"
	slackEmoji string // ":red_circle:"
	teamsStyle string // Container style: good, warning, attention, accent, emphasis, default
	teamsColor string // TextBlock colour: good, warning, attention, accent, default
}

var (
	toneLow      = tone{"Low", ":large_green_circle:", "good", "good"}
	toneMedium   = tone{"Medium", ":large_yellow_circle:", "warning", "warning"}
	toneHigh     = tone{"High", ":red_circle:", "attention", "attention"}
	toneCritical = tone{"Critical", ":rotating_light:", "attention", "attention"}
)

// riskTone maps a request's risk level (see [approval.Request.RiskLevel]).
func riskTone(r approval.Request) tone {
	switch r.RiskLevel() {
	case "critical":
		return toneCritical
	case "high":
		return toneHigh
	case "medium":
		return toneMedium
	}
	return toneLow
}

// severityTone maps a drift severity; an unknown one reads as medium, its
// word kept so nothing is hidden.
func severityTone(s Severity) tone {
	switch s {
	case SeverityLow:
		return toneLow
	case SeverityMedium:
		return toneMedium
	case SeverityHigh:
		return toneHigh
	case SeverityCritical:
		return toneCritical
	}
	t := toneMedium
	t.word = capitalize(oneLine(string(s)))
	if t.word == "" {
		t.word = "Unknown"
	}
	return t
}

// agentTone maps an agent state.
func agentTone(s AgentState) tone {
	switch s {
	case AgentDeployed:
		return tone{"Deployed", ":rocket:", "good", "good"}
	case AgentStopped:
		return tone{"Stopped", ":octagonal_sign:", "warning", "warning"}
	case AgentErrored:
		return tone{"Errored", ":x:", "attention", "attention"}
	}
	w := capitalize(oneLine(string(s)))
	if w == "" {
		w = "Unknown"
	}
	return tone{w, ":information_source:", "accent", "accent"}
}

// resultTone maps a decided request's status.
func resultTone(st approval.Status) tone {
	switch st {
	case approval.StatusApproved:
		return tone{"Approved", ":white_check_mark:", "good", "good"}
	case approval.StatusDenied:
		return tone{"Denied", ":x:", "attention", "attention"}
	case approval.StatusExpired:
		return tone{"Expired", ":hourglass:", "warning", "warning"}
	}
	return tone{"Pending", ":hourglass_flowing_sand:", "default", "default"}
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// cleanText and oneLine are the one cleaning of user text, shared with
// approval's answers to clicks (internal/chattext).
func cleanText(s string) string { return chattext.Clean(s) }

func oneLine(s string) string { return chattext.OneLine(s) }

// cut shortens s to at most n characters (runes), ending with "…" when it
// had to cut: the one cut of Teams texts (internal/teamsmsg), which are
// cut before [teams.EscapeMarkdown], so an escape is never split. Slack
// texts are cut by [slackmsg.Escape], after escaping.
func cut(s string, n int) string { return teamsmsg.Cut(s, n) }

// emptyTestText replaces a test message with nothing to show: Slack
// refuses an empty message (no_text).
const emptyTestText = "This is a test notification."

// testText is the text of a test message: s cleaned, or emptyTestText
// when nothing visible is left.
func testText(s string) string {
	s = strings.TrimSpace(cleanText(s))
	if s == "" {
		return emptyTestText
	}
	return s
}

// riskText is a request's risk as every message shows it: the score, then
// the level in parentheses, "82 (high)".
func riskText(r approval.Request) string {
	return strconv.Itoa(r.RiskScore) + " (" + r.RiskLevel() + ")"
}

// maxLinkLength is the longest console link put in a message, in bytes:
// Slack's button URL limit (3,000 characters; a byte count is never
// smaller), the strictest of both platforms.
const maxLinkLength = slackMaxButtonURL

// safeLink returns raw if it is an absolute http(s) URL fit to be a link
// in a chat message (at most maxLinkLength bytes of valid UTF-8, without
// space, control or invisible characters, nor '<', '>', '|' or '"' that
// would end a Slack link), and "" otherwise, so a bad link is dropped
// rather than making the platform reject the whole message.
func safeLink(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxLinkLength || !utf8.ValidString(raw) || strings.ContainsAny(raw, "<>|\"") ||
		strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || chattext.Invisible(r) }) {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return raw
}

// eventConsoleURL returns the console link the event itself carries.
func eventConsoleURL(ev Event) string {
	switch e := deref(ev).(type) {
	case ApprovalRequested:
		return e.Request.ConsoleURL
	case DriftAlert:
		return e.ConsoleURL
	case AgentStatusChanged:
		return e.ConsoleURL
	}
	return ""
}

// deref turns pointer events into values so renderers switch on one form
// (a nil pointer stays as it is, and renders as an unknown event).
func deref(ev Event) Event {
	switch e := ev.(type) {
	case *ApprovalRequested:
		if e != nil {
			return *e
		}
	case *DriftAlert:
		if e != nil {
			return *e
		}
	case *AgentStatusChanged:
		if e != nil {
			return *e
		}
	case *TestMessage:
		if e != nil {
			return *e
		}
	}
	return ev
}
