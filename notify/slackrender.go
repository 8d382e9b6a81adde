package notify

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/slackmsg"
)

// Block Kit limits (docs.slack.dev/reference/block-kit), in characters.
// Every message is cut to fit them, whatever its input, and never
// refused: a text is cut by [slackmsg.Escape], after escaping, on a rune
// and entity boundary, ending with "…". Two more limits hold by
// construction: action_id and block_id (at most 255) are constants here
// and in slackmsg, and a context block (at most 10 elements) has one.
const (
	slackMaxText        = 3000 // section text, and a context element's text
	slackMaxHeader      = 150  // header plain_text
	slackMaxFields      = 10   // fields of a section
	slackMaxFieldText   = 2000 // text of one field
	slackMaxButtonText  = 75   // button plain_text
	slackMaxButtonURL   = 3000 // button url (the raw URL: it is not escaped)
	slackMaxButtonValue = 2000 // button value
	slackMaxBlocks      = 50   // blocks of a message

	// slackMaxFallback caps the message's top-level text. Slack truncates
	// it only at 40,000 characters and advises at most 4,000; with blocks
	// it is only the notification and the text of clients that show no
	// blocks, so it is kept to the section limit: the same text is never
	// allowed to be longer in the fallback than in the message.
	slackMaxFallback = 3000

	// slackMaxBlocksJSON bounds the JSON of a message's blocks. No
	// document gives this limit, but Slack answers msg_blocks_too_long
	// from about 13,200 characters (protocol.md §13, bolt-js #2509). The
	// blocks are measured as sent (encoding/json, which writes & < > as
	// \u0026 …) in bytes, which is never less than characters by any
	// count, and must stay below this.
	slackMaxBlocksJSON = 12000

	// slackMaxTitle caps the bold title (or resource, or agent) of a
	// message, before its description.
	slackMaxTitle = 250
	// slackMinCap is the shortest a user text is cut to when a message
	// must shrink to fit slackMaxBlocksJSON.
	slackMinCap = 16
)

// The block_id of action blocks.
const (
	slackApprovalBlock = "approval_actions"
	slackConsoleBlock  = "console"
)

// slackMessage is a rendered Slack message: Block Kit blocks plus the
// plain text shown in notifications and by clients without blocks.
type slackMessage struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks,omitempty"`
}

// slackRender holds what rendering needs besides the event.
type slackRender struct {
	// interactive marks a message posted with a bot token: it can carry
	// buttons (Approve, Deny, and the console link as a URL button).
	// Webhook messages carry no buttons; the console link is a mrkdwn
	// link in their text.
	interactive bool
	// console is the console link to show (already checked by safeLink),
	// or "".
	console string
	// textCap, when > 0, is the most characters any user text may keep
	// (on top of its own limit): fitSlack lowers it until a message fits
	// slackMaxBlocksJSON.
	textCap int
}

// renderSlack renders ev for Slack. It never fails: unknown events become
// a short text message, and every text is cut so that the message keeps
// every Block Kit limit above, for any input.
func renderSlack(ev Event, o slackRender) slackMessage {
	if ev == nil {
		return slackMessage{Text: "Notification"}
	}
	// Callers pass a checked link; checked again, so that no input can
	// put a bad or over-long URL on a button.
	o.console = safeLink(o.console)
	switch e := deref(ev).(type) {
	case ApprovalRequested:
		r := clipRequest(e.Request)
		return fitSlack(o, func(o slackRender) slackMessage { return o.approval(r) })
	case DriftAlert:
		for _, p := range []*string{&e.ID, &e.Resource, &e.Summary, &e.Expected, &e.Actual, (*string)(&e.Severity)} {
			*p = clip(*p)
		}
		return fitSlack(o, func(o slackRender) slackMessage { return o.drift(e) })
	case AgentStatusChanged:
		for _, p := range []*string{&e.Agent, &e.Reason, (*string)(&e.Status), (*string)(&e.PreviousStatus)} {
			*p = clip(*p)
		}
		return fitSlack(o, func(o slackRender) slackMessage { return o.agent(e) })
	case TestMessage:
		return slackMessage{Text: slackmsg.Escape(testText(clip(e.Text)), slackMaxFallback)}
	}
	return slackMessage{Text: slackmsg.Escape("Notification: "+oneLine(string(ev.eventType())), slackMaxFallback)}
}

// slackDecided renders a decided request as the message that replaces
// every copy of it (chat.update, and a click's response_url): the result
// line (the one the interaction handler answers with) above the request's
// title, its risk, agent, action and ID, and when and where it was
// decided. It carries no buttons.
func slackDecided(r approval.Request) slackMessage {
	r = clipRequest(r)
	return fitSlack(slackRender{}, func(o slackRender) slackMessage { return o.decided(r) })
}

// slackMaxInput is the most characters of a user text a Slack message
// could show (a section), with room to spare: clip cuts longer texts to
// it once, before fitSlack renders a message several times.
const slackMaxInput = slackMaxText + 1000

// clip returns s as it is when it has at most slackMaxInput bytes, and
// otherwise cleaned (cleanText) and cut to slackMaxInput+1 characters
// with a "…": still too long for any Slack text, so the renderer's own
// cut (and its "…") happens as it would have.
func clip(s string) string {
	if len(s) <= slackMaxInput {
		return s // cleaned later, as every text is
	}
	if n := 8 * slackMaxInput; len(s) > n {
		// Bound the cleaning too: a rune is at most 4 bytes, so this
		// keeps enough unless most of it is invisible characters.
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return cut(cleanText(s), slackMaxInput+1)
}

// clipRequest clips r's texts. Its ID, which a button value must carry
// exactly, is left alone unless too long to fit one anyway.
func clipRequest(r approval.Request) approval.Request {
	for _, p := range []*string{&r.Title, &r.Description, &r.Agent, &r.Action, &r.RequestedBy, &r.ReviewedBy, &r.ReviewNotes, (*string)(&r.Status), (*string)(&r.ReviewSource)} {
		*p = clip(*p)
	}
	if len(r.ID) > slackMaxButtonValue {
		r.ID = clip(r.ID)
	}
	return r
}

// fitSlack renders with render and, when the blocks' JSON would reach
// slackMaxBlocksJSON, renders again with every user text capped, lowering
// the cap (a binary search for the largest that fits) so that the longest
// texts are cut first: the description, then fields, then titles. Only a
// message that fits is returned. Should even the shortest texts not fit
// (the console link is the one long text that is never cut: a URL of
// 3,000 '&' is 18,000 bytes of JSON), the link is dropped and the search
// starts again; as a last resort the message is its fallback text alone.
func fitSlack(o slackRender, render func(slackRender) slackMessage) slackMessage {
	if m, ok := fitSlackCap(o, render); ok {
		return m
	}
	o.console = ""
	if m, ok := fitSlackCap(o, render); ok {
		return m
	}
	o.textCap = slackMinCap
	return slackMessage{Text: render(o).Text}
}

// fitSlackCap returns the message render makes with the largest cap that
// fits (no cap at all when the message fits as it is), and false when
// none does.
func fitSlackCap(o slackRender, render func(slackRender) slackMessage) (slackMessage, bool) {
	o.textCap = 0
	if m := render(o); slackFits(m) {
		return m, true
	}
	o.textCap = slackMinCap
	best := render(o)
	if !slackFits(best) {
		return slackMessage{}, false
	}
	for lo, hi := slackMinCap+1, slackMaxText; lo <= hi; {
		o.textCap = (lo + hi) / 2
		if m := render(o); slackFits(m) {
			best, lo = m, o.textCap+1
		} else {
			hi = o.textCap - 1
		}
	}
	return best, true
}

// slackFits reports whether m's blocks are few and short enough for
// Slack.
func slackFits(m slackMessage) bool {
	if len(m.Blocks) > slackMaxBlocks {
		return false
	}
	b, err := json.Marshal(m.Blocks)
	return err == nil && len(b) < slackMaxBlocksJSON
}

// limit returns the most characters a user text limited to n may keep.
func (o slackRender) limit(n int) int {
	if o.textCap > 0 {
		return min(n, o.textCap)
	}
	return n
}

func (o slackRender) approval(r approval.Request) slackMessage {
	t := riskTone(r)
	title := oneLine(r.Title)
	if title == "" {
		title = "Untitled request"
	}
	fields := []*slack.TextBlockObject{slackField("Risk", t.slackEmoji+" "+riskText(r))}
	fields = o.appendField(fields, "Agent", r.Agent)
	fields = o.appendField(fields, "Action", r.Action)
	fields = o.appendField(fields, "Requested by", r.RequestedBy)
	if !r.ExpiresAt.IsZero() {
		fields = append(fields, slackField("Expires", slackmsg.Date(r.ExpiresAt)))
	}
	fields = o.appendField(fields, "Request ID", r.ID)

	blocks := []slack.Block{
		slackHeader(":raised_hand: Approval requested"),
		o.titled(title, r.Description),
		slackFields(fields),
	}
	if !r.CreatedAt.IsZero() {
		blocks = append(blocks, slackContext("Requested "+slackmsg.Date(r.CreatedAt)))
	}

	buttons := o.decisionButtons(r)
	decides := len(buttons) > 0
	switch {
	case o.interactive && o.console != "":
		buttons = append(buttons, slackLinkButton(o.console))
		if !decides {
			blocks = append(blocks, slackContext("Approve or deny this request in the console."))
		}
	case o.console != "":
		// A webhook message links to the console in its text, when the
		// link fits a section once escaped; otherwise it says nothing of
		// a console it cannot link to (nor does any message without a
		// console link).
		if s := slackLinkText(o.console, " to approve or deny this request."); s != "" {
			blocks = append(blocks, slack.NewSectionBlock(slackMrkdwn(s), nil, nil))
		}
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock(slackApprovalBlock, buttons...))
	}
	text := "Approval requested: " + slackmsg.Escape(title, slackMaxTitle) + ", risk " + riskText(r)
	return slackMessage{Text: text, Blocks: blocks}
}

// decisionButtons returns the Approve and Deny buttons of r, or none:
// only an interactive message can carry them, and only when r's ID fits a
// button value. The value is the plain request ID, as the spec says; the
// interaction handler finds the organisation from the Slack-signed team
// and channel of the click.
func (o slackRender) decisionButtons(r approval.Request) []slack.BlockElement {
	if !o.interactive || r.ID == "" || len(r.ID) > slackMaxButtonValue || !utf8.ValidString(r.ID) {
		return nil
	}
	return []slack.BlockElement{
		slack.NewButtonBlockElement(slackmsg.ApproveAction, r.ID, slackPlain("Approve", slackMaxButtonText)).WithStyle(slack.StylePrimary),
		slack.NewButtonBlockElement(slackmsg.DenyAction, r.ID, slackPlain("Deny", slackMaxButtonText)).WithStyle(slack.StyleDanger),
	}
}

func (o slackRender) drift(a DriftAlert) slackMessage {
	t := severityTone(a.Severity)
	res := oneLine(a.Resource)
	if res == "" {
		res = "unknown resource"
	}
	fields := []*slack.TextBlockObject{
		slackField("Severity", t.slackEmoji+" "+slackmsg.Escape(t.word, 100)+" severity"),
	}
	fields = o.appendField(fields, "Resource", res)
	fields = o.appendField(fields, "Expected", a.Expected)
	fields = o.appendField(fields, "Actual", a.Actual)
	if !a.DetectedAt.IsZero() {
		fields = append(fields, slackField("Detected", slackmsg.Date(a.DetectedAt)))
	}
	fields = o.appendField(fields, "Alert ID", a.ID)
	blocks := []slack.Block{
		slackHeader(":warning: Drift detected"),
		o.titled(res, a.Summary),
		slackFields(fields),
	}
	blocks = o.consoleBlock(blocks)
	text := "Drift detected on " + slackmsg.Escape(res, slackMaxTitle) + " (" + slackmsg.Escape(t.word, 100) + " severity)"
	return slackMessage{Text: text, Blocks: blocks}
}

func (o slackRender) agent(a AgentStatusChanged) slackMessage {
	t := agentTone(a.Status)
	name := oneLine(a.Agent)
	if name == "" {
		name = "unknown agent"
	}
	verb := slackmsg.Escape(strings.ToLower(t.word), 100)
	fields := []*slack.TextBlockObject{}
	fields = o.appendField(fields, "Agent", name)
	fields = append(fields, slackField("Status", t.slackEmoji+" "+slackmsg.Escape(t.word, 100)))
	if a.PreviousStatus != "" {
		fields = append(fields, slackField("Previous status", slackmsg.Escape(agentTone(a.PreviousStatus).word, 100)))
	}
	if !a.ChangedAt.IsZero() {
		fields = append(fields, slackField("Changed", slackmsg.Date(a.ChangedAt)))
	}
	blocks := []slack.Block{
		slackHeader(t.slackEmoji + " Agent status changed"),
		slack.NewSectionBlock(slackMrkdwn("*"+slackmsg.Escape(name, o.limit(slackMaxTitle))+"* "+verb), nil, nil),
		slackFields(fields),
	}
	reason := strings.TrimSpace(cleanText(a.Reason))
	if reason != "" {
		const label = "*Reason*\n"
		body := slackmsg.Escape(reason, o.limit(slackMaxText-utf8.RuneCountInString(label)))
		blocks = append(blocks, slack.NewSectionBlock(slackMrkdwn(label+body), nil, nil))
	}
	blocks = o.consoleBlock(blocks)
	text := "Agent " + slackmsg.Escape(name, slackMaxTitle) + " " + verb
	if r := oneLine(a.Reason); r != "" {
		text += ": " + slackmsg.Escape(r, slackMaxFallback-utf8.RuneCountInString(text)-2)
	}
	return slackMessage{Text: text, Blocks: blocks}
}

func (o slackRender) decided(r approval.Request) slackMessage {
	// The result line is the one the interaction handler answers a click
	// with; the name is cleaned as any user text here.
	line := slackmsg.ResultLine(oneLine(string(r.Status)), oneLine(r.ReviewedBy))
	title := oneLine(r.Title)
	if title == "" {
		title = "Untitled request"
	}
	summary := line + "\n*" + slackmsg.Escape(title, o.limit(slackMaxTitle)) + "*"
	fields := []*slack.TextBlockObject{slackField("Risk", riskTone(r).slackEmoji+" "+riskText(r))}
	fields = o.appendField(fields, "Agent", r.Agent)
	fields = o.appendField(fields, "Action", r.Action)
	fields = o.appendField(fields, "Request ID", r.ID)
	blocks := []slack.Block{
		slack.NewSectionBlock(slackMrkdwn(summary), nil, nil),
		slackFields(fields),
	}
	if r.ReviewedAt != nil && r.Status != approval.StatusPending {
		verb := "Decided"
		switch r.Status {
		case approval.StatusApproved:
			verb = "Approved"
		case approval.StatusDenied:
			verb = "Denied"
		case approval.StatusExpired:
			verb = "Expired"
		}
		if src := oneLine(r.ReviewSource.Title()); src != "" && r.Status != approval.StatusExpired {
			verb += " via " + slackmsg.Escape(src, 100)
		}
		blocks = append(blocks, slackContext(verb+" "+slackmsg.Date(*r.ReviewedAt)))
	}
	return slackMessage{Text: line, Blocks: blocks}
}

// consoleBlock appends the console link of a drift alert or an agent
// status: a URL button for bot messages; for webhook messages a mrkdwn
// link, when it fits a context element once escaped.
func (o slackRender) consoleBlock(blocks []slack.Block) []slack.Block {
	switch {
	case o.console == "":
		return blocks
	case o.interactive:
		return append(blocks, slack.NewActionBlock(slackConsoleBlock, slackLinkButton(o.console)))
	}
	if s := slackLinkText(o.console, ""); s != "" {
		blocks = append(blocks, slackContext(s))
	}
	return blocks
}

// titled is a section with title in bold and text below it. Headers are
// plain_text, whose handling of &, < and > is not documented: user text
// goes only into escaped mrkdwn like this.
func (o slackRender) titled(title, text string) *slack.SectionBlock {
	body := "*" + slackmsg.Escape(title, o.limit(slackMaxTitle)) + "*"
	if t := strings.TrimSpace(cleanText(text)); t != "" {
		room := slackMaxText - utf8.RuneCountInString(body) - 1
		body += "\n" + slackmsg.Escape(t, o.limit(room))
	}
	return slack.NewSectionBlock(slackMrkdwn(body), nil, nil)
}

// appendField appends a field of user text when value has any: on one
// line, escaped and cut to fit the field with its label.
func (o slackRender) appendField(fields []*slack.TextBlockObject, label, value string) []*slack.TextBlockObject {
	v := oneLine(value)
	if v == "" {
		return fields
	}
	room := slackMaxFieldText - utf8.RuneCountInString(slackFieldLabel(label))
	return append(fields, slackField(label, slackmsg.Escape(v, o.limit(room))))
}

func slackFieldLabel(label string) string { return "*" + label + "*\n" }

// slackField is a field: label in bold above value, which is mrkdwn
// already escaped and, for user text, cut by appendField. The cut here
// is a safety net that never splits an entity: it only ever cuts our own
// short values, which it never needs to.
func slackField(label, value string) *slack.TextBlockObject {
	s := slackFieldLabel(label) + value
	if utf8.RuneCountInString(s) > slackMaxFieldText {
		s = slackFieldLabel(label) + "…"
	}
	return slackMrkdwn(s)
}

// slackFields is a section of at most slackMaxFields fields.
func slackFields(fields []*slack.TextBlockObject) *slack.SectionBlock {
	if len(fields) > slackMaxFields {
		fields = fields[:slackMaxFields]
	}
	return slack.NewSectionBlock(nil, fields, nil)
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

// slackContext is a context block of one mrkdwn element (of the
// slackMaxContext allowed), cut like a field if it were ever too long.
func slackContext(mrkdwn string) *slack.ContextBlock {
	if utf8.RuneCountInString(mrkdwn) > slackMaxText {
		mrkdwn = "…"
	}
	return slack.NewContextBlock("", slackMrkdwn(mrkdwn))
}

// slackLinkButton is the console's URL button. The URL has passed
// safeLink, which keeps it within slackMaxButtonURL (maxLinkLength).
func slackLinkButton(u string) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(slackmsg.ConsoleAction, "", slackPlain("View in console", slackMaxButtonText)).WithURL(u)
}

// slackLinkText is "<u|View in console>" followed by rest, as mrkdwn, or
// "" when it would not fit a section or context text (slackMaxText). u
// has passed safeLink, so it holds no space, '<', '>' or '|'; its '&' are
// escaped as Slack asks, which can make a link of up to maxLinkLength
// characters far longer. Such a link is dropped from the text rather than
// cut (a cut link leads nowhere, and Slack would refuse the message):
// bot messages still carry it on their URL button, whose limit applies to
// the raw URL; webhook messages then do without it.
func slackLinkText(u, rest string) string {
	s := "<" + strings.ReplaceAll(u, "&", "&amp;") + "|View in console>" + rest
	if utf8.RuneCountInString(s) > slackMaxText {
		return ""
	}
	return s
}
