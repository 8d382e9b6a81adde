package notifytest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SlackMessage is a message as it stands in a fake Slack channel: what
// was posted, with every later chat.update and response_url replacement
// applied to it, as a Slack client would show it now.
type SlackMessage struct {
	// Channel is the channel ID of a message posted with
	// chat.postMessage (or through a response_url of one), or the webhook
	// path ("/services/T…/B…/…") of a message posted through an incoming
	// webhook.
	Channel string
	// TS is the message's timestamp, its ID in the channel. The fake gives
	// webhook messages one too.
	TS string
	// Text is the message's top-level text and Blocks its blocks,
	// decoded as generic JSON.
	Text   string
	Blocks []map[string]any
	// Ephemeral marks a message posted through a response_url without
	// "response_type": "in_channel": Slack shows it only to the user who
	// clicked.
	Ephemeral bool
	// Edits names, in order, what changed the message after it was
	// posted: "chat.update" or "response_url".
	Edits []string
	// Posted is when the fake received the message.
	Posted time.Time

	rawBlocks []byte
}

// Messages returns the messages of every channel, in the order they were
// posted, as they stand now: a chat.update or a response_url with
// "replace_original" replaces the message's text and blocks in place, and
// "delete_original" removes it. Unlike [Slack.Requests], Messages is not
// cleared by [Slack.Reset].
func (s *Slack) Messages() []SlackMessage {
	s.mu.Lock()
	out := make([]SlackMessage, len(s.messages))
	for i, m := range s.messages {
		out[i] = *m
		out[i].Edits = slices.Clone(m.Edits)
	}
	s.mu.Unlock()
	for i := range out {
		if len(out[i].rawBlocks) > 0 {
			_ = json.Unmarshal(out[i].rawBlocks, &out[i].Blocks)
		}
		out[i].rawBlocks = nil
	}
	return out
}

// ResponseURL returns a response_url on the fake for the message ts of
// channel, as Slack puts in the payload of a click on that message. A
// JSON POST to it is applied like Slack does: "replace_original": true
// (or "true") replaces the message, "delete_original" deletes it, and
// anything else posts a new message to the channel, ephemeral unless
// "response_type" is "in_channel". It answers {"ok":true}, or 404 with
// {"ok":false,"error":"message_not_found"} when it would replace or
// delete a message that is not there.
func (s *Slack) ResponseURL(channel, ts string) string {
	return s.srv.URL + "/actions/T00000000/" + url.PathEscape(channel) + "/" + url.PathEscape(ts)
}

// post stores a new message from req.
func (s *Slack) post(req SlackRequest, ephemeral bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &SlackMessage{
		Channel: req.Channel, TS: req.TS, Text: req.Text, Ephemeral: ephemeral,
		Posted: time.Now(), rawBlocks: req.rawBlocks,
	}
	s.posted[m.Channel+" "+m.TS] = m
	s.messages = append(s.messages, m)
}

// update applies req, a chat.update or a replacement through a
// response_url, to its message. As chat.update does, a missing text or
// blocks field leaves that part as it was; an empty blocks list removes
// the blocks. It reports whether the message was there.
func (s *Slack) update(req SlackRequest, how string, hasText, hasBlocks bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.posted[req.Channel+" "+req.TS]
	if m == nil {
		return false
	}
	if hasText {
		m.Text = req.Text
	}
	if hasBlocks {
		m.rawBlocks = req.rawBlocks
	}
	m.Edits = append(m.Edits, how)
	return true
}

// remove deletes the message ts of channel, reporting whether it was
// there.
func (s *Slack) remove(channel, ts string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.posted[channel+" "+ts]
	if m == nil {
		return false
	}
	delete(s.posted, channel+" "+ts)
	s.messages = slices.DeleteFunc(s.messages, func(x *SlackMessage) bool { return x == m })
	return true
}

// respond serves the response_urls of [Slack.ResponseURL]:
// /actions/T00000000/{channel}/{ts}.
func (s *Slack) respond(w http.ResponseWriter, r *http.Request) {
	var team, channel, ts string
	if parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/"); len(parts) == 4 {
		team, channel, ts = parts[1], parts[2], parts[3]
	}
	channel, err1 := url.PathUnescape(channel)
	ts, err2 := url.PathUnescape(ts)
	if team == "" || channel == "" || ts == "" || err1 != nil || err2 != nil {
		http.NotFound(w, r)
		return
	}
	req := SlackRequest{Method: "response_url", Channel: channel, TS: ts, WebhookPath: r.URL.Path}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var msg struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ReplaceOriginal json.RawMessage `json:"replace_original"`
		DeleteOriginal  json.RawMessage `json:"delete_original"`
		ResponseType    string          `json:"response_type"`
	}
	decodeErr := err != nil || json.Unmarshal(body, &msg) != nil
	req.Text = msg.Text
	hasBlocks := len(msg.Blocks) > 0 && string(msg.Blocks) != "null"
	if hasBlocks && string(msg.Blocks) != "[]" {
		req.rawBlocks = msg.Blocks
	}

	ft, faulty, latency := s.faults.next()
	if faulty {
		if !wait(r, ft.Delay) {
			return
		}
		req.Answer, req.Error = ft.Status, ft.Error
		if req.Answer == 0 {
			req.Answer = http.StatusBadRequest
		}
		s.requests.record(req)
		setRetryAfter(w, ft.RetryAfter)
		writeJSON(w, req.Answer, map[string]any{"ok": false, "error": ft.Error})
		return
	}
	if !wait(r, latency) {
		return
	}
	status, code := http.StatusOK, ""
	switch {
	case decodeErr:
		status, code = http.StatusBadRequest, "invalid_payload"
	case isTrue(msg.DeleteOriginal):
		if !s.remove(channel, ts) {
			status, code = http.StatusNotFound, "message_not_found"
		}
	case msg.Text == "" && req.rawBlocks == nil:
		status, code = http.StatusBadRequest, "no_text"
	case isTrue(msg.ReplaceOriginal):
		if !s.update(req, "response_url", true, hasBlocks) {
			status, code = http.StatusNotFound, "message_not_found"
		}
	default:
		post := req
		post.TS = s.newTS()
		s.post(post, msg.ResponseType != "in_channel")
	}
	req.Answer, req.Error = status, code
	s.requests.record(req)
	if code != "" {
		writeJSON(w, status, map[string]any{"ok": false, "error": code})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// isTrue reports whether a JSON value is true or "true", the two ways
// clients write Slack's replace_original and delete_original.
func isTrue(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	if string(v) == "true" {
		return true
	}
	s, err := strconv.Unquote(string(v))
	return err == nil && s == "true"
}
