package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/slackmsg"
	"github.com/chatnotify/chatnotify/internal/teamsmsg"
	"github.com/chatnotify/chatnotify/teams"
)

// teamsMaxBytes keeps a rendered Teams message under the 28 KB limit of
// incoming webhooks, with room to spare.
const teamsMaxBytes = 27 * 1000

// Limits on the texts of a Teams card, in characters. Long texts
// (descriptions, summaries, expected and actual values) start at
// teamsLongText and are cut further if the message is still too large.
const (
	teamsMaxTitle = teamsmsg.MaxTitle
	teamsMaxFact  = teamsmsg.MaxFact
	teamsLongText = 3000
	teamsMinText  = 100
)

// teamsRender holds what rendering a Teams card needs besides the event.
type teamsRender struct {
	// console is the checked console link, or "".
	console string
	// approveURL and denyURL are the signed Approve and Deny links, or ""
	// when the host has no public URL or signer.
	approveURL, denyURL string
	// long caps long texts; 0 means teamsLongText.
	long int
	// bot renders for a conversation reached through the host's bot:
	// cards of version 1.5 whose Approve and Deny are Action.Execute
	// buttons (see teamsbotrender.go).
	bot bool
}

// renderTeams renders ev as a Teams webhook message (an Adaptive Card in
// its envelope), as JSON under teamsMaxBytes. It never fails for the
// events of this package: long texts are cut until the message fits.
func renderTeams(ev Event, o teamsRender) ([]byte, error) {
	return fitTeams(o, func(o teamsRender) any { return teams.NewMessage(o.card(ev)) })
}

// fitTeams renders the message wrap makes of o as JSON under
// teamsMaxBytes, cutting long texts until it fits.
func fitTeams(o teamsRender, wrap func(teamsRender) any) ([]byte, error) {
	o.console = safeLink(o.console)
	for long := teamsLongText; ; long /= 3 {
		if long < teamsMinText {
			long = 0 // drop long texts altogether
		}
		o.long = long
		b, err := json.Marshal(wrap(o))
		if err != nil {
			return nil, err
		}
		if len(b) <= teamsMaxBytes || long == 0 {
			if len(b) > teamsMaxBytes {
				return nil, fmt.Errorf("notify: Teams message is %d bytes, over the limit", len(b))
			}
			return b, nil
		}
	}
}

func (o teamsRender) card(ev Event) teams.Card {
	switch e := deref(ev).(type) {
	case ApprovalRequested:
		return o.approval(e.Request)
	case DriftAlert:
		return o.drift(e)
	case AgentStatusChanged:
		return o.agent(e)
	case TestMessage:
		return teams.NewCard(teams.TextBlock{Text: teamsText(testText(e.Text), max(teamsMinText, o.textCap(teamsLongText))), Wrap: true})
	case nil:
		return teams.NewCard(teams.TextBlock{Text: "Notification", Wrap: true})
	}
	return teams.NewCard(teams.TextBlock{Text: teamsText("Notification: "+oneLine(string(ev.eventType())), teamsMaxTitle), Wrap: true})
}

// textCap returns the cap for a long text, at most n.
func (o teamsRender) textCap(n int) int {
	if o.long == 0 {
		return 0
	}
	return min(n, o.long)
}

func (o teamsRender) approval(r approval.Request) teams.Card {
	body := o.approvalBody(r)
	var actions []teams.Action
	switch {
	case o.bot && r.ID != "":
		// Real buttons, in an ActionSet with the console link.
		body = append(body, teams.ActionSet{Actions: o.botButtons(r.ID)})
		return teams.NewCard(body...)
	case o.approveURL != "" && o.denyURL != "":
		actions = append(actions,
			teams.ActionOpenURL{Title: "Approve", URL: o.approveURL},
			teams.ActionOpenURL{Title: "Deny", URL: o.denyURL},
		)
	case o.console != "":
		// Only when the card links to the console does it send readers
		// there.
		body = append(body, teams.TextBlock{Text: "Approve or deny this request in the console.", IsSubtle: true, Wrap: true})
	}
	if o.console != "" {
		actions = append(actions, teams.ActionOpenURL{Title: "View in console", URL: o.console})
	}
	c := teams.NewCard(body...)
	c.Actions = actions
	return c
}

// approvalBody is the body of an approval request's card, without its
// buttons: the colour-coded header, the description and the facts.
func (o teamsRender) approvalBody(r approval.Request) []teams.Element {
	t := riskTone(r)
	title := oneLine(r.Title)
	if title == "" {
		title = "Untitled request"
	}
	body := []teams.Element{teamsHead(t, "Approval requested", title, "Risk "+riskText(r))}
	if d := strings.TrimSpace(cleanText(r.Description)); d != "" && o.long > 0 {
		body = append(body, teams.TextBlock{Text: teamsText(d, o.textCap(teamsLongText)), Wrap: true})
	}
	facts := []teams.Fact{{Title: "Risk", Value: riskText(r)}}
	facts = appendFact(facts, "Agent", r.Agent)
	facts = appendFact(facts, "Action", r.Action)
	facts = appendFact(facts, "Requested by", r.RequestedBy)
	if !r.CreatedAt.IsZero() {
		facts = append(facts, teams.Fact{Title: "Requested", Value: teamsTime(r.CreatedAt)})
	}
	if !r.ExpiresAt.IsZero() {
		facts = append(facts, teams.Fact{Title: "Expires", Value: teamsTime(r.ExpiresAt)})
	}
	facts = appendFact(facts, "Request ID", r.ID)
	return append(body, teams.FactSet{Facts: facts})
}

func (o teamsRender) drift(a DriftAlert) teams.Card {
	t := severityTone(a.Severity)
	res := oneLine(a.Resource)
	if res == "" {
		res = "unknown resource"
	}
	body := []teams.Element{teamsHead(t, "Drift detected", res, teamsText(t.word, 100)+" severity")}
	if s := strings.TrimSpace(cleanText(a.Summary)); s != "" && o.long > 0 {
		body = append(body, teams.TextBlock{Text: teamsText(s, o.textCap(teamsLongText)), Wrap: true})
	}
	facts := []teams.Fact{
		{Title: "Severity", Value: teamsText(t.word, 100)},
		{Title: "Resource", Value: teamsText(res, teamsMaxFact)},
		{Title: "Expected", Value: teamsText(oneLine(a.Expected), o.textCap(teamsMaxFact*2))},
		{Title: "Actual", Value: teamsText(oneLine(a.Actual), o.textCap(teamsMaxFact*2))},
	}
	if !a.DetectedAt.IsZero() {
		facts = append(facts, teams.Fact{Title: "Detected", Value: teamsTime(a.DetectedAt)})
	}
	facts = appendFact(facts, "Alert ID", a.ID)
	body = append(body, teams.FactSet{Facts: facts})
	return o.withConsole(teams.NewCard(body...))
}

func (o teamsRender) agent(a AgentStatusChanged) teams.Card {
	t := agentTone(a.Status)
	name := oneLine(a.Agent)
	if name == "" {
		name = "unknown agent"
	}
	body := []teams.Element{teamsHead(t, "Agent status changed", name, teamsText(t.word, 100))}
	facts := []teams.Fact{
		{Title: "Agent", Value: teamsText(name, teamsMaxFact)},
		{Title: "Status", Value: teamsText(t.word, 100)},
	}
	if a.PreviousStatus != "" {
		facts = append(facts, teams.Fact{Title: "Previous status", Value: teamsText(agentTone(a.PreviousStatus).word, 100)})
	}
	if !a.ChangedAt.IsZero() {
		facts = append(facts, teams.Fact{Title: "Changed", Value: teamsTime(a.ChangedAt)})
	}
	body = append(body, teams.FactSet{Facts: facts})
	if r := strings.TrimSpace(cleanText(a.Reason)); r != "" && o.long > 0 {
		body = append(body, teams.TextBlock{Text: "**Reason:** " + teamsText(r, o.textCap(teamsLongText)), Wrap: true})
	}
	return o.withConsole(teams.NewCard(body...))
}

// teamsHead is the colour-coded top of an event card: what happened
// (kind), its subject in large bold type, and line, already escaped, in
// bold in the tone's colour after the tone's emoji.
func teamsHead(t tone, kind, subject, line string) teams.Container {
	return teams.Container{
		Style: t.teamsStyle,
		Bleed: true,
		Items: []teams.Element{
			teams.TextBlock{Text: kind, Weight: "bolder", IsSubtle: true, Wrap: true},
			teams.TextBlock{Text: teamsText(subject, teamsMaxTitle), Weight: "bolder", Size: "large", Wrap: true},
			teams.TextBlock{Text: "**" + t.teamsEmoji() + " " + line + "**", Color: t.teamsColor, Wrap: true},
		},
	}
}

func (o teamsRender) withConsole(c teams.Card) teams.Card {
	if o.console != "" {
		c.Actions = append(c.Actions, teams.ActionOpenURL{Title: "View in console", URL: o.console})
	}
	return c
}

// teamsDecided renders the card that shows the decided (or expired)
// request r: the follow-up posted to a Teams webhook channel, and the
// card put over every bot copy. It is internal/teamsmsg's result card,
// the one the bot's messaging endpoint (package approval) answers an
// Action.Execute click with, so the clicked card and every copy show the
// same.
func teamsDecided(r approval.Request) teams.Card {
	var at time.Time
	if r.ReviewedAt != nil {
		at = *r.ReviewedAt
	}
	return teamsmsg.ResultCard(teamsmsg.Outcome{
		ID: r.ID, Title: r.Title, Status: string(r.Status),
		ReviewedBy: r.ReviewedBy, ReviewedAt: at, Notes: r.ReviewNotes,
		RiskScore: r.RiskScore, RiskLevel: r.RiskLevel(),
	})
}

// appendFact appends a fact when value has text, escaped and cut.
func appendFact(facts []teams.Fact, title, value string) []teams.Fact {
	if v := oneLine(value); v != "" {
		return append(facts, teams.Fact{Title: title, Value: teamsText(v, teamsMaxFact)})
	}
	return facts
}

// teamsText cuts s to n characters and escapes Teams markdown, so user
// text shows as typed and cannot add links or formatting. Cutting first
// means an escape is never split.
func teamsText(s string, n int) string {
	return teams.EscapeMarkdown(cut(s, n))
}

// teamsTime writes t as the result cards of package teams do, and as
// the Slack dates' plain fallback: "2023-11-14 22:13 UTC".
func teamsTime(t time.Time) string {
	return slackmsg.PlainTime(t)
}

// teamsEmoji is the emoji shown before a tone's word on Teams cards.
func (t tone) teamsEmoji() string {
	switch t.slackEmoji {
	case ":large_green_circle:":
		return "🟢"
	case ":large_yellow_circle:":
		return "🟡"
	case ":red_circle:":
		return "🔴"
	case ":rotating_light:":
		return "🚨"
	case ":rocket:":
		return "🚀"
	case ":octagonal_sign:":
		return "🛑"
	case ":x:":
		return "❌"
	}
	return "ℹ️"
}
