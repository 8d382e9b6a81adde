package botauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/teams/botauth/botauthtest"
)

// authenticate runs one request with a Teams activity on svc.
func authenticate(v *Validator, token string) error {
	a := activityOf("msteams", svc)
	return v.Authenticate(context.Background(), bearer(token), a.read)
}

// wantHits fails unless the issuer has served the metadata and the keys
// n times each.
func wantHits(t *testing.T, is *botauthtest.Issuer, n int, when string) {
	t.Helper()
	if meta, keys := is.Hits(); meta != n || keys != n {
		t.Fatalf("%s: metadata fetched %d times, keys %d, want %d", when, meta, keys, n)
	}
}

// TestKeyRotation: the key set is fetched once for many requests; a
// token from a rotated key makes it be fetched again once, not on every
// request; a flood of unknown kids costs one fetch per 5 minutes, none
// inside the window.
func TestKeyRotation(t *testing.T) {
	is := botauthtest.NewIssuer(t, appID)
	clk := newClock()
	v := newValidator(t, is, clk)
	mint := func() string { return is.Token(botauthtest.Mint{Now: clk.Now(), ServiceURL: svc}) }

	for range 50 {
		if err := authenticate(v, mint()); err != nil {
			t.Fatal(err)
		}
	}
	wantHits(t, is, 1, "50 valid requests")

	// Microsoft rotates and withdraws the old key, 6 minutes later.
	clk.Add(6 * time.Minute)
	is.Rotate(false)
	for range 50 {
		if err := authenticate(v, mint()); err != nil {
			t.Fatal(err)
		}
	}
	wantHits(t, is, 2, "50 requests signed by a rotated key")

	// 100 made-up kids, 6 minutes on: one refetch, then none.
	clk.Add(6 * time.Minute)
	for i := range 100 {
		tok := is.Token(botauthtest.Mint{Now: clk.Now(), ServiceURL: svc, UnknownKey: true, Kid: fmt.Sprintf("forged-%d", i)})
		if err := authenticate(v, tok); !errors.Is(err, errUnknownKey) {
			t.Fatalf("unknown kid %d: %v", i, err)
		}
	}
	wantHits(t, is, 3, "100 unknown kids")

	// A rotation right after the flood is refused, without a fetch,
	// until the window has passed; then it is fetched once and accepted.
	is.Rotate(false)
	clk.Add(4 * time.Minute)
	for range 10 {
		if err := authenticate(v, mint()); !errors.Is(err, errUnknownKey) {
			t.Fatalf("inside the window: %v", err)
		}
	}
	wantHits(t, is, 3, "inside the 5 min window")
	clk.Add(time.Minute)
	for range 10 {
		if err := authenticate(v, mint()); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	}
	wantHits(t, is, 4, "after the window")

	// Keys published beside the signing key need no refetch.
	clk.Add(10 * time.Minute)
	is.Rotate(true)
	if err := authenticate(v, mint()); err != nil {
		t.Fatal(err)
	}
	wantHits(t, is, 5, "rotation keeping the old key")
	old := is.Rotate(true)
	is.Rotate(true)
	clk.Add(time.Minute)
	if err := authenticate(v, is.Token(botauthtest.Mint{Now: clk.Now(), ServiceURL: svc, Kid: old})); !errors.Is(err, errUnknownKey) {
		t.Fatalf("a key published after the last fetch, inside the window: %v", err)
	}
	wantHits(t, is, 5, "inside the window again")
}

// TestKeySetRefreshedDaily: the key set is refreshed once a day; while a
// refresh fails the old keys stay in use, and the next attempt waits
// 10 seconds.
func TestKeySetRefreshedDaily(t *testing.T) {
	is := botauthtest.NewIssuer(t, appID)
	issuerURL, err := url.Parse(is.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	var hits atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: issuerURL.Scheme, Host: issuerURL.Host})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	clk := newClock()
	v, err := New(Config{AppID: appID, MetadataURL: front.URL + issuerURL.Path, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mint := func() string { return is.Token(botauthtest.Mint{Now: clk.Now(), ServiceURL: svc}) }

	if err := authenticate(v, mint()); err != nil {
		t.Fatal(err)
	}
	clk.Add(23 * time.Hour)
	if err := authenticate(v, mint()); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("metadata fetched %d times within a day, want 1", n)
	}

	down.Store(true)
	clk.Add(time.Hour)
	for range 5 {
		if err := authenticate(v, mint()); err != nil {
			t.Fatalf("refresh failing, old keys must serve: %v", err)
		}
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("metadata fetched %d times, want 2 (one failed refresh, no retry within 10 s)", n)
	}
	clk.Add(11 * time.Second)
	if err := authenticate(v, mint()); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 3 {
		t.Fatalf("metadata fetched %d times, want 3 (a retry after 10 s)", n)
	}

	down.Store(false)
	clk.Add(11 * time.Second)
	if err := authenticate(v, mint()); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 4 {
		t.Fatalf("metadata fetched %d times, want 4", n)
	}
	if err := authenticate(v, mint()); err != nil || hits.Load() != 4 {
		t.Fatalf("after a successful refresh: err %v, fetches %d, want nil, 4", err, hits.Load())
	}
}

// badIssuer serves metadata whose jwks_uri is its own /keys, answered by
// keys. A nil keys makes /keys answer 404.
func badIssuer(t *testing.T, metadata func(keysURL string) string, keys http.HandlerFunc) string {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("GET /meta", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, metadata(srv.URL+"/keys"))
	})
	if keys != nil {
		mux.HandleFunc("GET /keys", keys)
	}
	return srv.URL + "/meta"
}

// roundTrip is an http.RoundTripper answering every request itself.
type roundTrip func(*http.Request) *http.Response

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

// serve starts a server answering every request with h.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/meta"
}

func goodMetadata(keysURL string) string { return `{"jwks_uri":"` + keysURL + `"}` }

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

// TestKeySetUnavailable: a metadata or key set endpoint that is down,
// slow, or answers garbage, too much, or no usable key, refuses the
// request (before its body is read) without a panic.
func TestKeySetUnavailable(t *testing.T) {
	is := botauthtest.NewIssuer(t, appID)
	token := is.Token(botauthtest.Mint{ServiceURL: svc})

	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL + "/meta"
	closed.Close()

	// One RSA key in the right shape but only 1024 bits, or of another
	// kind: each is skipped, and a set of only those is unusable.
	small := fmt.Sprintf(`{"kty":"RSA","use":"sig","kid":"small","n":"%s","e":"AQAB","endorsements":["msteams"]}`,
		base64.RawURLEncoding.EncodeToString(new(big.Int).Lsh(big.NewInt(1), 1023).Bytes()))
	unusable := `{"keys":[` + strings.Join([]string{
		small,
		`{"kty":"EC","use":"sig","kid":"ec","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`,
		`{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}`,
		`{"kty":"RSA","use":"enc","kid":"enc","n":"AQAB","e":"AQAB"}`,
		`{"kty":"RSA","kid":"garbage-n","n":"!!!","e":"AQAB"}`,
		`{"kty":"RSA","kid":"no-n"}`,
		`"not an object"`,
		`{"kid":"no-kty"}`,
	}, ",") + `]}`

	tests := []struct {
		name     string
		metadata string
		client   *http.Client
	}{
		{"metadata endpoint refuses connections", closedURL, nil},
		{"metadata 500", serve(t, answer(500, `{"jwks_uri":"https://login.botframework.com/v1/.well-known/keys"}`)), nil},
		{"metadata 404", strings.TrimSuffix(is.MetadataURL(), "openidconfiguration") + "nope", nil},
		{"metadata empty", badIssuer(t, func(string) string { return "" }, nil), nil},
		{"metadata not JSON", badIssuer(t, func(string) string { return "<html>oops</html>" }, nil), nil},
		{"metadata JSON of the wrong shape", badIssuer(t, func(string) string { return `{"jwks_uri":42}` }, nil), nil},
		{"metadata without jwks_uri", badIssuer(t, func(string) string { return `{"issuer":"https://api.botframework.com"}` }, nil), nil},
		{"jwks_uri plain http off loopback", badIssuer(t, func(string) string { return `{"jwks_uri":"http://login.botframework.com/v1/.well-known/keys"}` }, nil), nil},
		{"jwks_uri relative", badIssuer(t, func(string) string { return `{"jwks_uri":"/keys"}` }, nil), nil},
		{"metadata redirected off https", serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://login.botframework.com/v1/.well-known/openidconfiguration", http.StatusFound)
		}), nil},
		{"metadata redirected off https, host's client", "https://login.botframework.com/v1/.well-known/openidconfiguration", &http.Client{
			Transport: roundTrip(func(r *http.Request) *http.Response {
				if r.URL.Scheme == "https" {
					return &http.Response{StatusCode: http.StatusFound, Header: http.Header{"Location": {"http://login.botframework.com/meta"}}, Body: http.NoBody, Request: r}
				}
				return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(`{"jwks_uri":"https://login.botframework.com/keys"}`)), Request: r}
			}),
		}},
		{"HTTP client panics", "https://login.botframework.com/v1/.well-known/openidconfiguration", &http.Client{
			Transport: roundTrip(func(*http.Request) *http.Response { panic("transport bug") }),
		}},
		{"metadata redirect loop", serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
		}), nil},
		{"keys 404", badIssuer(t, goodMetadata, nil), nil},
		{"keys 500", badIssuer(t, goodMetadata, answer(500, `{"keys":[]}`)), nil},
		{"keys not JSON", badIssuer(t, goodMetadata, answer(200, "garbage")), nil},
		{"keys truncated", badIssuer(t, goodMetadata, answer(200, `{"keys":[{"kty":"RSA",`)), nil},
		{"keys empty", badIssuer(t, goodMetadata, answer(200, `{"keys":[]}`)), nil},
		{"keys null", badIssuer(t, goodMetadata, answer(200, `null`)), nil},
		{"keys of the wrong shape", badIssuer(t, goodMetadata, answer(200, `{"keys":{"kid":"x"}}`)), nil},
		{"keys all unusable", badIssuer(t, goodMetadata, answer(200, unusable)), nil},
		{"keys endless", badIssuer(t, goodMetadata, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"keys":[`)
			chunk := []byte(strings.Repeat(small+",", 64))
			for range 1 << 12 { // 4096 × ~23 KB, far past the limit; stops when the client goes
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}), nil},
		{"keys slow", badIssuer(t, goodMetadata, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}), &http.Client{Timeout: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(Config{AppID: appID, MetadataURL: tt.metadata, HTTPClient: tt.client})
			if err != nil {
				t.Fatal(err)
			}
			a := activityOf("msteams", svc)
			start := time.Now()
			err = v.Authenticate(t.Context(), bearer(token), a.read)
			if !errors.Is(err, ErrUnauthorized) || !errors.Is(err, errKeySet) {
				t.Fatalf("err = %v, want errKeySet", err)
			}
			if a.calls != 0 {
				t.Fatal("the activity was read")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %v", d)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestKeySetTooLarge: a key set over 1 MiB is refused even when it is
// valid JSON with a valid key in it.
func TestKeySetTooLarge(t *testing.T) {
	is := botauthtest.NewIssuer(t, appID)
	metaURL, err := url.Parse(is.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(metaURL.Scheme + "://" + metaURL.Host + "/v1/.well-known/keys")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	realKeys := strings.TrimSpace(string(body))
	padded := strings.TrimSuffix(realKeys, "}") + `,"padding":"` + strings.Repeat("x", maxDocBytes) + `"}`
	meta := badIssuer(t, goodMetadata, answer(200, padded))
	fits := badIssuer(t, goodMetadata, answer(200, realKeys))

	token := is.Token(botauthtest.Mint{ServiceURL: svc})
	v, err := New(Config{AppID: appID, MetadataURL: fits})
	if err != nil {
		t.Fatal(err)
	}
	if err := authenticate(v, token); err != nil {
		t.Fatalf("the same keys, unpadded: %v", err)
	}
	v, err = New(Config{AppID: appID, MetadataURL: meta})
	if err != nil {
		t.Fatal(err)
	}
	if err := authenticate(v, token); !errors.Is(err, errKeySet) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("err = %v, want a refusal for size", err)
	}
}

// TestKeySetFailureBacksOff: after a failed first fetch, requests in the
// next 10 seconds are refused without another fetch.
func TestKeySetFailureBacksOff(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	clk := newClock()
	v, err := New(Config{AppID: appID, MetadataURL: srv.URL + "/meta", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	is := botauthtest.NewIssuer(t, appID)
	token := is.Token(botauthtest.Mint{Now: clk.Now(), ServiceURL: svc})
	for range 20 {
		if err := authenticate(v, token); !errors.Is(err, errKeySet) || !strings.Contains(err.Error(), "502") {
			t.Fatalf("err = %v, want errKeySet naming the 502", err)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	clk.Add(10 * time.Second)
	_ = authenticate(v, token)
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d fetches after 10 s, want 2", n)
	}
}

// TestWaitingRequestHonoursItsContext: a request waiting for another's
// fetch gives up when its own context ends; the fetch goes on and
// serves the others.
func TestWaitingRequestHonoursItsContext(t *testing.T) {
	is := botauthtest.NewIssuer(t, appID)
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	proxyTo, err := url.Parse(is.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: proxyTo.Scheme, Host: proxyTo.Host})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	v, err := New(Config{AppID: appID, MetadataURL: slow.URL + proxyTo.Path})
	if err != nil {
		t.Fatal(err)
	}
	token := is.Token(botauthtest.Mint{ServiceURL: svc})

	first := make(chan error, 1)
	go func() { first <- authenticate(v, token) }()
	<-arrived // the first request's fetch is under way

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a := activityOf("msteams", svc)
	if err := v.Authenticate(ctx, bearer(token), a.read); !errors.Is(err, errKeySet) || !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting request: %v, want errKeySet wrapping context.Canceled", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first request: %v", err)
	}
	if err := authenticate(v, token); err != nil {
		t.Fatal(err)
	}
}

// TestParseKey: which members of a key set become signing keys.
func TestParseKey(t *testing.T) {
	is := botauthtest.NewIssuer(t, appID)
	other := is.AddKey("msteams")
	metaURL, err := url.Parse(is.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(metaURL.Scheme + "://" + metaURL.Host + "/v1/.well-known/keys")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil || len(set.Keys) != 2 {
		t.Fatalf("key set: %v, %d keys", err, len(set.Keys))
	}
	real, second := set.Keys[0], set.Keys[1]
	if second["kid"] != other {
		t.Fatalf("second key %v, want %s", second["kid"], other)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	with := func(changes map[string]any) json.RawMessage {
		k := maps.Clone(real)
		for name, v := range changes {
			if v == nil {
				delete(k, name)
			} else {
				k[name] = v
			}
		}
		raw, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name string
		raw  json.RawMessage
		ok   bool
	}{
		{"as published", with(nil), true},
		{"alg RS256", with(map[string]any{"alg": "RS256"}), true},
		{"no use", with(map[string]any{"use": nil}), true},
		{"no x5c", with(map[string]any{"x5c": nil, "x5t": nil}), true},
		{"no endorsements", with(map[string]any{"endorsements": nil}), true},
		{"alg RS384", with(map[string]any{"alg": "RS384"}), false},
		{"use enc", with(map[string]any{"use": "enc"}), false},
		{"no kid", with(map[string]any{"kid": nil}), false},
		{"x5c of another key", with(map[string]any{"x5c": second["x5c"], "x5t": second["x5t"]}), false},
		{"x5t not the certificate's", with(map[string]any{"x5t": second["x5t"]}), false},
		{"1024-bit modulus", with(map[string]any{"n": b64(small.N.Bytes()), "x5c": nil, "x5t": nil}), false},
		{"endorsements not a list", with(map[string]any{"endorsements": "msteams"}), false},
		{"not an object", json.RawMessage(`[1,2]`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kid, k, ok := parseKey(tt.raw)
			if ok != tt.ok {
				t.Fatalf("parseKey(%s) ok = %v, want %v", tt.raw, ok, tt.ok)
			}
			if ok && (kid != real["kid"] || k.pub == nil) {
				t.Fatalf("kid %q key %v", kid, k.pub)
			}
		})
	}
}
