package notify

import (
	"encoding/json"
	"reflect"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/slackmsg"
	"github.com/chatnotify/chatnotify/teams"
)

// decided wraps a decided request so that tests render it beside the
// events: the Dispatcher renders it with slackDecided and teamsDecided.
type decidedEvent struct{ r approval.Request }

func (decidedEvent) eventType() EventType { return "decided" }

// slackOf renders ev as the sender does, or a decidedEvent as the
// Dispatcher does.
func slackOf(ev Event, o slackRender) slackMessage {
	if d, ok := ev.(decidedEvent); ok {
		return slackDecided(d.r)
	}
	return renderSlack(ev, o)
}

// teamsOf renders ev as the sender does, or a decidedEvent's result card
// in its message envelope.
func teamsOf(ev Event, o teamsRender) ([]byte, error) {
	if d, ok := ev.(decidedEvent); ok {
		return json.Marshal(teams.NewMessage(teamsDecided(d.r)))
	}
	return renderTeams(ev, o)
}

// button is a button of a rendered Slack message, with its block's ID.
type button struct{ blockID, actionID, value, url, style, text string }

func buttonsOf(m slackMessage) []button {
	var out []button
	raw, _ := json.Marshal(m.Blocks)
	var blocks []map[string]any
	_ = json.Unmarshal(raw, &blocks)
	for _, b := range blocks {
		if b["type"] != "actions" {
			continue
		}
		for _, e := range b["elements"].([]any) {
			el := e.(map[string]any)
			bt := button{}
			bt.blockID, _ = b["block_id"].(string)
			bt.actionID, _ = el["action_id"].(string)
			bt.value, _ = el["value"].(string)
			bt.url, _ = el["url"].(string)
			bt.style, _ = el["style"].(string)
			if tx, ok := el["text"].(map[string]any); ok {
				bt.text, _ = tx["text"].(string)
			}
			out = append(out, bt)
		}
	}
	return out
}

var (
	// slackMarkup matches the only mrkdwn markup the renderer writes
	// itself: dates (slackmsg.Date) and the console link.
	slackMarkup = regexp.MustCompile(`<!date\^\d+\^\{date_short_pretty\} at \{time\}\|[0-9: -]+ UTC>|<https?://[^<>|\s]+\|View in console>`)
	// slackEntity matches the three entities of Slack's escaping.
	slackEntity = regexp.MustCompile(`&(amp|lt|gt);`)
)

var slackActionIDs = map[string]bool{
	slackmsg.ApproveAction: true,
	slackmsg.DenyAction:    true,
	slackmsg.ConsoleAction: true,
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// checkSlack checks every Block Kit limit and every escaping rule on a
// rendered message, as Slack would: the blocks' JSON (as sent) under
// slackMaxBlocksJSON, at most 50 blocks, header 150, section text 3,000,
// at most 10 fields of 2,000, context at most 10 elements of 3,000,
// button text 75, URL 3,000 and value 2,000, action_id and block_id 255,
// top-level text 3,000; every string valid UTF-8; in mrkdwn, every '&'
// starts an entity and no '<' or '>' is left but in the dates and the
// console link the renderer writes itself.
func checkSlack(t testing.TB, m slackMessage) {
	t.Helper()
	checkUTF8(t, reflect.ValueOf(m))
	raw := mustJSON(t, m.Blocks)
	assert.Less(t, len(raw), slackMaxBlocksJSON, "blocks JSON, in bytes as sent")
	assert.LessOrEqual(t, len(m.Blocks), 50, "blocks")
	assert.LessOrEqual(t, runes(m.Text), 3000, "top-level text")
	assert.NotEmpty(t, m.Text, "a message always has a fallback text")
	checkMrkdwn(t, "top-level text", m.Text)
	var blocks []map[string]any
	require.NoError(t, json.Unmarshal(raw, &blocks))
	for _, b := range blocks {
		if id, ok := b["block_id"].(string); ok {
			assert.LessOrEqual(t, len(id), 255, "block_id")
		}
		switch b["type"] {
		case "header":
			o, _ := b["text"].(map[string]any)
			assert.Equal(t, "plain_text", o["type"], "header text")
			assert.LessOrEqual(t, runes(textOf(o)), 150, "header")
			assert.NotEmpty(t, textOf(o))
		case "section":
			fields, _ := b["fields"].([]any)
			assert.True(t, b["text"] != nil || len(fields) > 0, "a section needs text or fields")
			if b["text"] != nil {
				checkTextObject(t, "section text", b["text"], 3000)
			}
			assert.LessOrEqual(t, len(fields), 10, "fields")
			for _, f := range fields {
				checkTextObject(t, "field", f, 2000)
			}
		case "context":
			els, _ := b["elements"].([]any)
			assert.NotEmpty(t, els)
			assert.LessOrEqual(t, len(els), 10, "context elements")
			for _, e := range els {
				checkTextObject(t, "context", e, 3000)
			}
		case "actions":
			els, _ := b["elements"].([]any)
			assert.NotEmpty(t, els)
			assert.LessOrEqual(t, len(els), 25, "action elements")
			for _, e := range els {
				el := e.(map[string]any)
				assert.Equal(t, "button", el["type"])
				tx, _ := el["text"].(map[string]any)
				assert.Equal(t, "plain_text", tx["type"], "button text")
				assert.LessOrEqual(t, runes(textOf(tx)), 75, "button text")
				v, _ := el["value"].(string)
				assert.LessOrEqual(t, runes(v), 2000, "button value")
				id, _ := el["action_id"].(string)
				assert.LessOrEqual(t, len(id), 255, "action_id")
				assert.True(t, slackActionIDs[id], "action_id %q", id)
				u, _ := el["url"].(string)
				assert.LessOrEqual(t, runes(u), 3000, "button url")
				assert.True(t, (u == "") != (v == ""), "a button has a value or a URL")
			}
		default:
			t.Errorf("unexpected block type %v", b["type"])
		}
	}
}

func textOf(v any) string {
	o, _ := v.(map[string]any)
	s, _ := o["text"].(string)
	return s
}

func checkTextObject(t testing.TB, where string, v any, limit int) {
	t.Helper()
	o, _ := v.(map[string]any)
	s := textOf(o)
	assert.LessOrEqual(t, runes(s), limit, where)
	assert.NotEmpty(t, s, where)
	if o["type"] == "mrkdwn" {
		checkMrkdwn(t, where, s)
	}
}

// checkMrkdwn checks that s cannot mention anyone or link anywhere but
// where the renderer itself does, and that no entity was cut.
func checkMrkdwn(t testing.TB, where, s string) {
	t.Helper()
	assert.NotContains(t, slackEntity.ReplaceAllString(s, ""), "&", "%s: every & starts &amp;, &lt; or &gt;", where)
	rest := slackMarkup.ReplaceAllString(s, "")
	assert.NotContains(t, rest, "<", "%s: no unescaped <", where)
	assert.NotContains(t, rest, ">", "%s: no unescaped >", where)
}

// checkUTF8 checks that every string reachable from v is valid UTF-8
// (encoding/json would silently replace invalid bytes).
func checkUTF8(t testing.TB, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		assert.True(t, utf8.ValidString(v.String()), "invalid UTF-8 %q", v.String())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			checkUTF8(t, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			checkUTF8(t, v.Field(i))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			checkUTF8(t, v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			checkUTF8(t, k)
			checkUTF8(t, v.MapIndex(k))
		}
	}
}
