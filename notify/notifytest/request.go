package notifytest

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
)

// Request is one request a [Server] received, decoded.
type Request struct {
	// Method is what was called: "chat.postMessage" or "chat.update" (the
	// Slack Web API), "webhook" (a Slack incoming webhook),
	// "response_url" (a Slack response_url), "teams" (a Teams incoming
	// webhook), "workflows" (a Teams Workflows URL), "token" (a token
	// request of the Teams bot), "sendToConversation" or
	// "updateActivity" (a post or an update through the Bot Connector).
	Method string
	// Path is the URL path of a webhook, response_url or Teams request,
	// such as "/services/T00000000/B00000000/alerts"; for a Bot Connector
	// call, as sent (escaped), such as
	// "/amer/v3/conversations/19:…@thread.tacv2%3Bmessageid=…/activities".
	Path string
	// Token is the bot token of a Web API call, from its form body.
	Token string
	// Channel is the channel of a Web API call or a response_url, or the
	// conversation of a Bot Connector call, and TS the message: the one
	// a chat.update or response_url is about, or the one a
	// chat.postMessage created.
	Channel, TS string
	// ActivityID is the card of a Bot Connector call: the one an
	// updateActivity replaces, or the one a sendToConversation created.
	ActivityID string
	// Text is a Slack message's top-level text, and Blocks its blocks.
	Text   string
	Blocks []map[string]any
	// ReplaceOriginal, DeleteOriginal and ResponseType are the fields of
	// a response_url message that say what to do with the original.
	ReplaceOriginal, DeleteOriginal bool
	ResponseType                    string
	// Cards are the Adaptive Cards of a Teams message.
	Cards []map[string]any
	// Buttons are the buttons of a Slack message's actions blocks and the
	// actions of Teams cards (those of ActionSets in the body, then the
	// card's own), in order.
	Buttons []Button
	// AllText is every text of the message (the top-level text, block
	// and card texts, titles and fact values), one per line, for
	// assertions on what a reader would see.
	AllText string
	// Body is the request body as received.
	Body []byte
	// Answer is the HTTP status the fake answered with, and Error the
	// platform error it gave, if any.
	Answer int
	Error  string
	// Received is when the fake received the request.
	Received time.Time

	rawBlocks []byte
}

// Button is a button of a message: a Slack Block Kit button or a Teams
// card action.
type Button struct {
	// Type is "button" on Slack, "Action.OpenUrl", "Action.Submit" or
	// "Action.Execute" on Teams.
	Type string
	// Verb and Data are a Teams Action.Execute's (Data also an
	// Action.Submit's): what a click sends the bot.
	Verb string
	Data map[string]any
	// Fallback is the Type of a Teams action's fallback action, if any.
	Fallback string
	// ActionID and Value are a Slack button's; Style its "primary" or
	// "danger" (a Teams action's "positive" or "destructive"), if any.
	ActionID, Value, Style string
	// Text is the label: a Slack button's text, a Teams action's title.
	Text string
	// URL is where a link button leads.
	URL string
}

// Message is a message as it stands in a fake channel: what was posted,
// with every later chat.update and response_url replacement applied to
// it, as a chat client would show it now.
type Message struct {
	// Channel is where the message is: the channel ID of a Slack message
	// posted with chat.postMessage (or through a response_url of one),
	// the path of a Slack incoming webhook ("/services/T…/B…/…") or of a
	// Teams webhook or Workflows URL, or the conversation ID of a card
	// the Teams bot posted.
	Channel string
	// ActivityID is the ID of a card the Teams bot posted.
	ActivityID string
	// TS is a Slack message's timestamp, its ID in the channel; webhook
	// messages get one too. Teams messages have none.
	TS string
	// Text and Blocks are a Slack message's, Cards a Teams message's.
	Text   string
	Blocks []map[string]any
	Cards  []map[string]any
	// Buttons and AllText are as in [Request].
	Buttons []Button
	AllText string
	// Ephemeral marks a message posted through a response_url without
	// "response_type": "in_channel": Slack shows it only to the user who
	// clicked.
	Ephemeral bool
	// Edits names, in order, what changed the message after it was
	// posted: "chat.update", "response_url" or "updateActivity".
	Edits []string
	// Posted is when the fake received the message.
	Posted time.Time

	rawBlocks []byte
	body      []byte // a Teams message's body
}

func (r *Request) decode() {
	if len(r.rawBlocks) > 0 {
		_ = json.Unmarshal(r.rawBlocks, &r.Blocks)
	}
	switch r.Method {
	case "teams", "workflows", methodSend, methodUpdate:
		r.Cards = decodeCards(r.Body)
	}
	r.Buttons, r.AllText = content(r.Text, r.Blocks, r.Cards)
}

func (m *Message) decode() {
	if len(m.rawBlocks) > 0 {
		_ = json.Unmarshal(m.rawBlocks, &m.Blocks)
	}
	if m.body != nil {
		m.Cards = decodeCards(m.body)
	}
	m.Buttons, m.AllText = content(m.Text, m.Blocks, m.Cards)
	m.rawBlocks, m.body = nil, nil
}

// content returns the buttons and the texts of a message.
func content(text string, blocks, cards []map[string]any) ([]Button, string) {
	var buttons []Button
	for _, b := range blocks {
		if b["type"] != "actions" {
			continue
		}
		els, _ := b["elements"].([]any)
		for _, e := range els {
			m, _ := e.(map[string]any)
			if m["type"] != "button" {
				continue
			}
			btn := Button{Type: "button", ActionID: str(m["action_id"]), Value: str(m["value"]), URL: str(m["url"]), Style: str(m["style"])}
			if t, ok := m["text"].(map[string]any); ok {
				btn.Text = str(t["text"])
			}
			buttons = append(buttons, btn)
		}
	}
	for _, c := range cards {
		buttons = appendActionSets(buttons, c["body"])
		buttons = appendActions(buttons, c["actions"])
	}
	var sb strings.Builder
	sb.WriteString(text)
	for _, b := range blocks {
		collectText(&sb, b, "text")
	}
	for _, c := range cards {
		collectText(&sb, c, "text", "title", "value")
	}
	return buttons, strings.TrimPrefix(sb.String(), "\n")
}

// appendActionSets appends the actions of the ActionSets found in the
// card elements v, containers' included.
func appendActionSets(buttons []Button, v any) []Button {
	els, _ := v.([]any)
	for _, e := range els {
		m, _ := e.(map[string]any)
		switch m["type"] {
		case "ActionSet":
			buttons = appendActions(buttons, m["actions"])
		case "Container":
			buttons = appendActionSets(buttons, m["items"])
		}
	}
	return buttons
}

// appendActions appends the card actions v.
func appendActions(buttons []Button, v any) []Button {
	acts, _ := v.([]any)
	for _, a := range acts {
		m, _ := a.(map[string]any)
		data, _ := m["data"].(map[string]any)
		fb, _ := m["fallback"].(map[string]any)
		buttons = append(buttons, Button{Type: str(m["type"]), Text: str(m["title"]), URL: str(m["url"]),
			Style: str(m["style"]), Verb: str(m["verb"]), Data: data, Fallback: str(fb["type"])})
	}
	return buttons
}

// collectText appends, one per line, every string found under one of keys
// in v, walking maps in key order.
func collectText(b *strings.Builder, v any, keys ...string) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if s, ok := x[k].(string); ok {
				if slices.Contains(keys, k) {
					b.WriteString("\n" + s)
				}
				continue
			}
			collectText(b, x[k], keys...)
		}
	case []any:
		for _, e := range x {
			collectText(b, e, keys...)
		}
	}
}

func str(v any) string { s, _ := v.(string); return s }

// teamsMessage is the envelope of a Teams webhook message.
type teamsMessage struct {
	Type        string `json:"type"`
	Attachments []struct {
		ContentType string          `json:"contentType"`
		Content     json.RawMessage `json:"content"`
	} `json:"attachments"`
}

const cardContentType = "application/vnd.microsoft.card.adaptive"

// decodeCards returns the Adaptive Cards of a Teams message body.
func decodeCards(body []byte) []map[string]any {
	var msg teamsMessage
	if json.Unmarshal(body, &msg) != nil {
		return nil
	}
	var cards []map[string]any
	for _, a := range msg.Attachments {
		var c map[string]any
		if a.ContentType == cardContentType && json.Unmarshal(a.Content, &c) == nil && c != nil {
			cards = append(cards, c)
		}
	}
	return cards
}
