package teams

import "encoding/json"

// Constants of the Adaptive Card wire format.
const (
	// CardSchema is the JSON schema every card names in "$schema".
	CardSchema = "http://adaptivecards.io/schemas/adaptive-card.json"
	// CardVersion is the Adaptive Card version this package writes: the
	// newest that Teams incoming webhooks and Workflows accept.
	CardVersion = "1.4"
	// ContentTypeAdaptiveCard is the attachment and invoke-response content
	// type of an Adaptive Card.
	ContentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"
)

// ContainerStyle colours a [Container]. Teams cannot colour buttons, so a
// container's style is the colour cue of a result card.
type ContainerStyle string

// The container styles of Adaptive Cards 1.4.
const (
	StyleDefault   ContainerStyle = "default"
	StyleEmphasis  ContainerStyle = "emphasis"
	StyleGood      ContainerStyle = "good"      // green: approved
	StyleAttention ContainerStyle = "attention" // red: denied
	StyleWarning   ContainerStyle = "warning"   // amber: errors, expiry
	StyleAccent    ContainerStyle = "accent"
)

// Color is the colour of a [TextBlock].
type Color string

// The text colours of Adaptive Cards 1.4.
const (
	ColorDefault   Color = "default"
	ColorDark      Color = "dark"
	ColorLight     Color = "light"
	ColorAccent    Color = "accent"
	ColorGood      Color = "good"
	ColorWarning   Color = "warning"
	ColorAttention Color = "attention"
)

// Values for [TextBlock] Weight and Size.
const (
	WeightBolder = "bolder"
	SizeMedium   = "medium"
	SizeLarge    = "large"
)

// Card is an Adaptive Card, version [CardVersion]. Its JSON form always
// carries "$schema", "type": "AdaptiveCard" and the version, whatever the
// struct holds, so the zero value is a valid empty card. Card is built to
// be marshalled; it does not unmarshal.
type Card struct {
	// Body is the card's content, top to bottom.
	Body []Element
	// Actions are the buttons under the body.
	Actions []Action
	// FullWidth stretches the card over the whole message width in Teams
	// ("msteams": {"width": "Full"}).
	FullWidth bool
}

// NewCard returns a full-width card with body.
func NewCard(body ...Element) Card {
	return Card{Body: body, FullWidth: true}
}

type msteams struct {
	Width string `json:"width"`
}

// MarshalJSON implements [json.Marshaler]. The whole card is encoded in
// one pass of encoding/json (elements are converted to plain structs
// first, rather than each marshalling itself).
func (c Card) MarshalJSON() ([]byte, error) {
	w := struct {
		Schema  string   `json:"$schema"`
		Type    string   `json:"type"`
		Version string   `json:"version"`
		Body    []any    `json:"body"`
		Actions []any    `json:"actions,omitempty"`
		MSTeams *msteams `json:"msteams,omitempty"`
	}{Schema: CardSchema, Type: "AdaptiveCard", Version: CardVersion, Body: wireElements(c.Body)}
	if len(c.Actions) > 0 {
		w.Actions = make([]any, len(c.Actions))
		for i, a := range c.Actions {
			w.Actions[i] = wireAction(a)
		}
	}
	if c.FullWidth {
		w.MSTeams = &msteams{Width: "Full"}
	}
	return json.Marshal(w)
}

// Element is a card element: [TextBlock], [FactSet] or [Container].
type Element interface {
	json.Marshaler
	cardElement()
}

// Action is a card action: [ActionOpenURL] or [ActionSubmit].
type Action interface {
	json.Marshaler
	cardAction()
}

// TextBlock is a paragraph of Teams markdown (**bold**, _italic_, lists,
// [links](url)). Use [EscapeMarkdown] on text that is not meant as
// markdown.
type TextBlock struct {
	Text      string `json:"text"`
	Wrap      bool   `json:"wrap,omitempty"`
	Weight    string `json:"weight,omitempty"` // e.g. WeightBolder
	Size      string `json:"size,omitempty"`   // e.g. SizeMedium
	Color     Color  `json:"color,omitempty"`
	IsSubtle  bool   `json:"isSubtle,omitempty"`
	Spacing   string `json:"spacing,omitempty"` // none|small|default|medium|large|extraLarge|padding
	Separator bool   `json:"separator,omitempty"`
}

// FactSet is a two-column list of titles and values.
type FactSet struct {
	Facts     []Fact `json:"facts"`
	Spacing   string `json:"spacing,omitempty"`
	Separator bool   `json:"separator,omitempty"`
}

// Fact is one row of a [FactSet].
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Container groups elements, optionally on a coloured background.
type Container struct {
	Items []Element `json:"items"`
	// Style colours the container; empty means the card's default.
	Style ContainerStyle `json:"style,omitempty"`
	// Bleed lets the background reach the card's edges.
	Bleed     bool   `json:"bleed,omitempty"`
	Spacing   string `json:"spacing,omitempty"`
	Separator bool   `json:"separator,omitempty"`
}

// ActionOpenURL opens URL in the user's browser. It is the only action
// that works on cards sent through incoming webhooks and Workflows.
type ActionOpenURL struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// ActionSubmit posts Data back to the bot that sent the card. Teams drops
// it from cards sent through incoming webhooks and Workflows: use it only
// on cards a bot delivers, and [ActionOpenURL] links otherwise.
type ActionSubmit struct {
	Title string     `json:"title"`
	Data  ActionData `json:"data"`
}

func (TextBlock) cardElement()    {}
func (FactSet) cardElement()      {}
func (Container) cardElement()    {}
func (ActionOpenURL) cardAction() {}
func (ActionSubmit) cardAction()  {}

// MarshalJSON implements [json.Marshaler], adding "type": "TextBlock".
func (t TextBlock) MarshalJSON() ([]byte, error) { return json.Marshal(wireElement(t)) }

// MarshalJSON implements [json.Marshaler], adding "type": "FactSet".
func (f FactSet) MarshalJSON() ([]byte, error) { return json.Marshal(wireElement(f)) }

// MarshalJSON implements [json.Marshaler], adding "type": "Container".
func (c Container) MarshalJSON() ([]byte, error) { return json.Marshal(wireElement(c)) }

// MarshalJSON implements [json.Marshaler], adding "type": "Action.OpenUrl".
func (a ActionOpenURL) MarshalJSON() ([]byte, error) { return json.Marshal(wireAction(a)) }

// MarshalJSON implements [json.Marshaler], adding "type": "Action.Submit".
func (a ActionSubmit) MarshalJSON() ([]byte, error) { return json.Marshal(wireAction(a)) }

// The wire forms of elements and actions: the same fields plus "type",
// in types without a MarshalJSON method, so that encoding/json encodes a
// card in one pass instead of re-validating each element's output.
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
		Type      string         `json:"type"`
		Items     []any          `json:"items"`
		Style     ContainerStyle `json:"style,omitempty"`
		Bleed     bool           `json:"bleed,omitempty"`
		Spacing   string         `json:"spacing,omitempty"`
		Separator bool           `json:"separator,omitempty"`
	}
	wireActionOpenURL struct {
		Type string `json:"type"`
		plainActionOpenURL
	}
	wireActionSubmit struct {
		Type string `json:"type"`
		plainActionSubmit
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
	}
	return e // a pointer to an element, which marshals itself
}

func wireAction(a Action) any {
	switch v := a.(type) {
	case ActionOpenURL:
		return wireActionOpenURL{"Action.OpenUrl", plainActionOpenURL(v)}
	case ActionSubmit:
		return wireActionSubmit{"Action.Submit", plainActionSubmit(v)}
	}
	return a // a pointer to an action, which marshals itself
}

// Message is the envelope that carries cards to an incoming webhook or a
// Workflows trigger, and the reply of an outgoing webhook:
//
//	{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{…}}]}
type Message struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment is one card of a [Message]. ContentURL is null on the wire
// as long as it is nil, as [NewMessage] leaves it.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     Card    `json:"content"`
}

// NewMessage wraps cards in a [Message].
func NewMessage(cards ...Card) Message {
	m := Message{Type: "message", Attachments: make([]Attachment, 0, len(cards))}
	for _, c := range cards {
		m.Attachments = append(m.Attachments, Attachment{ContentType: ContentTypeAdaptiveCard, Content: c})
	}
	return m
}

// InvokeResponse is a bot's synchronous answer to an adaptiveCard/action
// invoke (the Bot Framework's AdaptiveCardInvokeResponse): with
// StatusCode 200 and Type [ContentTypeAdaptiveCard], Teams replaces the
// clicked card with Value.
type InvokeResponse struct {
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Value      Card   `json:"value"`
}

// NewInvokeResponse returns the invoke response that replaces the clicked
// card with c.
func NewInvokeResponse(c Card) InvokeResponse {
	return InvokeResponse{StatusCode: 200, Type: ContentTypeAdaptiveCard, Value: c}
}
