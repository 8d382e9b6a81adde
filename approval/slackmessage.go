package approval

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Limits applied to the texts of a Slack result message, well inside
// Block Kit's (3000 characters for section text, 2000 for a field), so
// that a long title or name is cut rather than rejected by Slack.
const (
	slackMaxTitle = 250 // runes of the title, before escaping
	slackMaxName  = 200 // runes of a reviewer name, agent or action
	slackMaxID    = 200 // runes of the request ID
)

// SlackResultText returns the one-line Slack mrkdwn result of r, as the
// interaction handler answers a click and as the first line of
// [SlackResultMessage]:
//
//   - approved: ":white_check_mark: *APPROVED* by amy"
//   - denied: ":x: *DENIED* by amy"
//   - expired: ":warning: Approval request has expired"
//   - pending: ":hourglass_flowing_sand: Awaiting review"
//
// Bold is a single '*' (Slack mrkdwn shows "**" literally). The reviewer
// name is escaped (&, <, >), so it can never mention a user or @channel.
func SlackResultText(r Request) string {
	return string(appendSlackResultLine(nil, r.Status, r.ReviewedBy, false))
}

// SlackResultMessage renders r's outcome as a Slack message: the fallback
// text (the [SlackResultText] line, shown in notifications) and Block Kit
// blocks showing the result line above the request's title, its risk,
// agent, action and ID, and when it was decided. It carries no buttons.
//
// The interaction handler posts it to a click's response_url to replace
// the original message; hosts that posted approval requests with a bot
// token can pass it to chat.update to bring their other copies up to date:
//
//	text, blocks := approval.SlackResultMessage(r)
//	api.UpdateMessageContext(ctx, channel, ts,
//		slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
//
// Every text taken from the request is escaped (&, <, >) so that a title
// cannot ping @channel or forge a link, and cut to fit Block Kit's limits.
func SlackResultMessage(r Request) (text string, blocks []slack.Block) {
	p := slackResultParts(r)
	mrkdwn := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	fields := make([]*slack.TextBlockObject, len(p.fields))
	for i, f := range p.fields {
		fields[i] = mrkdwn(f)
	}
	blocks = []slack.Block{
		slack.NewSectionBlock(mrkdwn(p.summary), nil, nil),
		slack.NewSectionBlock(nil, fields, nil),
	}
	if p.context != "" {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(p.context)))
	}
	return p.text, blocks
}

// slackParts is the content of a result message, shared by
// [SlackResultMessage] and the handler's hand-written JSON encoder so that
// both always say the same thing.
type slackParts struct {
	text    string   // fallback text: the result line
	summary string   // result line, newline, bold title
	fields  []string // "*Label*\nvalue", mrkdwn
	context string   // decision time, or ""
}

func slackResultParts(r Request) slackParts {
	line := string(appendSlackResultLine(nil, r.Status, r.ReviewedBy, false))
	title := slackCut(r.Title, slackMaxTitle)
	if title == "" {
		title = "Untitled request"
	}
	p := slackParts{
		text:    line,
		summary: line + "\n*" + slackEscape(title) + "*",
	}
	p.fields = append(p.fields, "*Risk*\n"+strconv.Itoa(r.RiskScore)+" ("+r.RiskLevel()+")")
	if v := slackCut(r.Agent, slackMaxName); v != "" {
		p.fields = append(p.fields, "*Agent*\n"+slackEscape(v))
	}
	if v := slackCut(r.Action, slackMaxName); v != "" {
		p.fields = append(p.fields, "*Action*\n"+slackEscape(v))
	}
	if v := slackCut(r.ID, slackMaxID); v != "" {
		p.fields = append(p.fields, "*Request ID*\n"+slackEscape(v))
	}
	if r.ReviewedAt != nil && r.Status != StatusPending {
		verb := "Decided"
		switch r.Status {
		case StatusApproved:
			verb = "Approved"
		case StatusDenied:
			verb = "Denied"
		case StatusExpired:
			verb = "Expired"
		}
		if src := r.ReviewSource.Title(); src != "" && r.Status != StatusExpired {
			verb += " via " + slackEscape(slackCut(src, slackMaxName))
		}
		p.context = verb + " " + slackDate(*r.ReviewedAt)
	}
	return p
}

// appendSlackResultLine appends the result line for a request in status
// st decided by reviewer. When jsonEscape is set the line is appended as
// the inside of a JSON string (without quotes).
func appendSlackResultLine(dst []byte, st Status, reviewer string, jsonEscape bool) []byte {
	switch st {
	case StatusApproved:
		dst = append(dst, ":white_check_mark: *APPROVED*"...)
	case StatusDenied:
		dst = append(dst, ":x: *DENIED*"...)
	case StatusExpired:
		return append(dst, ":warning: Approval request has expired"...)
	case StatusPending:
		return append(dst, ":hourglass_flowing_sand: Awaiting review"...)
	default:
		// A status of the host's own: text from the request like any other.
		dst = append(dst, ":grey_question: *"...)
		dst = appendSlackText(dst, strings.ToUpper(slackCut(string(st), 50)), jsonEscape)
		dst = append(dst, '*')
	}
	if name := slackCut(reviewer, slackMaxName); name != "" {
		dst = append(dst, " by "...)
		dst = appendSlackText(dst, name, jsonEscape)
	}
	return dst
}

// slackDate formats t with Slack's date syntax, so that each reader sees
// it in their own time zone, with a UTC fallback for old clients.
func slackDate(t time.Time) string {
	return "<!date^" + strconv.FormatInt(t.Unix(), 10) + "^{date_short_pretty} at {time}|" +
		t.UTC().Format("2006-01-02 15:04 UTC") + ">"
}

// slackEscape escapes &, < and > as Slack asks for text that must not be
// read as a mention, a link or a command.
func slackEscape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return string(appendSlackText(nil, s, false))
}

// slackCut returns s on one line (control characters, including
// newlines, become spaces; surrounding space is trimmed), at most n runes
// long, ending with "…" when it was cut.
func slackCut(s string, n int) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if !clean {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, s)
	}
	s = strings.TrimSpace(s)
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return strings.TrimSpace(s[:i]) + "…"
}

// appendSlackText appends s with &, < and > escaped for Slack; when
// jsonEscape is set, the result is also escaped as the inside of a JSON
// string.
func appendSlackText(dst []byte, s string, jsonEscape bool) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		default:
			continue
		}
		dst = appendMaybeJSON(dst, s[start:i], jsonEscape)
		dst = append(dst, rep...)
		start = i + 1
	}
	return appendMaybeJSON(dst, s[start:], jsonEscape)
}

func appendMaybeJSON(dst []byte, s string, jsonEscape bool) []byte {
	if jsonEscape {
		return appendJSONStringBody(dst, s)
	}
	return append(dst, s...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a quoted JSON string.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringBody(dst, s)
	return append(dst, '"')
}

// appendJSONStringBody appends s escaped as the inside of a JSON string:
// quotes, backslashes and control characters are escaped, as are U+2028
// and U+2029 (which some JavaScript parsers reject), and each byte of
// invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendJSONStringBody(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// appendSlackReplacement appends the JSON body that replaces a message
// through a response_url with r's result: {"replace_original":true,
// "text":…,"blocks":[…]}, the same blocks as [SlackResultMessage].
func appendSlackReplacement(dst []byte, r Request) []byte {
	p := slackResultParts(r)
	dst = append(dst, `{"replace_original":true,"text":`...)
	dst = appendJSONString(dst, p.text)
	dst = append(dst, `,"blocks":[{"type":"section","text":{"type":"mrkdwn","text":`...)
	dst = appendJSONString(dst, p.summary)
	dst = append(dst, `}},{"type":"section","fields":[`...)
	for i, f := range p.fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":"mrkdwn","text":`...)
		dst = appendJSONString(dst, f)
		dst = append(dst, '}')
	}
	dst = append(dst, "]}"...)
	if p.context != "" {
		dst = append(dst, `,{"type":"context","elements":[{"type":"mrkdwn","text":`...)
		dst = appendJSONString(dst, p.context)
		dst = append(dst, "}]}"...)
	}
	return append(dst, "]}"...)
}

// appendSlackEphemeral appends the JSON body of a message shown only to
// the user who clicked, leaving the original message as it is:
// {"response_type":"ephemeral","replace_original":false,"text":":warning: …"}.
func appendSlackEphemeral(dst []byte, msg string) []byte {
	dst = append(dst, `{"response_type":"ephemeral","replace_original":false,"text":":warning: `...)
	dst = appendJSONStringBody(dst, msg)
	return append(dst, `"}`...)
}
