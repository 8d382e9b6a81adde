package teams

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"strings"
)

// The actions of an approval card.
const (
	ActionApprove = "approve"
	ActionDeny    = "deny"
)

// InvokeNameAdaptiveCardAction is the name of the invoke activity a bot
// receives when a user clicks an Action.Execute button.
const InvokeNameAdaptiveCardAction = "adaptiveCard/action"

// Errors returned by [ParseInteraction]. Their text is safe to show to
// the caller: it names the problem, never the payload's content.
var (
	// ErrMalformed is returned when the body is not a JSON object of the
	// expected shape.
	ErrMalformed = errors.New("teams: malformed interaction payload")
	// ErrUnsupported is returned for an activity this package does not
	// handle: a type other than message or invoke, or an invoke other
	// than adaptiveCard/action.
	ErrUnsupported = errors.New("teams: unsupported activity")
	// ErrMissingApprovalID is returned when the data has no approval_id.
	ErrMissingApprovalID = errors.New("teams: missing approval_id")
	// ErrUnknownAction is returned when the action is missing, is neither
	// approve nor deny, or disagrees with an Action.Execute verb.
	ErrUnknownAction = errors.New("teams: action must be approve or deny")
)

// ActionData is the data an approval card's buttons carry, the spec's
// {"action": "approve", "approval_id": "…"}, plus an optional signed
// action token (see [Signer]) that authenticates the click.
type ActionData struct {
	Action     string `json:"action"`
	ApprovalID string `json:"approval_id"`
	Token      string `json:"token,omitempty"`
}

// Kind says which of the accepted shapes an [Interaction] came in.
type Kind string

// The shapes [ParseInteraction] accepts.
const (
	// KindData is the bare Action.Submit data, {"action": …,
	// "approval_id": …}, as the spec describes it (from a relay).
	KindData Kind = "data"
	// KindMessage is a Bot Framework message activity whose value is the
	// data: an Action.Submit click on a card a bot sent.
	KindMessage Kind = "message"
	// KindCommand is a message activity without data whose text, once the
	// @mention is removed, reads "approve <id>" or "deny <id>": what a
	// Teams outgoing webhook sends when someone writes
	// "@Approver approve req-42".
	KindCommand Kind = "command"
	// KindInvoke is an adaptiveCard/action invoke activity (an
	// Action.Execute click); the action may be in data or in the verb.
	// Its answer must be an [InvokeResponse].
	KindInvoke Kind = "invoke"
)

// User is the Teams user named in an activity's from field.
type User struct {
	// ID is the channel-specific user ID ("29:…").
	ID string `json:"id"`
	// Name is the display name.
	Name string `json:"name"`
	// AADObjectID is the user's Microsoft Entra (Azure AD) object ID,
	// when Teams provides it.
	AADObjectID string `json:"aadObjectId"`
}

// StableID returns the most durable ID of u: the AAD object ID when
// known, else the Teams user ID.
func (u User) StableID() string {
	if u.AADObjectID != "" {
		return u.AADObjectID
	}
	return u.ID
}

// Interaction is a parsed Teams approval callback.
type Interaction struct {
	// Kind is the shape the callback came in.
	Kind Kind
	// ActionData holds the action ([ActionApprove] or [ActionDeny], always
	// validated), the approval ID (never empty) and the token, if any.
	ActionData
	// From is the user who clicked, as the payload names them; the zero
	// User when it does not. It is only as trustworthy as the request's
	// authentication.
	From User
	// ReplyToID is the ID of the message holding the clicked card, for
	// activities that carry one.
	ReplyToID string
}

type wirePayload struct {
	Type      string          `json:"type"`
	Name      string          `json:"name"`
	Text      string          `json:"text"`
	From      User            `json:"from"`
	ReplyToID string          `json:"replyToId"`
	Value     json.RawMessage `json:"value"`
	ActionData
}

type wireInvokeValue struct {
	Action struct {
		Type string     `json:"type"`
		Verb string     `json:"verb"`
		Data ActionData `json:"data"`
	} `json:"action"`
}

// ParseInteraction parses the body of a Teams approval callback in any of
// the shapes described by [Kind]:
//
//	{"action":"approve","approval_id":"req-42"}
//	{"type":"message","value":{"action":"approve","approval_id":"req-42"},"from":{…},…}
//	{"type":"message","text":"<at>Approver</at> approve req-42","from":{…},…}
//	{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"type":"Action.Execute","verb":"approve","data":{…}}},"from":{…},…}
//
// Bare data may carry an activity-style "from" too. Fields it does not
// use are ignored. It returns [ErrMalformed], [ErrUnsupported],
// [ErrMissingApprovalID] or [ErrUnknownAction] when the body is not a
// usable approval callback.
func ParseInteraction(body []byte) (Interaction, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return Interaction{}, ErrMalformed
	}
	var w wirePayload
	if err := json.Unmarshal(body, &w); err != nil {
		return Interaction{}, ErrMalformed
	}
	in := Interaction{From: w.From, ReplyToID: w.ReplyToID}
	verb := ""
	switch w.Type {
	case "":
		in.Kind, in.ActionData = KindData, w.ActionData
	case "message":
		switch v := bytes.TrimSpace(w.Value); {
		case len(v) > 0 && !bytes.Equal(v, []byte("null")):
			if v[0] != '{' || json.Unmarshal(v, &in.ActionData) != nil {
				return Interaction{}, ErrMalformed
			}
			in.Kind = KindMessage
		default:
			action, id, ok := parseCommand(w.Text)
			if !ok {
				return Interaction{}, ErrUnknownAction
			}
			in.Kind, in.Action, in.ApprovalID = KindCommand, action, id
		}
	case "invoke":
		if w.Name != InvokeNameAdaptiveCardAction {
			return Interaction{}, ErrUnsupported
		}
		var v wireInvokeValue
		if err := json.Unmarshal(w.Value, &v); err != nil {
			return Interaction{}, ErrMalformed
		}
		in.Kind, in.ActionData, verb = KindInvoke, v.Action.Data, v.Action.Verb
	default:
		return Interaction{}, ErrUnsupported
	}
	if in.ApprovalID == "" {
		return Interaction{}, ErrMissingApprovalID
	}
	switch {
	case in.Action == "":
		in.Action = verb
	case verb != "" && verb != in.Action:
		return Interaction{}, ErrUnknownAction
	}
	if in.Action != ActionApprove && in.Action != ActionDeny {
		return Interaction{}, ErrUnknownAction
	}
	return in, nil
}

// parseCommand reads "approve <id>" or "deny <id>" from the text of an
// outgoing-webhook message, ignoring @mentions, HTML entities, case of
// the verb and surrounding space.
func parseCommand(text string) (action, id string, ok bool) {
	f := strings.Fields(html.UnescapeString(stripMentions(text)))
	if len(f) != 2 {
		return "", "", false
	}
	action = strings.ToLower(f[0])
	if action != ActionApprove && action != ActionDeny {
		return "", "", false
	}
	return action, f[1], true
}

// stripMentions replaces each @mention in text, which Teams writes as
// <at>Name</at>, with a space.
func stripMentions(text string) string {
	var b strings.Builder
	for {
		start := strings.Index(text, "<at>")
		if start < 0 {
			break
		}
		end := strings.Index(text[start:], "</at>")
		if end < 0 {
			break
		}
		b.WriteString(text[:start])
		b.WriteByte(' ')
		text = text[start+end+len("</at>"):]
	}
	b.WriteString(text)
	return b.String()
}
