package slackverify

import (
	"bytes"
	"context"
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
// On success next gets the request with a context for which [Verified]
// reports true, and with the verified bytes as an ordinary body:
// r.Body reads them (r.ParseForm and r.FormValue work as usual),
// r.ContentLength is their length and r.GetBody returns a fresh reader
// over them. Middleware between this one and the handler may wrap r.Body
// (as chi's middleware.RequestSize does with [http.MaxBytesReader]) or
// derive the context without losing either.
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
		r = r.WithContext(context.WithValue(r.Context(), verifiedKey{}, true))
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(body)), nil
		}
		next.ServeHTTP(w, r)
	})
}

// verifiedKey is the context key under which [Verifier.Middleware] marks
// a request as verified. Being unexported, no other package can set it.
type verifiedKey struct{}

// Verified reports whether ctx is the context, or derives from the
// context, of a request whose Slack signature [Verifier.Middleware]
// verified. It is false for every other context, including that of a
// request the middleware refused (which never reaches the next handler)
// and of one that did not pass through the middleware.
func Verified(ctx context.Context) bool {
	ok, _ := ctx.Value(verifiedKey{}).(bool)
	return ok
}

// preallocMax is the largest declared body length readBody allocates
// before reading.
const preallocMax = 64 << 10

// readBody reads r's body, bounded by v.maxBody. With a known
// Content-Length it reads no further, so only the declared bytes are
// verified and passed on.
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
