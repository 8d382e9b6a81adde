// Package slackmsg holds what chatnotify's Slack messages and its Slack
// interaction handler must agree on: the action IDs of the approval
// buttons, the one mrkdwn escaper (escape first, then cut on a rune and
// entity boundary), the date format and the result line of a decided
// request. notify renders with it and approval answers clicks with it, so
// both always write the same text.
package slackmsg

import (
	"github.com/chatnotify/chatnotify/internal/chattext"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The action IDs of approval buttons, per the spec. Both spellings of
// each are accepted by the handler; notify renders the first of each pair.
// The console buttons are URL buttons, whose clicks Slack reports too and
// which need nothing but the acknowledgement.
const (
	ApproveAction         = "approve_action"
	ApproveActionPlatform = "platform_approve"
	DenyAction            = "deny_action"
	DenyActionPlatform    = "platform_deny"
	ConsoleAction         = "view_console"
	ConsoleActionPlatform = "platform_view_console"
)

// MaxName is the most characters of a reviewer name shown in a result
// line.
const MaxName = 200

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape escapes &, < and > (so that user text cannot mention @channel or
// a user, or forge a link) and cuts the result to at most n characters,
// counted after escaping, ending with "…" when it cut. It never cuts a
// rune or an entity ("&amp;") in half. n < 1 yields "".
func Escape(s string, n int) string {
	if n < 1 {
		return ""
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	full := escaper.Replace(s)
	if utf8.RuneCountInString(full) <= n {
		return full
	}
	var b strings.Builder
	count := 0
	for _, r := range s {
		piece := string(r)
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		}
		w := utf8.RuneCountInString(piece)
		if count+w > n-1 {
			break
		}
		b.WriteString(piece)
		count += w
	}
	return b.String() + "…"
}

// OneLine returns s on one line, cleaned as every user text is
// ([chattext.OneLine]: no control or invisible characters).
func OneLine(s string) string { return chattext.OneLine(s) }

// PlainTime is the fallback text of a time: "2023-11-14 22:13 UTC".
func PlainTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// Date formats t with Slack's date syntax, so that each reader sees it in
// their own time zone, with [PlainTime] as the fallback for old clients.
func Date(t time.Time) string {
	return "<!date^" + strconv.FormatInt(t.Unix(), 10) + "^{date_short_pretty} at {time}|" + PlainTime(t) + ">"
}

// ResultLine is the line shown for a request in status (an
// approval.Status) decided by reviewer:
//
//   - approved: ":white_check_mark: *APPROVED* by amy"
//   - denied: ":x: *DENIED* by amy"
//   - expired: ":warning: Approval request has expired"
//   - pending: ":hourglass_flowing_sand: Awaiting review"
//
// Bold is a single '*' (Slack mrkdwn shows "**" literally). The reviewer
// name and an unknown status are escaped, so they can never mention a
// user or @channel.
func ResultLine(status, reviewer string) string {
	var line string
	switch status {
	case "approved":
		line = ":white_check_mark: *APPROVED*"
	case "denied":
		line = ":x: *DENIED*"
	case "expired":
		return ":warning: Approval request has expired"
	case "pending":
		return ":hourglass_flowing_sand: Awaiting review"
	default:
		// A status of the host's own: text from the request like any other.
		line = ":grey_question: *" + Escape(strings.ToUpper(OneLine(status)), 50) + "*"
	}
	if name := Escape(OneLine(reviewer), MaxName); name != "" {
		line += " by " + name
	}
	return line
}

// Warning is the ephemeral answer to a click that could not be decided:
// ":warning: " and the escaped message.
func Warning(msg string) string {
	return ":warning: " + Escape(OneLine(msg), 2900)
}
