package notifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Server is a fake Slack and Microsoft Teams on one [httptest.Server]:
// the Slack Web API (chat.postMessage, chat.update) under /api/, Slack
// incoming webhooks under /services/, Slack response_urls under
// /actions/, Teams incoming webhooks and Workflows URLs, and a Teams
// bot: a Bot Connector under /amer/ and its Microsoft Entra token
// endpoint under /login/. It answers
// as the platforms do, records every request, keeps each channel's
// messages as a chat client would show them, and gives the wrong answers
// queued with [Server.FailNext]. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	faults   []Fault
	latency  time.Duration
	requests []Request
	posted   map[string]*Message // Slack messages, by channel + " " + ts
	messages []*Message          // every message, in the order received
	seq      int
	bot      botState
}

// New starts a fake Slack and Teams. Close it when done.
func New() *Server {
	s := &Server{posted: make(map[string]*Message), bot: newBotState()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat.postMessage", s.slackAPI)
	mux.HandleFunc("POST /api/chat.update", s.slackAPI)
	mux.HandleFunc("POST /services/", s.slackWebhook)
	mux.HandleFunc("POST /actions/{team}/{channel}/{ts}", s.slackRespond)
	// Every Teams URL shape: tenant webhooks (webhookb2), legacy
	// outlook.office.com webhooks (webhook), Logic Apps Workflows
	// (workflows) and Power Platform Workflows (powerautomate).
	mux.HandleFunc("POST /webhookb2/", s.teams)
	mux.HandleFunc("POST /webhook/", s.teams)
	mux.HandleFunc("POST /workflows/", s.teams)
	mux.HandleFunc("POST /powerautomate/", s.teams)
	// The Teams bot: Entra's token endpoint, and the Bot Connector of
	// TeamsServiceURL (its region path included).
	mux.HandleFunc("POST /login/{tenant}/oauth2/v2.0/token", s.entraToken)
	mux.HandleFunc("POST /amer/v3/conversations/{conv}/activities", s.connector)
	mux.HandleFunc("PUT /amer/v3/conversations/{conv}/activities/{id}", s.connector)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// SlackAPIURL is the Web API base URL to give a Slack client (it ends in
// "/api/"), such as notify.SenderOptions.SlackAPIURL. Calls carry the bot
// token in the form body (token=), as slack-go sends it; a call without
// one is answered {"ok":false,"error":"not_authed"}.
func (s *Server) SlackAPIURL() string { return s.srv.URL + "/api/" }

// SlackWebhookURL returns a Slack incoming webhook URL on the fake;
// different names give different URLs, and each works. A post answers
// 200 with the body "ok".
func (s *Server) SlackWebhookURL(name string) string {
	return s.srv.URL + "/services/T00000000/B00000000/" + url.PathEscape(name)
}

// TeamsWebhookURL returns a Teams incoming webhook (Office 365 connector)
// URL on the fake; name makes it distinct. A card answers 200 with the
// body "1".
func (s *Server) TeamsWebhookURL(name string) string {
	return s.srv.URL + "/webhookb2/00000000-0000-0000-0000-000000000000@tenant/IncomingWebhook/" + url.PathEscape(name) + "/guid"
}

// TeamsWorkflowsURL returns a Teams Workflows (Power Automate) trigger
// URL on the fake, with a sig parameter; name makes it distinct. A card
// answers 202 Accepted.
func (s *Server) TeamsWorkflowsURL(name string) string {
	return s.srv.URL + "/workflows/" + url.PathEscape(name) + "/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=fakesig-" + url.QueryEscape(name)
}

// ResponseURL returns a response_url for the Slack message ts of channel,
// as Slack puts it in the payload of a click on that message. A JSON POST
// to it is applied as Slack applies it: "replace_original" true (or
// "true") replaces the message, "delete_original" deletes it, anything
// else adds a message to the channel, ephemeral unless "response_type"
// is "in_channel". It answers {"ok":true}, or 404 with
// {"ok":false,"error":"message_not_found"} when the message to replace or
// delete is not there.
func (s *Server) ResponseURL(channel, ts string) string {
	return s.srv.URL + "/actions/T00000000/" + url.PathEscape(channel) + "/" + url.PathEscape(ts)
}

// FailNext makes the next n requests that f applies to (see
// [Fault.Method]) answer with f instead of their normal answer. Faults
// are used in the order they were queued.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// SetLatency makes every normal answer wait d first, for benchmarks and
// timeout tests.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// Requests returns the requests received so far, in order, decoded.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	out := slices.Clone(s.requests)
	s.mu.Unlock()
	for i := range out {
		out[i].decode()
	}
	return out
}

// Messages returns every channel's messages, in the order they were
// posted, as they stand now: a Slack message with every chat.update and
// response_url replacement applied to it (a deleted one is gone), and
// each card a Teams webhook accepted. Refused posts are not messages.
// Unlike the requests, messages are kept by [Server.Reset].
func (s *Server) Messages() []Message {
	s.mu.Lock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = *m
		out[i].Edits = slices.Clone(m.Edits)
	}
	s.mu.Unlock()
	for i := range out {
		out[i].decode()
	}
	return out
}

// Reset forgets the recorded requests and the queued faults. The messages
// stay, as they would in a real channel, and so do the bot's issued
// tokens and the conversations it was removed from.
func (s *Server) Reset() {
	s.mu.Lock()
	s.requests, s.faults = nil, nil
	s.mu.Unlock()
}

// fault takes the first queued fault that applies to method, if any, and
// returns it with the latency of normal answers.
func (s *Server) fault(method string) (Fault, bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Method == "" || f.Method == method {
			s.faults = slices.Delete(s.faults, i, i+1)
			return f, true, s.latency
		}
	}
	return Fault{}, false, s.latency
}

func (s *Server) record(r Request) {
	r.Received = time.Now()
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
}

func (s *Server) newTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("1700000000.%06d", s.seq)
}

// post stores a new message.
func (s *Server) post(m *Message) {
	m.Posted = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.TS != "" {
		s.posted[m.Channel+" "+m.TS] = m
	}
	s.messages = append(s.messages, m)
}

// update applies a chat.update or a response_url replacement to the Slack
// message ts of channel. As chat.update does, an absent text or blocks
// field leaves that part as it was, and an empty blocks list removes the
// blocks. It reports whether the message was there.
func (s *Server) update(channel, ts, how string, text *string, blocks json.RawMessage) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.posted[channel+" "+ts]
	if m == nil {
		return false
	}
	if text != nil {
		m.Text = *text
	}
	if blocks != nil {
		m.rawBlocks = blocks
	}
	m.Edits = append(m.Edits, how)
	return true
}

// remove deletes the Slack message ts of channel, reporting whether it
// was there.
func (s *Server) remove(channel, ts string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.posted[channel+" "+ts]
	if m == nil {
		return false
	}
	delete(s.posted, channel+" "+ts)
	s.messages = slices.DeleteFunc(s.messages, func(x *Message) bool { return x == m })
	return true
}

func (s *Server) isPosted(channel, ts string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posted[channel+" "+ts] != nil
}

// maxBody bounds what the fake reads of a request.
const maxBody = 1 << 20
