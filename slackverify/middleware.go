package slackverify

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
)

// The response bodies of refused requests, in the {"error": "…"} shape
// used by every chatnotify handler. Every verification failure gets the
// same one, so a caller learns nothing about which check failed.
const (
	invalidSignatureJSON = `{"error":"Invalid signature"}` + "\n"
	bodyTooLargeJSON     = `{"error":"Request body too large"}` + "\n"
	unreadableBodyJSON   = `{"error":"Could not read request body"}` + "\n"
)

// errUnreadableBody is logged when reading the request body fails (for
// example when the client goes away).
var errUnreadableBody = errors.New("slackverify: could not read request body")

// Middleware returns a handler that verifies each request's Slack
// signature before calling next. It has the func(http.Handler)
// http.Handler shape of net/http and chi middleware.
//
// The handler reads the body, at most [Options.MaxBodyBytes] of it, and
// verifies it with [Verifier.Verify]. A longer body is answered with 413
// and {"error":"Request body too large"}; any verification failure with
// 401 and {"error":"Invalid signature"}, the same body whatever the cause;
// a body that cannot be read with 400. In each case the reason, the
// method, the path and the remote address go to [Options.Logger] at Warn,
// and next is not called.
//
// On success r.Body is replaced by a reader over the verified bytes and
// r.ContentLength set to their length, so next can parse the form as
// usual; [Body] returns the same bytes without copying them again.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := v.readBody(w, r)
		if err == nil {
			err = v.Verify(r.Header, body)
		}
		if err != nil {
			v.refuse(w, r, err)
			return
		}
		vb := &verifiedBody{data: body}
		vb.Reset(body)
		r.Body = vb
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// Body returns the raw body the [Verifier.Middleware] verified for r, and
// true, when r.Body is still the reader the middleware installed; the
// bytes are the whole body however much of r.Body has been read. It
// returns nil and false otherwise. The slice is shared: do not modify it.
func Body(r *http.Request) ([]byte, bool) {
	if vb, ok := r.Body.(*verifiedBody); ok {
		return vb.data, true
	}
	return nil, false
}

// verifiedBody is the request body installed after verification.
type verifiedBody struct {
	bytes.Reader
	data []byte
}

// Close does nothing: the server closes the original body.
func (*verifiedBody) Close() error { return nil }

// readBody reads r's body, bounded by v.maxBody. With a known
// Content-Length it makes one allocation of exactly that size and reads
// no further, so only the declared bytes are verified and passed on.
// preallocMax is the largest declared body length readBody allocates
// before reading.
const preallocMax = 64 << 10

func (v *Verifier) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > v.maxBody {
		return nil, ErrBodyTooLarge
	}
	// A small declared length is allocated at once; a large one is read as
	// it arrives, so that slow clients declaring large bodies cannot make
	// the server hold memory for bytes they have not sent.
	if r.ContentLength >= 0 && r.ContentLength <= preallocMax {
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, errUnreadableBody
		}
		return body, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, v.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, ErrBodyTooLarge
		}
		return nil, errUnreadableBody
	}
	return body, nil
}

// refuse logs why r was refused and answers with a fixed JSON error.
func (v *Verifier) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusUnauthorized, invalidSignatureJSON
	switch err {
	case ErrBodyTooLarge:
		status, msg = http.StatusRequestEntityTooLarge, bodyTooLargeJSON
	case errUnreadableBody:
		status, msg = http.StatusBadRequest, unreadableBodyJSON
	}
	v.logger.LogAttrs(r.Context(), slog.LevelWarn, "slackverify: request refused",
		slog.String("reason", err.Error()),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("remote_addr", r.RemoteAddr),
	)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}
