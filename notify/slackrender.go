package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/chatnotify/chatnotify/approval"
)

// Block Kit limits (docs.slack.dev/reference/block-kit). Messages are
// truncated to fit, never refused.
const (
	slackMaxText        = 3000 // section and context text
	slackMaxHeader      = 150  // header plain_text
	slackMaxButtonText  = 75
	slackMaxFields      = 10
	slackMaxFieldText   = 2000
	slackMaxBlocks      = 50
	slackMaxButtonValue = 2000
	slackMaxFallback    = 3000 // the message's top-level text
)

// slackMessage is a rendered Slack message: Block Kit blocks plus the
// plain text shown in notifications and by clients without blocks.
type slackMessage struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks,omitempty"`
}

// slackRender holds what rendering needs besides the event.
type slackRender struct {
	// interactive puts Approve and Deny buttons on approval requests; only
	// messages posted with a bot token can carry them.
	interactive bool
	// console is the console link to show (already checked by safeLink),
	// or "".
	console string
}

// renderSlack renders ev for Slack. It never fails: unknown events become
// a short text message, and every text is cut to Block Kit's limits.
func renderSlack(ev Event, o slackRender) slackMessage {
	var m slackMessage
	switch e := deref(ev).(type) {
	case ApprovalRequested:
		m = o.approval(e.Request)
	case DriftAlert:
		m = o.drift(e)
	case AgentStatusChanged:
		m = o.agent(e)
	case ApprovalDecided:
		m = slackDecided(e.Request)
	case TestMessage:
		m = slackMessage{Text: slackEscape(cleanText(e.Text), slackMaxFallback)}
	default:
		m = slackMessage{Text: slackEscape("Notification: "+string(ev.EventType()), slackMaxFallback)}
	}
	if len(m.Blocks) > slackMaxBlocks {
		m.Blocks = m.Blocks[:slackMaxBlocks]
	}
	return m
}

func (o slackRender) approval(r approval.Request) slackMessage {
	t := riskTone(r)
	risk := fmt.Sprintf("%s %s risk (%d)", t.slackEmoji, t.word, r.RiskScore)
	title := oneLine(r.Title)
	if title == "" {
		title = "Untitled request"
	}

	fields := []*slack.TextBlockObject{slackField("Risk", risk)}
	if v := oneLine(r.Agent); v != "" {
		fields = append(fields, slackField("Agent", slackEscape(v, slackMaxFieldText)))
	}
	if v := oneLine(r.Action); v != "" {
		fields = append(fields, slackField("Action", slackEscape(v, slackMaxFieldText)))
	}
	if v := oneLine(r.RequestedBy); v != "" {
		fields = append(fields, slackField("Requested by", slackEscape(v, slackMaxFieldText)))
	}
	if !r.ExpiresAt.IsZero() {
		fields = append(fields, slackField("Expires", slackDate(r.ExpiresAt)))
	}
	fields = append(fields, slackField("Request ID", slackEscape(oneLine(r.ID), slackMaxFieldText)))

	blocks := []slack.Block{
		slackHeader(":raised_hand: Approval requested"),
		slackTitled(title, r.Description),
		slack.NewSectionBlock(nil, fields, nil),
	}
	if !r.CreatedAt.IsZero() {
		blocks = append(blocks, slackContext("Requested "+slackDate(r.CreatedAt)))
	}

	var buttons []slack.BlockElement
	fitsValue := r.ID != "" && len(r.ID) <= slackMaxButtonValue
	if o.interactive && fitsValue {
		buttons = append(buttons,
			slack.NewButtonBlockElement(approval.SlackApproveAction, r.ID, slackPlain("Approve", slackMaxButtonText)).WithStyle(slack.StylePrimary),
			slack.NewButtonBlockElement(approval.SlackDenyAction, r.ID, slackPlain("Deny", slackMaxButtonText)).WithStyle(slack.StyleDanger),
		)
	}
	switch {
	case o.interactive && o.console != "":
		buttons = append(buttons, slackLinkButton(o.console))
	case o.console != "":
		blocks = append(blocks, slack.NewSectionBlock(slackMrkdwn(slackLink(o.console, "View in console")+" to approve or deny this request."), nil, nil))
	case !o.interactive || !fitsValue:
		blocks = append(blocks, slackContext("Approve or deny this request in the console."))
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock("approval_actions", buttons...))
	}
	text := fmt.Sprintf("Approval requested: %s (%s risk, %d)", title, t.word, r.RiskScore)
	return slackMessage{Text: slackEscape(text, slackMaxFallback), Blocks: blocks}
}

func (o slackRender) drift(a DriftAlert) slackMessage {
	t := severityTone(a.Severity)
	res := oneLine(a.Resource)
	if res == "" {
		res = "unknown resource"
	}
	blocks := []slack.Block{
		slackHeader(":warning: Drift detected"),
		slackTitled(res, a.Summary),
	}
	fields := []*slack.TextBlockObject{
		slackField("Severity", t.slackEmoji+" "+slackEscape(t.word, 100)+" severity"),
		slackField("Resource", slackEscape(res, slackMaxFieldText)),
		slackField("Expected", slackEscape(oneLine(a.Expected), slackMaxFieldText-20)),
		slackField("Actual", slackEscape(oneLine(a.Actual), slackMaxFieldText-20)),
	}
	if !a.DetectedAt.IsZero() {
		fields = append(fields, slackField("Detected", slackDate(a.DetectedAt)))
	}
	if v := oneLine(a.ID); v != "" {
		fields = append(fields, slackField("Alert ID", slackEscape(v, slackMaxFieldText)))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	blocks = o.consoleBlock(blocks)
	text := fmt.Sprintf("Drift detected on %s (%s severity)", res, t.word)
	return slackMessage{Text: slackEscape(text, slackMaxFallback), Blocks: blocks}
}

func (o slackRender) agent(a AgentStatusChanged) slackMessage {
	t := agentTone(a.Status)
	name := oneLine(a.Agent)
	if name == "" {
		name = "unknown agent"
	}
	verb := strings.ToLower(t.word)
	blocks := []slack.Block{
		slackHeader(t.slackEmoji + " Agent status changed"),
		slack.NewSectionBlock(slackMrkdwn("*"+slackEscape(name, 250)+"* "+slackEscape(verb, 100)), nil, nil),
	}
	fields := []*slack.TextBlockObject{
		slackField("Agent", slackEscape(name, slackMaxFieldText)),
		slackField("Status", t.slackEmoji+" "+slackEscape(t.word, 100)),
	}
	if a.PreviousStatus != "" {
		fields = append(fields, slackField("Previous status", slackEscape(agentTone(a.PreviousStatus).word, 100)))
	}
	if !a.ChangedAt.IsZero() {
		fields = append(fields, slackField("Changed", slackDate(a.ChangedAt)))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	if r := strings.TrimSpace(cleanText(a.Reason)); r != "" {
		blocks = append(blocks, slack.NewSectionBlock(slackMrkdwn(slackEscape("*Reason*\n"+r, slackMaxText)), nil, nil))
	}
	blocks = o.consoleBlock(blocks)
	text := fmt.Sprintf("Agent %s %s", name, verb)
	if r := oneLine(a.Reason); r != "" {
		text += ": " + r
	}
	return slackMessage{Text: slackEscape(text, slackMaxFallback), Blocks: blocks}
}

// consoleBlock appends the console link: a URL button for bot messages, a
// mrkdwn link for webhook messages (which carry nothing interactive).
func (o slackRender) consoleBlock(blocks []slack.Block) []slack.Block {
	switch {
	case o.console == "":
		return blocks
	case o.interactive:
		return append(blocks, slack.NewActionBlock("console", slackLinkButton(o.console)))
	}
	return append(blocks, slackContext(slackLink(o.console, "View in console")))
}

// slackDecided renders a decided request as the message that replaces
// the original copy, exactly as approval's interaction handler does: the
// result on top, the request's details below, no buttons.
func slackDecided(r approval.Request) slackMessage {
	text, blocks := approval.SlackResultMessage(r)
	return slackMessage{Text: text, Blocks: blocks}
}

// slackTitled is a section with title in bold and text below it. Headers
// are plain_text, whose handling of &, < and > is not documented: user
// text goes only into escaped mrkdwn like this.
func slackTitled(title, text string) *slack.SectionBlock {
	body := "*" + slackEscape(title, 250) + "*"
	if t := strings.TrimSpace(cleanText(text)); t != "" {
		body += "\n" + slackEscape(t, slackMaxText-utf8.RuneCountInString(body)-1)
	}
	return slack.NewSectionBlock(slackMrkdwn(body), nil, nil)
}

func slackField(label, value string) *slack.TextBlockObject {
	return slackMrkdwn(cut("*"+label+"*\n"+value, slackMaxFieldText))
}

func slackMrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func slackPlain(s string, n int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, cut(oneLine(s), n), true, false)
}

func slackHeader(s string) *slack.HeaderBlock {
	return slack.NewHeaderBlock(slackPlain(s, slackMaxHeader))
}

func slackContext(mrkdwn string) *slack.ContextBlock {
	return slack.NewContextBlock("", slackMrkdwn(mrkdwn))
}

func slackLinkButton(u string) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(approval.SlackConsoleAction, "", slackPlain("View in console", slackMaxButtonText)).WithURL(u)
}

// slackLink is a mrkdwn link. u has passed safeLink, so it holds no
// space, '<', '>' or '|'; '&' is escaped as Slack asks.
func slackLink(u, label string) string {
	return "<" + strings.ReplaceAll(u, "&", "&amp;") + "|" + slackEscape(label, 200) + ">"
}

// slackDate formats t with Slack's date syntax, so each reader sees their
// own time zone, with a UTC fallback.
func slackDate(t time.Time) string {
	return "<!date^" + strconv.FormatInt(t.Unix(), 10) + "^{date_short_pretty} {time}|" + plainTime(t) + ">"
}

// slackEscape escapes &, < and > (so user text cannot mention @channel,
// a user, or forge a link) and cuts the result to at most n characters
// without splitting an escape, ending with "…" when it cut.
func slackEscape(s string, n int) string {
	if n < 1 {
		return ""
	}
	full := slackEscaper.Replace(s)
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

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
