package slackverify_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/slackverify"
)

const (
	wantInvalidSignature = `{"error":"Invalid signature"}` + "\n"
	wantTooLarge         = `{"error":"Request body too large"}` + "\n"
)

// mwFixture is a Verifier at a fixed time, with a captured log, in front
// of a handler that records what it saw.
type mwFixture struct {
	handler http.Handler
	log     *bytes.Buffer
	calls   int
	seen    struct {
		verified      bool
		payload       string
		body          []byte
		contentLength int64
	}
}

func newMW(t *testing.T, opts slackverify.Options) *mwFixture {
	t.Helper()
	f := &mwFixture{log: &bytes.Buffer{}}
	if opts.Now == nil {
		at := unix(sslTS)
		opts.Now = func() time.Time { return at }
	}
	opts.Logger = slog.New(slog.NewJSONHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v, err := slackverify.New(sslSecret, &opts)
	require.NoError(t, err)
	f.handler = v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls++
		f.seen.contentLength = r.ContentLength
		f.seen.verified = slackverify.Verified(r.Context())
		// Read the body, then parse the form from a second copy that
		// GetBody returns: both must be the whole verified body.
		var err error
		if f.seen.body, err = io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.Body, err = r.GetBody(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.seen.payload = r.PostForm.Get("payload")
		w.WriteHeader(http.StatusNoContent)
	}))
	return f
}

func formRequest(body string, h http.Header) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/webhooks/slack/interactions", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "192.0.2.7:41234"
	for k, v := range h {
		r.Header[k] = v
	}
	return r
}

func TestMiddlewarePassesVerifiedRequest(t *testing.T) {
	f := newMW(t, slackverify.Options{})
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, formRequest(sslBody, header(sslTS, sslSig)))

	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	assert.Equal(t, 1, f.calls)
	wantPayload, err := url.QueryUnescape(strings.TrimPrefix(sslBody, "payload="))
	require.NoError(t, err)
	assert.True(t, f.seen.verified, "Verified(r.Context()) in the next handler")
	assert.Equal(t, sslBody, string(f.seen.body), "r.Body reads the verified bytes")
	assert.Equal(t, wantPayload, f.seen.payload, "next handler parses the form from GetBody's copy")
	assert.Equal(t, int64(len(sslBody)), f.seen.contentLength)
	assert.Empty(t, f.log.String(), "nothing is logged for a good request")
}

func TestMiddlewareRestoredBodyIsReadable(t *testing.T) {
	v, err := slackverify.New(sslSecret, &slackverify.Options{Now: func() time.Time { return unix(sslTS) }})
	require.NoError(t, err)
	var got []byte
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		assert.NoError(t, r.Body.Close())
	}))
	h.ServeHTTP(httptest.NewRecorder(), formRequest(sslBody, header(sslTS, sslSig)))
	assert.Equal(t, sslBody, string(got))
}

func TestMiddlewareEmptyBody(t *testing.T) {
	f := newMW(t, slackverify.Options{})
	r := httptest.NewRequest(http.MethodPost, "/x", nil)
	for k, v := range header(sslTS, sign(sslSecret, sslTS, "")) {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, 1, f.calls)
	assert.True(t, f.seen.verified)
	assert.Empty(t, f.seen.body)
}

func TestMiddlewareRefusesWithOneAnswer(t *testing.T) {
	ts := sslTS
	good := sign(sslSecret, ts, sslBody)
	tampered := "payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22approve_action%22%2C%22value%22%3A%22req-43%22%7D%5D%7D"
	future := "1700000400"

	tests := []struct {
		name   string
		header http.Header
		body   string
		reason error
	}{
		{"missing timestamp", header("", good), sslBody, slackverify.ErrMissingHeaders},
		{"missing signature", header(ts, ""), sslBody, slackverify.ErrMissingHeaders},
		{"malformed timestamp", header("yesterday", good), sslBody, slackverify.ErrMalformedTimestamp},
		{"stale timestamp", header("1699999690", sign(sslSecret, "1699999690", sslBody)), sslBody, slackverify.ErrStaleTimestamp},
		{"future timestamp", header(future, sign(sslSecret, future, sslBody)), sslBody, slackverify.ErrStaleTimestamp},
		{"wrong version", header(ts, "v1="+good[3:]), sslBody, slackverify.ErrMalformedSignature},
		{"wrong length", header(ts, good[:66]), sslBody, slackverify.ErrMalformedSignature},
		{"non-hex", header(ts, good[:66]+"z"), sslBody, slackverify.ErrMalformedSignature},
		{"tampered body", header(ts, good), tampered, slackverify.ErrSignatureMismatch},
		{"wrong secret", header(ts, sign(docSecret, ts, sslBody)), sslBody, slackverify.ErrSignatureMismatch},
	}
	bodies := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMW(t, slackverify.Options{})
			r := formRequest(tt.body, tt.header)
			w := httptest.NewRecorder()
			f.handler.ServeHTTP(w, r)

			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, wantInvalidSignature, w.Body.String())
			bodies[w.Body.String()] = true
			assert.Zero(t, f.calls, "next must not be called")

			logged := f.log.String()
			assert.Contains(t, logged, `"level":"WARN"`)
			assert.Contains(t, logged, tt.reason.Error(), "the log names the reason")
			assert.Contains(t, logged, "/v1/webhooks/slack/interactions")
			assert.Contains(t, logged, "192.0.2.7:41234")
			// Never the secret, the signature we computed for this body, or
			// the signature the caller sent.
			assert.NotContains(t, logged, sslSecret)
			computed := sign(sslSecret, tt.header.Get(hdrTimestamp), tt.body)
			assert.NotContains(t, logged, computed[3:])
			assert.NotContains(t, logged, computed[3:11], "not even a prefix of the computed signature")
			if s := tt.header.Get(hdrSignature); len(s) > 10 {
				assert.NotContains(t, logged, s[3:])
			}
			// And the response reveals nothing either.
			assert.NotContains(t, w.Body.String(), computed[3:11])
		})
	}
	assert.Len(t, bodies, 1, "every failure gets the same body")
}

// unsizedReader hides its length, so the request is sent chunked with
// ContentLength -1.
type unsizedReader struct{ r io.Reader }

func (u unsizedReader) Read(p []byte) (int, error) { return u.r.Read(p) }

func TestMiddlewareBodyLimit(t *testing.T) {
	const limit = 64
	atLimit := strings.Repeat("a", limit)
	over := atLimit + "a"
	tests := []struct {
		name     string
		body     string
		unsized  bool
		wantCode int
	}{
		{"at limit, known length", atLimit, false, http.StatusNoContent},
		{"at limit, unknown length", atLimit, true, http.StatusNoContent},
		{"over limit, known length", over, false, http.StatusRequestEntityTooLarge},
		{"over limit, unknown length", over, true, http.StatusRequestEntityTooLarge},
		{"far over limit, unknown length", strings.Repeat("a", 10*limit), true, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMW(t, slackverify.Options{MaxBodyBytes: limit})
			var rd io.Reader = strings.NewReader(tt.body)
			if tt.unsized {
				rd = unsizedReader{rd}
			}
			r := httptest.NewRequest(http.MethodPost, "/slack", rd)
			if tt.unsized {
				require.Equal(t, int64(-1), r.ContentLength)
			}
			for k, v := range header(sslTS, sign(sslSecret, sslTS, tt.body)) {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			f.handler.ServeHTTP(w, r)

			require.Equal(t, tt.wantCode, w.Code, w.Body.String())
			if tt.wantCode == http.StatusRequestEntityTooLarge {
				assert.Equal(t, wantTooLarge, w.Body.String())
				assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
				assert.Zero(t, f.calls)
				assert.Contains(t, f.log.String(), slackverify.ErrBodyTooLarge.Error())
			} else {
				assert.Equal(t, 1, f.calls)
				assert.True(t, f.seen.verified)
				assert.Equal(t, tt.body, string(f.seen.body))
				assert.Equal(t, int64(len(tt.body)), f.seen.contentLength, "the length is known once read")
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestMiddlewareUnreadableBody(t *testing.T) {
	f := newMW(t, slackverify.Options{})
	r := httptest.NewRequest(http.MethodPost, "/slack", failingReader{})
	for k, v := range header(sslTS, sslSig) {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Equal(t, `{"error":"Could not read request body"}`+"\n", w.Body.String())
	assert.Zero(t, f.calls)
	assert.NotContains(t, w.Body.String(), "connection reset", "internal error text stays out of the response")
}

// A body above the preallocation size is read as it arrives and passed
// on whole.
func TestMiddlewareLargeDeclaredBody(t *testing.T) {
	body := "payload=" + strings.Repeat("x", 200<<10)
	f := newMW(t, slackverify.Options{})
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, formRequest(body, header(sslTS, sign(sslSecret, sslTS, body))))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	assert.Equal(t, body, string(f.seen.body))
	assert.Equal(t, int64(len(body)), f.seen.contentLength)
}

// A client that declares a large body and sends a few bytes does not make
// the server allocate what it declared.
func TestMiddlewareDoesNotPreallocateLargeDeclaredBody(t *testing.T) {
	f := newMW(t, slackverify.Options{})
	r := httptest.NewRequest(http.MethodPost, "/slack", io.MultiReader(strings.NewReader("payload=x"), failingReader{}))
	r.ContentLength = 1<<20 - 1 // just under the default limit
	for k, v := range header(sslTS, sslSig) {
		r.Header[k] = v
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	runtime.ReadMemStats(&after)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(256<<10), "bytes allocated for a 1 MiB declaration")
}

// TestMiddlewareOverRealServer goes through net/http's server and client,
// with a Content-Length body and a chunked one.
func TestMiddlewareOverRealServer(t *testing.T) {
	f := newMW(t, slackverify.Options{MaxBodyBytes: 1024})
	srv := httptest.NewServer(f.handler)
	t.Cleanup(srv.Close)

	post := func(t *testing.T, body io.Reader, sig string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/slack/interactions", body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(hdrTimestamp, sslTS)
		req.Header.Set(hdrSignature, sig)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	t.Run("verified", func(t *testing.T) {
		resp := post(t, strings.NewReader(sslBody), sslSig)
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
		assert.Equal(t, sslBody, string(f.seen.body))
	})
	t.Run("verified, chunked", func(t *testing.T) {
		resp := post(t, unsizedReader{strings.NewReader(sslBody)}, sslSig)
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
		assert.Equal(t, sslBody, string(f.seen.body))
	})
	t.Run("tampered", func(t *testing.T) {
		resp := post(t, strings.NewReader(sslBody+"&x=1"), sslSig)
		b, _ := io.ReadAll(resp.Body)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, wantInvalidSignature, string(b))
	})
	t.Run("too large, chunked", func(t *testing.T) {
		big := strings.Repeat("a", 4096)
		resp := post(t, unsizedReader{strings.NewReader(big)}, sign(sslSecret, sslTS, big))
		b, _ := io.ReadAll(resp.Body)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Equal(t, wantTooLarge, string(b))
	})
}

func TestVerifiedWithoutMiddleware(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(sslBody))
	for k, v := range header(sslTS, sslSig) {
		r.Header[k] = v
	}
	assert.False(t, slackverify.Verified(r.Context()), "a correctly signed request the middleware never saw")
	assert.False(t, slackverify.Verified(context.Background()))
	type otherKey struct{}
	assert.False(t, slackverify.Verified(context.WithValue(t.Context(), otherKey{}, true)),
		"another package's true value under its own key")
}

// requestSize is chi's middleware.RequestSize, written out: it wraps
// r.Body in an http.MaxBytesReader, so the handler no longer sees the
// body the verifier installed.
func requestSize(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

// withTimeout derives the request context, as timeout and tracing
// middleware do.
func withTimeout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// TestMiddlewareVerifiedThroughWrappingMiddleware is issue 8's "verified
// click audited as unverified": with a body-wrapping middleware (chi's
// RequestSize) between the verifier and the handler, the handler must
// still learn that the request was verified, and read the whole body.
// With the old design (the verified mark was r.Body's private type) the
// wrapper hid the mark.
func TestMiddlewareVerifiedThroughWrappingMiddleware(t *testing.T) {
	v, err := slackverify.New(sslSecret, &slackverify.Options{Now: func() time.Time { return unix(sslTS) }})
	require.NoError(t, err)
	wantPayload, err := url.QueryUnescape(strings.TrimPrefix(sslBody, "payload="))
	require.NoError(t, err)

	for name, between := range map[string]func(http.Handler) http.Handler{
		"MaxBytesReader wrapper":           requestSize(1 << 20),
		"MaxBytesReader then derived ctx":  func(h http.Handler) http.Handler { return requestSize(1 << 20)(withTimeout(h)) },
		"derived ctx then MaxBytesReader":  func(h http.Handler) http.Handler { return withTimeout(requestSize(1 << 20)(h)) },
		"MaxBytesReader at the body size":  requestSize(int64(len(sslBody))),
		"two MaxBytesReaders, one per hop": func(h http.Handler) http.Handler { return requestSize(1 << 20)(requestSize(64 << 10)(h)) },
	} {
		t.Run(name, func(t *testing.T) {
			var verified bool
			var payload string
			h := v.Middleware(between(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				verified = slackverify.Verified(r.Context())
				payload = r.FormValue("payload")
			})))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, formRequest(sslBody, header(sslTS, sslSig)))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.True(t, verified, "Verified(r.Context()) behind the wrapper")
			assert.Equal(t, wantPayload, payload, "the body is intact behind the wrapper")
		})
	}

	// The wrapper still does its job on the restored body.
	t.Run("wrapper limit still applies", func(t *testing.T) {
		var readErr error
		h := v.Middleware(requestSize(10)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, readErr = io.ReadAll(r.Body)
		})))
		h.ServeHTTP(httptest.NewRecorder(), formRequest(sslBody, header(sslTS, sslSig)))
		var tooLarge *http.MaxBytesError
		assert.ErrorAs(t, readErr, &tooLarge)
	})
}

// TestMiddlewareVerifiedUnderChi mounts the verifier and chi's own
// middleware.RequestSize on a chi router, under a prefix.
func TestMiddlewareVerifiedUnderChi(t *testing.T) {
	v, err := slackverify.New(sslSecret, &slackverify.Options{Now: func() time.Time { return unix(sslTS) }})
	require.NoError(t, err)
	var verified bool
	var body string
	r := chi.NewRouter()
	r.Route("/api", func(r chi.Router) {
		r.With(v.Middleware, middleware.RequestSize(1<<20)).Post("/v1/webhooks/slack/interactions",
			func(w http.ResponseWriter, r *http.Request) {
				verified = slackverify.Verified(r.Context())
				b, _ := io.ReadAll(r.Body)
				body = string(b)
			})
	})
	req := formRequest(sslBody, header(sslTS, sslSig))
	req.URL.Path = "/api/v1/webhooks/slack/interactions"
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.True(t, verified)
	assert.Equal(t, sslBody, body)
}

// TestMiddlewareDoesNotMarkOriginalRequest checks that the mark is on the
// request passed to next only, never on the caller's.
func TestMiddlewareDoesNotMarkOriginalRequest(t *testing.T) {
	v, err := slackverify.New(sslSecret, &slackverify.Options{Now: func() time.Time { return unix(sslTS) }})
	require.NoError(t, err)
	r := formRequest(sslBody, header(sslTS, sslSig))
	var inner *http.Request
	v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner = r })).ServeHTTP(httptest.NewRecorder(), r)
	require.NotNil(t, inner)
	assert.True(t, slackverify.Verified(inner.Context()))
	assert.False(t, slackverify.Verified(r.Context()))
}

// TestMiddlewareNilLogger checks that the default logger discards: a
// refused request must not panic without one.
func TestMiddlewareNilLogger(t *testing.T) {
	v, err := slackverify.New(sslSecret, nil)
	require.NoError(t, err)
	called := false
	h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, formRequest(sslBody, nil))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.False(t, called)
}
