package notifytest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// slackAPI serves chat.postMessage and chat.update: a form-encoded body
// with the token in it, answered {"ok":true,"channel":…,"ts":…} or
// {"ok":false,"error":…} with HTTP 200.
func (s *Server) slackAPI(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	req := Request{
		Method:  strings.TrimPrefix(r.URL.Path, "/api/"),
		Token:   f.Get("token"),
		Channel: f.Get("channel"),
		TS:      f.Get("ts"),
		Text:    f.Get("text"),
		Body:    body,
	}
	if b := f.Get("blocks"); b != "" && b != "[]" {
		req.rawBlocks = []byte(b)
	}
	if ft, faulty, latency := s.fault(req.Method); faulty {
		if !wait(r, ft.Delay) {
			return
		}
		req.Answer = ft.status(func(string) int { return http.StatusOK })
		req.Error = ft.Error
		s.record(req)
		ft.setRetryAfter(w)
		if req.Answer == http.StatusOK {
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": ft.Error})
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(req.Answer)
		io.WriteString(w, ft.body(req.Answer))
		return
	} else if !wait(r, latency) {
		return
	}
	var code string
	switch {
	case req.Token == "":
		code = "not_authed"
	case req.Channel == "":
		code = "channel_not_found"
	case req.Method == "chat.update" && !s.isPosted(req.Channel, req.TS):
		code = "message_not_found"
	case req.Text == "" && req.rawBlocks == nil:
		code = "no_text"
	}
	req.Answer, req.Error = http.StatusOK, code
	if code != "" {
		s.record(req)
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
		return
	}
	if req.Method == "chat.postMessage" {
		req.TS = s.newTS()
		s.post(&Message{Channel: req.Channel, TS: req.TS, Text: req.Text, rawBlocks: req.rawBlocks})
	} else {
		var text *string
		if f.Has("text") {
			text = &req.Text
		}
		var blocks json.RawMessage
		if f.Has("blocks") {
			blocks = json.RawMessage(req.rawBlocks)
			if blocks == nil {
				blocks = json.RawMessage{} // an empty list removes the blocks
			}
		}
		s.update(req.Channel, req.TS, "chat.update", text, blocks)
	}
	s.record(req)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": req.Channel, "ts": req.TS})
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

func webhookStatus(code string) int {
	if st, ok := slackWebhookStatus[code]; ok {
		return st
	}
	return http.StatusBadRequest
}

// slackWebhook serves incoming webhooks: a JSON message, answered 200
// "ok", or an error code as the body (text/html) with its status.
func (s *Server) slackWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	req := Request{Method: "webhook", Path: r.URL.Path, Body: body}
	var msg struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	decodeErr := err != nil || json.Unmarshal(body, &msg) != nil
	req.Text = msg.Text
	if hasList(msg.Blocks) {
		req.rawBlocks = msg.Blocks
	}
	status, answer := http.StatusOK, "ok"
	if ft, faulty, latency := s.fault(req.Method); faulty {
		if !wait(r, ft.Delay) {
			return
		}
		status = ft.status(webhookStatus)
		answer = ft.body(status)
		req.Error = ft.Error
		ft.setRetryAfter(w)
	} else {
		if !wait(r, latency) {
			return
		}
		switch {
		case decodeErr:
			status, answer = http.StatusBadRequest, "invalid_payload"
		case msg.Text == "" && req.rawBlocks == nil:
			status, answer = http.StatusBadRequest, "no_text"
		}
		if status != http.StatusOK {
			req.Error = answer
		} else {
			s.post(&Message{Channel: req.Path, TS: s.newTS(), Text: msg.Text, rawBlocks: req.rawBlocks})
		}
	}
	req.Answer = status
	s.record(req)
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

// slackRespond serves the response_urls of [Server.ResponseURL]:
// /actions/{team}/{channel}/{ts}, answered {"ok":true} or
// {"ok":false,"error":…}.
func (s *Server) slackRespond(w http.ResponseWriter, r *http.Request) {
	channel, ts := r.PathValue("channel"), r.PathValue("ts")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	req := Request{Method: "response_url", Path: r.URL.Path, Channel: channel, TS: ts, Body: body}
	var msg struct {
		Text            *string         `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ReplaceOriginal json.RawMessage `json:"replace_original"`
		DeleteOriginal  json.RawMessage `json:"delete_original"`
		ResponseType    string          `json:"response_type"`
	}
	decodeErr := err != nil || json.Unmarshal(body, &msg) != nil
	if msg.Text != nil {
		req.Text = *msg.Text
	}
	if hasList(msg.Blocks) {
		req.rawBlocks = msg.Blocks
	}
	req.ReplaceOriginal, req.DeleteOriginal, req.ResponseType = isTrue(msg.ReplaceOriginal), isTrue(msg.DeleteOriginal), msg.ResponseType

	if ft, faulty, latency := s.fault(req.Method); faulty {
		if !wait(r, ft.Delay) {
			return
		}
		req.Answer = ft.status(func(string) int { return http.StatusBadRequest })
		req.Error = ft.Error
		s.record(req)
		ft.setRetryAfter(w)
		if ft.Error == "" {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(req.Answer)
			io.WriteString(w, ft.body(req.Answer))
			return
		}
		writeJSON(w, req.Answer, map[string]any{"ok": false, "error": ft.Error})
		return
	} else if !wait(r, latency) {
		return
	}
	status, code := http.StatusOK, ""
	switch {
	case decodeErr:
		status, code = http.StatusBadRequest, "invalid_payload"
	case req.DeleteOriginal:
		if !s.remove(channel, ts) {
			status, code = http.StatusNotFound, "message_not_found"
		}
	case req.Text == "" && req.rawBlocks == nil:
		status, code = http.StatusBadRequest, "no_text"
	case req.ReplaceOriginal:
		var blocks json.RawMessage
		if len(msg.Blocks) > 0 && string(msg.Blocks) != "null" {
			blocks = msg.Blocks
		}
		if !s.update(channel, ts, "response_url", &req.Text, blocks) {
			status, code = http.StatusNotFound, "message_not_found"
		}
	default:
		s.post(&Message{Channel: channel, TS: s.newTS(), Text: req.Text, rawBlocks: req.rawBlocks, Ephemeral: msg.ResponseType != "in_channel"})
	}
	req.Answer, req.Error = status, code
	s.record(req)
	if code != "" {
		writeJSON(w, status, map[string]any{"ok": false, "error": code})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// hasList reports whether a JSON value is a non-empty list.
func hasList(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && string(v) != "null" && string(v) != "[]"
}

// isTrue reports whether a JSON value is true or "true", the two ways
// clients write Slack's replace_original and delete_original.
func isTrue(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	if string(v) == "true" {
		return true
	}
	var s string
	return json.Unmarshal(v, &s) == nil && s == "true"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
