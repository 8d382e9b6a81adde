package notifytest

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"
)

// TeamsThrottledBody is what legacy Teams connectors answered, with HTTP
// 200, when a webhook was over its rate limit.
const TeamsThrottledBody = "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef"

// TeamsThrottled is the fault of a legacy connector over its rate limit:
// HTTP 200 with [TeamsThrottledBody].
func TeamsThrottled() Fault {
	return Fault{Status: http.StatusOK, Error: TeamsThrottledBody}
}

// Teams is a fake Microsoft Teams webhook endpoint on an
// [httptest.Server]. Legacy connector URLs (from [Teams.LegacyURL])
// answer 200 with body "1"; Workflows URLs (from [Teams.WorkflowsURL])
// answer 202 Accepted. It records every message it receives and can be
// told to fail with [Teams.FailNext]. It is safe for concurrent use.
type Teams struct {
	srv      *httptest.Server
	faults   faults
	requests recorder[TeamsRequest]
}

// TeamsRequest is one message received by a [Teams] fake.
type TeamsRequest struct {
	// Path is the webhook path; Workflows tells which kind of URL it was.
	Path      string
	Workflows bool
	// Body is the raw JSON received.
	Body json.RawMessage
	// Cards are the Adaptive Cards of the message's attachments, decoded
	// as generic JSON (by Requests).
	Cards []map[string]any
	// Answer is the HTTP status the fake answered with.
	Answer int
	// Received is when the fake received the message.
	Received time.Time
}

// TeamsAction is an action (button) of a card.
type TeamsAction struct {
	Type  string
	Title string
	URL   string
}

// Actions returns the actions of every card of the message, in order.
func (r TeamsRequest) Actions() []TeamsAction {
	var out []TeamsAction
	for _, c := range r.Cards {
		acts, _ := c["actions"].([]any)
		for _, a := range acts {
			m, _ := a.(map[string]any)
			out = append(out, TeamsAction{Type: str(m["type"]), Title: str(m["title"]), URL: str(m["url"])})
		}
	}
	return out
}

// AllText returns every "text", "title" and "value" string of the cards,
// one per line, for assertions on what a reader would see.
func (r TeamsRequest) AllText() string {
	var b strings.Builder
	for _, c := range r.Cards {
		collectCardText(&b, c)
	}
	return b.String()
}

func collectCardText(b *strings.Builder, v any) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			switch e := x[k].(type) {
			case string:
				if k == "text" || k == "title" || k == "value" {
					b.WriteString(e + "\n")
				}
			default:
				collectCardText(b, e)
			}
		}
	case []any:
		for _, e := range x {
			collectCardText(b, e)
		}
	}
}

// NewTeams starts a fake Teams webhook endpoint. Close it when done.
func NewTeams() *Teams {
	t := &Teams{}
	t.srv = httptest.NewServer(http.HandlerFunc(t.handle))
	return t
}

// Close shuts the fake down.
func (t *Teams) Close() { t.srv.Close() }

// URL is the fake's base URL.
func (t *Teams) URL() string { return t.srv.URL }

// LegacyURL returns an incoming webhook (Office 365 connector) URL on the
// fake; name makes it distinct.
func (t *Teams) LegacyURL(name string) string {
	return t.srv.URL + "/webhookb2/00000000-0000-0000-0000-000000000000@tenant/IncomingWebhook/" + name + "/guid"
}

// WorkflowsURL returns a Workflows (Power Automate) trigger URL on the
// fake, with a fake sig parameter; name makes it distinct.
func (t *Teams) WorkflowsURL(name string) string {
	return t.srv.URL + "/workflows/" + name + "/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=fakesig-" + name
}

// FailNext makes the next n messages answer with f. A Fault with only
// Error set answers 400 with Error as the body.
func (t *Teams) FailNext(n int, f Fault) { t.faults.push(n, f) }

// SetLatency makes every normal answer wait d first.
func (t *Teams) SetLatency(d time.Duration) { t.faults.setLatency(d) }

// Requests returns a copy of the messages received so far, in order,
// with their cards decoded.
func (t *Teams) Requests() []TeamsRequest {
	out := t.requests.all()
	for i := range out {
		out[i].Cards = decodeCards(out[i].Body)
	}
	return out
}

type teamsMessage struct {
	Type        string `json:"type"`
	Attachments []struct {
		ContentType string          `json:"contentType"`
		Content     json.RawMessage `json:"content"`
	} `json:"attachments"`
}

// decodeCards returns the Adaptive Cards of a message body.
func decodeCards(body []byte) []map[string]any {
	var msg teamsMessage
	if json.Unmarshal(body, &msg) != nil {
		return nil
	}
	var cards []map[string]any
	for _, a := range msg.Attachments {
		var c map[string]any
		if a.ContentType == cardContentType && json.Unmarshal(a.Content, &c) == nil {
			cards = append(cards, c)
		}
	}
	return cards
}

const cardContentType = "application/vnd.microsoft.card.adaptive"

// Count returns how many messages were received.
func (t *Teams) Count() int { return t.requests.count(nil) }

// Reset forgets the recorded messages and queued faults.
func (t *Teams) Reset() {
	t.requests.reset()
	t.faults.reset()
}

func (t *Teams) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	req := TeamsRequest{Path: r.URL.Path, Workflows: strings.HasPrefix(r.URL.Path, "/workflows/"), Body: body, Received: time.Now()}
	var msg teamsMessage
	decodeErr := err != nil || json.Unmarshal(body, &msg) != nil
	cards := 0
	for _, a := range msg.Attachments {
		if a.ContentType == cardContentType && len(a.Content) > 0 && a.Content[0] == '{' {
			cards++
		}
	}

	ft, faulty, latency := t.faults.next()
	if faulty {
		if !wait(r, ft.Delay) {
			return
		}
		status := ft.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		req.Answer = status
		t.requests.record(req)
		setRetryAfter(w, ft.RetryAfter)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, ft.Error)
		return
	}
	if !wait(r, latency) {
		return
	}
	switch {
	case decodeErr || msg.Type != "message" || cards == 0:
		req.Answer = http.StatusBadRequest
		t.requests.record(req)
		http.Error(w, "Bad payload received by generic incoming webhook.", http.StatusBadRequest)
	case req.Workflows:
		req.Answer = http.StatusAccepted
		t.requests.record(req)
		w.WriteHeader(http.StatusAccepted)
	default:
		req.Answer = http.StatusOK
		t.requests.record(req)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "1")
	}
}
