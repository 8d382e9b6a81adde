package teams

import (
	"cmp"
	"encoding/json"
)

// Constants of the Adaptive Card wire format.
const (
	// cardSchema is the JSON schema every card names in "$schema".
	cardSchema = "http://adaptivecards.io/schemas/adaptive-card.json"
	// cardVersion is the Adaptive Card version this package writes by
	// default: the newest that Teams incoming webhooks and Workflows
	// accept.
	cardVersion = "1.4"
	// contentTypeAdaptiveCard is the attachment and invoke-response
	// content type of an Adaptive Card.
	contentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"
)

// Card is an Adaptive Card, version 1.4 (the newest that Teams incoming
// webhooks and Workflows accept) unless Version says otherwise. Its JSON
// form always carries "$schema", "type": "AdaptiveCard" and the version,
// whatever the struct holds, so the zero value is a valid empty card.
// Card is built to be marshalled; it does not unmarshal.
type Card struct {
	// Body is the card's content, top to bottom.
	Body []Element
	// Actions are the buttons under the body.
	Actions []Action
	// FullWidth stretches the card over the whole message width in Teams
	// ("msteams": {"width": "Full"}).
	FullWidth bool
	// Version is the Adaptive Card version the card declares. Cards a
	// bot sends, and the cards that answer their clicks, use "1.5", the
	// version that brought [ActionExecute] (Teams renders up to 1.5 in
	// bot-sent cards); cards posted through incoming webhooks and
	// Workflows stay at the default. Defaults to "" (version 1.4).
	Version string
}

// NewCard returns a full-width card with body.
func NewCard(body ...Element) Card {
	return Card{Body: body, FullWidth: true}
}

type msteams struct {
	Width string `json:"width"`
}

// MarshalJSON implements [json.Marshaler]. Each element and action gets
// its "type"; the whole card is encoded in one pass of encoding/json.
func (c Card) MarshalJSON() ([]byte, error) {
	w := struct {
		Schema  string   `json:"$schema"`
		Type    string   `json:"type"`
		Version string   `json:"version"`
		Body    []any    `json:"body"`
		Actions []any    `json:"actions,omitempty"`
		MSTeams *msteams `json:"msteams,omitempty"`
	}{Schema: cardSchema, Type: "AdaptiveCard", Version: cmp.Or(c.Version, cardVersion), Body: wireElements(c.Body)}
	if len(c.Actions) > 0 {
		w.Actions = wireActions(c.Actions)
	}
	if c.FullWidth {
		w.MSTeams = &msteams{Width: "Full"}
	}
	return json.Marshal(w)
}

// Element is a card element: [TextBlock], [FactSet], [Container] or
// [ActionSet] (or a pointer to one). Elements are encoded as part of a [Card], which gives
// each its "type".
type Element interface {
	cardElement()
}

// Action is a card action: [ActionOpenURL], [ActionSubmit] or
// [ActionExecute] (or a pointer to one). Actions are encoded as part of a [Card], which gives
// each its "type".
type Action interface {
	cardAction()
}

// TextBlock is a paragraph of Teams markdown (**bold**, _italic_, lists,
// [links](url)). Use [EscapeMarkdown] on text that is not meant as
// markdown. Empty fields are left out of the JSON, which means the
// card's default.
type TextBlock struct {
	// Text is the paragraph, in Teams markdown.
	Text string `json:"text"`
	// Wrap lets the text run over several lines instead of being cut.
	Wrap bool `json:"wrap,omitempty"`
	// Weight is lighter, default or bolder.
	Weight string `json:"weight,omitempty"`
	// Size is small, default, medium, large or extraLarge.
	Size string `json:"size,omitempty"`
	// Color is default, dark, light, accent, good, warning or attention.
	Color string `json:"color,omitempty"`
	// IsSubtle shows the text toned down.
	IsSubtle bool `json:"isSubtle,omitempty"`
	// Spacing, the space above the element, is none, small, default,
	// medium, large, extraLarge or padding.
	Spacing string `json:"spacing,omitempty"`
	// Separator draws a line above the element.
	Separator bool `json:"separator,omitempty"`
}

// FactSet is a two-column list of titles and values.
type FactSet struct {
	// Facts are the rows, top to bottom.
	Facts []Fact `json:"facts"`
	// Spacing is as for [TextBlock].
	Spacing string `json:"spacing,omitempty"`
	// Separator draws a line above the element.
	Separator bool `json:"separator,omitempty"`
}

// Fact is one row of a [FactSet].
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Container groups elements, optionally on a coloured background. Teams
// cannot colour buttons, so a container's style is the colour cue of a
// card.
type Container struct {
	// Items are the grouped elements, top to bottom.
	Items []Element `json:"items"`
	// Style colours the container's background: default, emphasis, good
	// (green), attention (red), warning (amber) or accent. Empty means
	// the card's default.
	Style string `json:"style,omitempty"`
	// Bleed lets the background reach the card's edges.
	Bleed bool `json:"bleed,omitempty"`
	// Spacing is as for [TextBlock].
	Spacing string `json:"spacing,omitempty"`
	// Separator draws a line above the element.
	Separator bool `json:"separator,omitempty"`
}

// ActionOpenURL opens URL in the user's browser. It is the only action
// that works on cards sent through incoming webhooks and Workflows.
type ActionOpenURL struct {
	// Title is the button's text.
	Title string `json:"title"`
	// URL is the link the button opens.
	URL string `json:"url"`
}

// ActionSubmit posts Data back to the bot that sent the card. Teams drops
// it from cards sent through incoming webhooks and Workflows: use it only
// on cards a bot delivers, and [ActionOpenURL] links otherwise.
type ActionSubmit struct {
	// Title is the button's text.
	Title string `json:"title"`
	// Data is sent back as the activity's value when the button is
	// clicked: any value encoding/json writes as a JSON object, such as
	// a struct or a map[string]string. Nil leaves it out.
	Data any `json:"data,omitempty"`
}

// ActionSet is a row of buttons inside the body. Put [ActionExecute]
// buttons in one rather than in [Card.Actions]: some older Teams clients
// honour an action's fallback only inside an ActionSet (Microsoft's
// Universal Actions guide, "Backward compatibility").
type ActionSet struct {
	// Actions are the buttons, left to right.
	Actions []Action `json:"actions"`
	// Spacing is as for [TextBlock].
	Spacing string `json:"spacing,omitempty"`
	// Separator draws a line above the element.
	Separator bool `json:"separator,omitempty"`
}

// ActionExecute is a Universal Action (Adaptive Cards 1.5): clicking it
// sends the bot that delivered the card an adaptiveCard/action invoke
// with Verb and Data, and the card the bot answers with (see
// [NewInvokeResponse]) replaces the clicked one in place. Teams runs it
// only on cards a bot sends, in a card of [Card.Version] "1.5"; put it in
// an [ActionSet]. Its JSON form carries a fallback [ActionSubmit] with
// the same title, style and data, for Teams clients without Universal
// Actions: their click arrives as a message activity whose value is
// Data.
type ActionExecute struct {
	// Title is the button's text.
	Title string `json:"title"`
	// Verb names the action to the bot, such as "approve".
	Verb string `json:"verb"`
	// Data is sent back with the click (value.action.data of the
	// invoke, or the value of the fallback's message): any value
	// encoding/json writes as a JSON object, such as a struct or a
	// map[string]string. Nil leaves it out.
	Data any `json:"data,omitempty"`
	// Style is default, positive or destructive. Teams draws every
	// button alike, so it is a hint for other hosts only. Defaults to ""
	// (the host's default).
	Style string `json:"style,omitempty"`
}

func (TextBlock) cardElement()    {}
func (FactSet) cardElement()      {}
func (Container) cardElement()    {}
func (ActionSet) cardElement()    {}
func (ActionOpenURL) cardAction() {}
func (ActionSubmit) cardAction()  {}
func (ActionExecute) cardAction() {}

// The wire forms of elements and actions: the same fields plus "type".
// The whole card is converted to them and encoded in one pass of
// encoding/json.
type (
	plainTextBlock     TextBlock
	plainFactSet       FactSet
	plainActionOpenURL ActionOpenURL
	plainActionSubmit  ActionSubmit
	wireTextBlock      struct {
		Type string `json:"type"`
		plainTextBlock
	}
	wireFactSet struct {
		Type string `json:"type"`
		plainFactSet
	}
	wireContainer struct {
		Type      string `json:"type"`
		Items     []any  `json:"items"`
		Style     string `json:"style,omitempty"`
		Bleed     bool   `json:"bleed,omitempty"`
		Spacing   string `json:"spacing,omitempty"`
		Separator bool   `json:"separator,omitempty"`
	}
	wireActionOpenURL struct {
		Type string `json:"type"`
		plainActionOpenURL
	}
	wireActionSubmit struct {
		Type string `json:"type"`
		plainActionSubmit
	}
	wireActionSet struct {
		Type      string `json:"type"`
		Actions   []any  `json:"actions"`
		Spacing   string `json:"spacing,omitempty"`
		Separator bool   `json:"separator,omitempty"`
	}
	// wireActionExecute is an Action.Execute; its fallback is the
	// Action.Submit of the same title, style and data.
	wireActionExecute struct {
		Type     string              `json:"type"`
		Title    string              `json:"title"`
		Verb     string              `json:"verb"`
		Data     any                 `json:"data,omitempty"`
		Style    string              `json:"style,omitempty"`
		Fallback wireExecuteFallback `json:"fallback"`
	}
	wireExecuteFallback struct {
		Type  string `json:"type"`
		Title string `json:"title"`
		Data  any    `json:"data,omitempty"`
		Style string `json:"style,omitempty"`
	}
)

func wireElements(es []Element) []any {
	out := make([]any, len(es))
	for i, e := range es {
		out[i] = wireElement(e)
	}
	return out
}

func wireElement(e Element) any {
	switch v := e.(type) {
	case *TextBlock:
		if v != nil {
			return wireElement(*v)
		}
	case *FactSet:
		if v != nil {
			return wireElement(*v)
		}
	case *Container:
		if v != nil {
			return wireElement(*v)
		}
	case *ActionSet:
		if v != nil {
			return wireElement(*v)
		}
	case TextBlock:
		return wireTextBlock{"TextBlock", plainTextBlock(v)}
	case FactSet:
		if v.Facts == nil {
			v.Facts = []Fact{}
		}
		return wireFactSet{"FactSet", plainFactSet(v)}
	case Container:
		return wireContainer{Type: "Container", Items: wireElements(v.Items), Style: v.Style,
			Bleed: v.Bleed, Spacing: v.Spacing, Separator: v.Separator}
	case ActionSet:
		return wireActionSet{Type: "ActionSet", Actions: wireActions(v.Actions), Spacing: v.Spacing, Separator: v.Separator}
	}
	return nil // a nil element or nil pointer: null
}

// wireActions converts actions; nil gives an empty list.
func wireActions(as []Action) []any {
	out := make([]any, len(as))
	for i, a := range as {
		out[i] = wireAction(a)
	}
	return out
}

func wireAction(a Action) any {
	switch v := a.(type) {
	case *ActionOpenURL:
		if v != nil {
			return wireAction(*v)
		}
	case *ActionSubmit:
		if v != nil {
			return wireAction(*v)
		}
	case *ActionExecute:
		if v != nil {
			return wireAction(*v)
		}
	case ActionOpenURL:
		return wireActionOpenURL{"Action.OpenUrl", plainActionOpenURL(v)}
	case ActionSubmit:
		return wireActionSubmit{"Action.Submit", plainActionSubmit(v)}
	case ActionExecute:
		return wireActionExecute{Type: "Action.Execute", Title: v.Title, Verb: v.Verb, Data: v.Data, Style: v.Style,
			Fallback: wireExecuteFallback{Type: "Action.Submit", Title: v.Title, Data: v.Data, Style: v.Style}}
	}
	return nil // a nil action or nil pointer: null
}

// Message is the envelope that carries cards to an incoming webhook or a
// Workflows trigger, and the reply of an outgoing webhook:
//
//	{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{…}}]}
type Message struct {
	// Type is "message".
	Type string `json:"type"`
	// Attachments hold the cards, one each.
	Attachments []Attachment `json:"attachments"`
}

// Attachment is one card of a [Message]. ContentURL is null on the wire
// as long as it is nil, as [NewMessage] leaves it.
type Attachment struct {
	// ContentType is "application/vnd.microsoft.card.adaptive".
	ContentType string `json:"contentType"`
	// ContentURL is nil for a card sent inline.
	ContentURL *string `json:"contentUrl"`
	// Content is the card.
	Content Card `json:"content"`
}

// NewMessage wraps cards in a [Message].
func NewMessage(cards ...Card) Message {
	m := Message{Type: "message", Attachments: make([]Attachment, 0, len(cards))}
	for _, c := range cards {
		m.Attachments = append(m.Attachments, Attachment{ContentType: contentTypeAdaptiveCard, Content: c})
	}
	return m
}

// InvokeResponse is a bot's synchronous answer to an adaptiveCard/action
// invoke (the Bot Framework's AdaptiveCardInvokeResponse): with
// StatusCode 200 and Type "application/vnd.microsoft.card.adaptive",
// Teams replaces the clicked card with Value.
type InvokeResponse struct {
	// StatusCode is 200 for a card answer.
	StatusCode int `json:"statusCode"`
	// Type is the content type of Value.
	Type string `json:"type"`
	// Value is the card that replaces the clicked one.
	Value Card `json:"value"`
}

// NewInvokeResponse returns the invoke response that replaces the clicked
// card with c.
func NewInvokeResponse(c Card) InvokeResponse {
	return InvokeResponse{StatusCode: 200, Type: contentTypeAdaptiveCard, Value: c}
}
