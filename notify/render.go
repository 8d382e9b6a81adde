package notify

import (
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chatnotify/chatnotify/approval"
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

// cleanText makes user text safe to measure and show: valid UTF-8, no
// control characters except newlines and tabs (a tab becomes a space).
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case r == '\r':
			return -1
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
}

// oneLine is cleanText with newlines folded into spaces and surrounding
// space trimmed, for headers, titles and fact values.
func oneLine(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(cleanText(s), "\n", " "))
}

// cut shortens s to at most n characters (runes), ending with "…" when it
// had to cut. n < 1 yields "".
func cut(s string, n int) string {
	if n < 1 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for j := range s {
		if k == n-1 {
			i = j
			break
		}
		k++
	}
	return s[:i] + "…"
}

// maxLinkLength is the longest console link put in a message (Slack's
// button URL limit).
const maxLinkLength = 3000

// safeLink returns raw if it is an absolute http(s) URL fit to be a link
// in a chat message, and "" otherwise, so a bad link is dropped rather
// than making the platform reject the whole message.
func safeLink(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxLinkLength || strings.ContainsAny(raw, " \t\r\n<>|\"") {
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
	switch e := ev.(type) {
	case ApprovalRequested:
		return e.Request.ConsoleURL
	case *ApprovalRequested:
		return e.Request.ConsoleURL
	case DriftAlert:
		return e.ConsoleURL
	case *DriftAlert:
		return e.ConsoleURL
	case AgentStatusChanged:
		return e.ConsoleURL
	case *AgentStatusChanged:
		return e.ConsoleURL
	case ApprovalDecided:
		return e.Request.ConsoleURL
	case *ApprovalDecided:
		return e.Request.ConsoleURL
	}
	return ""
}

// deref turns pointer events into values so renderers switch on one form.
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
	case *ApprovalDecided:
		if e != nil {
			return *e
		}
	}
	return ev
}

// plainTime is the fallback text of a time: "2023-11-14 22:13 UTC".
func plainTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
