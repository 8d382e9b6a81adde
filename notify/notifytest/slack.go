package notifytest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Slack is a fake Slack on an [httptest.Server]: the Web API methods
// chat.postMessage and chat.update under /api/, and incoming webhooks
// under /services/. It records every request it receives and answers as
// Slack does, unless told otherwise with [Slack.FailNext]. It is safe for
// concurrent use.
type Slack struct {
	srv      *httptest.Server
	faults   faults
	requests recorder[SlackRequest]

	mu       sync.Mutex               // guards the conversation below
	posted   map[string]*SlackMessage // by channel + " " + ts
	messages []*SlackMessage          // in the order they were posted
	seq      int
}

// SlackRequest is one request received by a [Slack] fake.
type SlackRequest struct {
	// Method is "chat.postMessage", "chat.update", "webhook" or
	// "response_url".
	Method string
	// Token is the form token of a Web API call.
	Token string
	// Channel is the channel of a Web API call.
	Channel string
	// TS is the message timestamp of a chat.update.
	TS string
	// WebhookPath is the path of a webhook post, such as
	// "/services/T000/B000/XXXX".
	WebhookPath string
	// Text is the message's top-level text.
	Text string
	// Blocks are the message's blocks, decoded as generic JSON.
	Blocks []map[string]any
	// Answer is the HTTP status the fake answered with; Error the
	// platform error it gave, if any.
	Answer int
	Error  string

	rawBlocks []byte // decoded into Blocks by Requests
}

// SlackButton is a button found in a message's actions blocks.
type SlackButton struct {
	ActionID string
	Text     string
	Value    string
	URL      string
	Style    string
}

// Buttons returns the buttons of the request's actions blocks, in order.
func (r SlackRequest) Buttons() []SlackButton {
	var out []SlackButton
	for _, b := range r.Blocks {
		if b["type"] != "actions" {
			continue
		}
		els, _ := b["elements"].([]any)
		for _, e := range els {
			m, _ := e.(map[string]any)
			if m["type"] != "button" {
				continue
			}
			btn := SlackButton{ActionID: str(m["action_id"]), Value: str(m["value"]), URL: str(m["url"]), Style: str(m["style"])}
			if t, ok := m["text"].(map[string]any); ok {
				btn.Text = str(t["text"])
			}
			out = append(out, btn)
		}
	}
	return out
}

// AllText returns the top-level text and every text found in the blocks,
// one per line, for assertions on what a reader would see.
func (r SlackRequest) AllText() string {
	var b strings.Builder
	b.WriteString(r.Text)
	for _, blk := range r.Blocks {
		collectText(&b, blk)
	}
	return b.String()
}

func collectText(b *strings.Builder, v any) {
	switch x := v.(type) {
	case map[string]any:
		if t, ok := x["text"].(string); ok {
			b.WriteString("\n" + t)
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if e := x[k]; k != "text" || !isString(e) {
				collectText(b, e)
			}
		}
	case []any:
		for _, e := range x {
			collectText(b, e)
		}
	}
}

func isString(v any) bool { _, ok := v.(string); return ok }

func str(v any) string { s, _ := v.(string); return s }

// NewSlack starts a fake Slack. Close it when done.
func NewSlack() *Slack {
	s := &Slack{posted: make(map[string]*SlackMessage)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat.postMessage", s.webAPI)
	mux.HandleFunc("POST /api/chat.update", s.webAPI)
	mux.HandleFunc("POST /services/", s.webhook)
	mux.HandleFunc("POST /actions/", s.respond)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close shuts the fake down.
func (s *Slack) Close() { s.srv.Close() }

// URL is the fake's base URL.
func (s *Slack) URL() string { return s.srv.URL }

// APIURL is the Web API base URL to configure a client with (it ends in
// "/api/").
func (s *Slack) APIURL() string { return s.srv.URL + "/api/" }

// WebhookURL returns an incoming webhook URL on the fake. Different
// names give different URLs; every one of them works.
func (s *Slack) WebhookURL(name string) string {
	return s.srv.URL + "/services/T00000000/B00000000/" + name
}

// FailNext makes the next n requests (of any kind) answer with f.
func (s *Slack) FailNext(n int, f Fault) { s.faults.push(n, f) }

// SetLatency makes every normal answer wait d first.
func (s *Slack) SetLatency(d time.Duration) { s.faults.setLatency(d) }

// Requests returns a copy of the requests received so far, in order,
// with their blocks decoded.
func (s *Slack) Requests() []SlackRequest {
	out := s.requests.all()
	for i := range out {
		if len(out[i].rawBlocks) > 0 {
			_ = json.Unmarshal(out[i].rawBlocks, &out[i].Blocks)
		}
	}
	return out
}

// Count returns how many requests of method ("chat.postMessage",
// "chat.update", "webhook", "response_url") were received, or of all
// kinds for "".
func (s *Slack) Count(method string) int {
	return s.requests.count(func(r SlackRequest) bool { return method == "" || r.Method == method })
}

// Reset forgets the recorded requests and queued faults.
func (s *Slack) Reset() {
	s.requests.reset()
	s.faults.reset()
}

func (s *Slack) webAPI(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	req := SlackRequest{
		Method:  method,
		Token:   r.PostForm.Get("token"),
		Channel: r.PostForm.Get("channel"),
		TS:      r.PostForm.Get("ts"),
		Text:    r.PostForm.Get("text"),
	}
	if b := r.PostForm.Get("blocks"); b != "" && b != "[]" {
		req.rawBlocks = []byte(b)
	}
	ft, faulty, latency := s.faults.next()
	if faulty {
		if !wait(r, ft.Delay) {
			return
		}
		req.Answer, req.Error = ft.Status, ft.Error
		if req.Answer == 0 {
			req.Answer = http.StatusOK
		}
		s.requests.record(req)
		setRetryAfter(w, ft.RetryAfter)
		if req.Answer == http.StatusOK {
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": ft.Error})
			return
		}
		w.WriteHeader(req.Answer)
		io.WriteString(w, ft.Error)
		return
	}
	if !wait(r, latency) {
		return
	}
	var code string
	switch {
	case req.Token == "":
		code = "not_authed"
	case req.Channel == "":
		code = "channel_not_found"
	case method == "chat.update" && !s.isPosted(req.Channel, req.TS):
		code = "message_not_found"
	case req.Text == "" && len(req.rawBlocks) == 0:
		code = "no_text"
	}
	req.Answer, req.Error = http.StatusOK, code
	if code != "" {
		s.requests.record(req)
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
		return
	}
	if method == "chat.postMessage" {
		req.TS = s.newTS()
	}
	s.requests.record(req)
	if method == "chat.postMessage" {
		s.post(req, false)
	} else {
		s.update(req, method, r.PostForm.Has("text"), r.PostForm.Has("blocks"))
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": req.Channel, "ts": req.TS})
}

func (s *Slack) newTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("1700000000.%06d", s.seq)
}

func (s *Slack) isPosted(channel, ts string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posted[channel+" "+ts] != nil
}

// slackWebhookStatus is the status Slack documents for a webhook error
// body (changelog 2016-05-17); others get 400.
var slackWebhookStatus = map[string]int{
	"invalid_payload":     http.StatusBadRequest,
	"user_not_found":      http.StatusBadRequest,
	"action_prohibited":   http.StatusForbidden,
	"channel_not_found":   http.StatusNotFound,
	"no_service":          http.StatusNotFound,
	"channel_is_archived": http.StatusGone,
	"rollup_error":        http.StatusInternalServerError,
	"invalid_token":       http.StatusForbidden,
	"no_text":             http.StatusBadRequest,
}

func (s *Slack) webhook(w http.ResponseWriter, r *http.Request) {
	req := SlackRequest{Method: "webhook", WebhookPath: r.URL.Path}
	var msg struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	decodeErr := err != nil || json.Unmarshal(body, &msg) != nil
	req.Text = msg.Text
	if len(msg.Blocks) > 0 && string(msg.Blocks) != "null" && string(msg.Blocks) != "[]" {
		req.rawBlocks = msg.Blocks
	}

	ft, faulty, latency := s.faults.next()
	if faulty {
		if !wait(r, ft.Delay) {
			return
		}
		status := ft.Status
		if status == 0 {
			status = slackWebhookStatus[ft.Error]
			if status == 0 {
				status = http.StatusBadRequest
			}
		}
		req.Answer, req.Error = status, ft.Error
		s.requests.record(req)
		setRetryAfter(w, ft.RetryAfter)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		io.WriteString(w, ft.Error)
		return
	}
	if !wait(r, latency) {
		return
	}
	status, answer := http.StatusOK, "ok"
	switch {
	case decodeErr:
		status, answer = http.StatusBadRequest, "invalid_payload"
	case msg.Text == "" && len(req.rawBlocks) == 0:
		status, answer = http.StatusBadRequest, "no_text"
	}
	req.Answer = status
	if status != http.StatusOK {
		req.Error = answer
	}
	s.requests.record(req)
	if status == http.StatusOK {
		req.Channel, req.TS = req.WebhookPath, s.newTS()
		s.post(req, false)
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
