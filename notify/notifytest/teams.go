package notifytest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// teams serves Teams incoming webhooks (answered 200 with the body "1")
// and Workflows URLs (answered 202 Accepted with no body). A message
// without an Adaptive Card is refused with 400, as Teams does.
func (s *Server) teams(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	req := Request{Method: "teams", Path: r.URL.Path, Body: body}
	if strings.HasPrefix(r.URL.Path, "/workflows/") || strings.HasPrefix(r.URL.Path, "/powerautomate/") {
		req.Method = "workflows"
	}
	var msg teamsMessage
	decodeErr := err != nil || json.Unmarshal(body, &msg) != nil
	cards := 0
	for _, a := range msg.Attachments {
		if a.ContentType == cardContentType && len(a.Content) > 0 && a.Content[0] == '{' {
			cards++
		}
	}

	ft, faulty, latency := s.fault(req.Method)
	if faulty {
		if !wait(r, ft.Delay) {
			return
		}
		req.Answer = ft.status(func(string) int { return http.StatusBadRequest })
		req.Error = ft.Error
		s.record(req)
		ft.setRetryAfter(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(req.Answer)
		io.WriteString(w, ft.body(req.Answer))
		return
	}
	if !wait(r, latency) {
		return
	}
	switch {
	case decodeErr || msg.Type != "message" || cards == 0:
		req.Answer, req.Error = http.StatusBadRequest, "Bad payload received by generic incoming webhook."
		s.record(req)
		http.Error(w, req.Error, http.StatusBadRequest)
		return
	case req.Method == "workflows":
		req.Answer = http.StatusAccepted
	default:
		req.Answer = http.StatusOK
	}
	s.record(req)
	s.post(&Message{Channel: req.Path, body: body})
	if req.Answer == http.StatusAccepted {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "1")
}
