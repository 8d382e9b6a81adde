package botauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/teams/botauth/botauthtest"
)

const (
	appID = "00000000-aaaa-bbbb-cccc-000000000001"
	svc   = "https://smba.trafficmanager.net/amer/"
)

// clock is a settable clock shared by the validator and the minted tokens.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock               { return &clock{t: time.Now().Truncate(time.Second)} }
func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func bearer(token string) string     { return "Bearer " + token }
func activityOf(ch, url string) act  { return act{channelID: ch, serviceURL: url} }
func newValidator(t *testing.T, is *botauthtest.Issuer, clk *clock) *Validator {
	t.Helper()
	v, err := New(Config{AppID: appID, MetadataURL: is.MetadataURL(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// act is what the activity function returns; calls counts its calls.
type act struct {
	channelID, serviceURL string
	err                   error
	calls                 int
}

func (a *act) read() (string, string, error) { a.calls++; return a.channelID, a.serviceURL, a.err }

// tamper changes one character in part (0 header, 1 payload, 2
// signature) of a JWT.
func tamper(token string, part int) string {
	p := strings.Split(token, ".")
	b := []byte(p[part])
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	p[part] = string(b)
	return strings.Join(p, ".")
}

// swapHeader puts the header of other on token.
func swapHeader(token, other string) string {
	p, q := strings.Split(token, "."), strings.Split(other, ".")
	p[0] = q[0]
	return strings.Join(p, ".")
}

// swapPayload puts the payload of other under the signature of token.
func swapPayload(token, other string) string {
	p, q := strings.Split(token, "."), strings.Split(other, ".")
	p[1] = q[1]
	return strings.Join(p, ".")
}

// TestAuthenticateTable runs every refusal of the issue (and the
// acceptances at the edges of each check) against a fresh validator, so
// that each case also shows how many metadata fetches it caused and
// whether the activity (the body) was read.
func TestAuthenticateTable(t *testing.T) {
	is := botauthtest.NewIssuer(t, appID)
	webchatOnly := is.AddKey("webchat") // published, but does not endorse msteams
	noEndorsements := is.AddKey()
	clk := newClock()
	now := clk.Now()
	mint := func(m botauthtest.Mint) string {
		if m.Now.IsZero() {
			m.Now = now
		}
		if m.ServiceURL == "" {
			m.ServiceURL = svc
		}
		return is.Token(m)
	}
	valid := mint(botauthtest.Mint{})
	teams := activityOf("msteams", svc)

	tests := []struct {
		name     string
		header   string
		activity act
		reason   error // nil: accepted
		fetches  int   // metadata fetches the case causes
	}{
		{"valid token", bearer(valid), teams, nil, 1},
		{"lower-case bearer scheme", "bearer " + valid, teams, nil, 1},
		{"expired 4 min ago (inside the 5 min skew)", bearer(mint(botauthtest.Mint{Expiry: -4 * time.Minute})), teams, nil, 1},
		{"nbf 4 min ahead (inside the skew)", bearer(mint(botauthtest.Mint{NotBefore: 4 * time.Minute})), teams, nil, 1},
		{"aud is a list naming the app", bearer(mint(botauthtest.Mint{Claims: map[string]any{"aud": []string{"other", appID}}})), teams, nil, 1},
		{"claim spelled serviceUrl", bearer(mint(botauthtest.Mint{Claims: map[string]any{"serviceurl": nil, "serviceUrl": svc}})), teams, nil, 1},
		{"channel webchat, endorsed by the key", bearer(valid), activityOf("webchat", svc), nil, 1},

		{"wrong issuer", bearer(mint(botauthtest.Mint{Issuer: "https://sts.windows.net/f8cdef31-a31e-4b4a-93e4-5f571e91255a/"})), teams, errToken, 1},
		{"issuer with a trailing slash", bearer(mint(botauthtest.Mint{Issuer: "https://api.botframework.com/"})), teams, errToken, 1},
		{"wrong audience", bearer(mint(botauthtest.Mint{AppID: "another-bot"})), teams, errToken, 1},
		{"no audience", bearer(mint(botauthtest.Mint{Claims: map[string]any{"aud": nil}})), teams, errToken, 1},
		{"expired 6 min ago", bearer(mint(botauthtest.Mint{Expiry: -6 * time.Minute})), teams, errToken, 1},
		{"no exp claim", bearer(mint(botauthtest.Mint{Claims: map[string]any{"exp": nil}})), teams, errToken, 1},
		{"not yet valid (nbf +6 min)", bearer(mint(botauthtest.Mint{NotBefore: 6 * time.Minute})), teams, errToken, 1},
		{"issued 6 min in the future (iat)", bearer(mint(botauthtest.Mint{Claims: map[string]any{"nbf": nil, "iat": now.Add(6 * time.Minute).Unix()}})), teams, errToken, 1},
		{"unknown key", bearer(mint(botauthtest.Mint{UnknownKey: true})), teams, errUnknownKey, 1}, // the set was just fetched: no refetch
		{"no kid in the header", bearer(mint(botauthtest.Mint{NoKid: true})), teams, errUnknownKey, 0},
		{"tampered signature", bearer(tamper(valid, 2)), teams, errToken, 1},
		{"payload of another bot's token", bearer(swapPayload(valid, mint(botauthtest.Mint{AppID: "attacker-bot"}))), teams, errToken, 1},
		{"alg none", bearer(mint(botauthtest.Mint{Alg: "none"})), teams, errToken, 0},
		{"alg none header over an RS256 signature", bearer(swapHeader(valid, mint(botauthtest.Mint{Alg: "none"}))), teams, errToken, 0},
		{"HS256 signed with the public key", bearer(mint(botauthtest.Mint{Alg: "HS256"})), teams, errToken, 0},
		{"RS512 with the right key", bearer(mint(botauthtest.Mint{Alg: "RS512"})), teams, errToken, 0},
		{"PS256 with the right key", bearer(mint(botauthtest.Mint{Alg: "PS256"})), teams, errToken, 0},
		{"missing Authorization header", "", teams, errHeader, 0},
		{"Basic scheme", "Basic dXNlcjpwYXNz", teams, errHeader, 0},
		{"Bearer without a token", "Bearer ", teams, errHeader, 0},
		{"Bearer, two spaces", "Bearer  " + valid, teams, errHeader, 0},
		{"token without a scheme", valid, teams, errHeader, 0},
		{"garbage bearer", "Bearer not.a.jwt", teams, errToken, 0},
		{"oversized bearer", bearer(strings.Repeat("a", maxTokenBytes+1)), teams, errHeader, 0},

		{"key lacks the msteams endorsement", bearer(mint(botauthtest.Mint{Kid: webchatOnly})), teams, errEndorsement, 1},
		{"key without endorsements", bearer(mint(botauthtest.Mint{Kid: noEndorsements})), teams, errEndorsement, 1},
		{"activity without channelId", bearer(valid), activityOf("", svc), errEndorsement, 1},
		{"channelId in another case", bearer(valid), activityOf("MSTeams", svc), errEndorsement, 1},
		{"serviceUrl mismatch", bearer(mint(botauthtest.Mint{ServiceURL: "https://evil.example/amer/"})), teams, errServiceURL, 1},
		{"serviceUrl differs by a trailing slash", bearer(mint(botauthtest.Mint{ServiceURL: strings.TrimSuffix(svc, "/")})), teams, errServiceURL, 1},
		{"serviceUrl differs in case", bearer(valid), activityOf("msteams", strings.ToUpper(svc)), errServiceURL, 1},
		{"no serviceurl claim", bearer(mint(botauthtest.Mint{Claims: map[string]any{"serviceurl": nil}})), teams, errServiceURL, 1},
		{"serviceurl not a string", bearer(mint(botauthtest.Mint{Claims: map[string]any{"serviceurl": 7}})), teams, errServiceURL, 1},
		{"both spellings, one wrong", bearer(mint(botauthtest.Mint{Claims: map[string]any{"serviceUrl": "https://evil.example/"}})), teams, errServiceURL, 1},
		{"empty activity serviceUrl", bearer(valid), activityOf("msteams", ""), errServiceURL, 1},
		{"activity unreadable", bearer(valid), act{err: &http.MaxBytesError{Limit: 1}}, errActivity, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newValidator(t, is, clk)
			before, _ := is.Hits()
			a := tt.activity
			err := v.Authenticate(t.Context(), tt.header, a.read)
			after, _ := is.Hits()
			if got := after - before; got != tt.fetches {
				t.Errorf("metadata fetches = %d, want %d", got, tt.fetches)
			}
			if tt.reason == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if a.calls != 1 {
					t.Fatalf("activity called %d times, want 1", a.calls)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrUnauthorized) || !errors.Is(err, tt.reason) {
				t.Fatalf("err = %v, want %v wrapping ErrUnauthorized", err, tt.reason)
			}
			bodyChecks := tt.reason == errEndorsement || tt.reason == errServiceURL || tt.reason == errActivity
			if bodyChecks && a.calls != 1 {
				t.Fatalf("activity called %d times, want 1", a.calls)
			}
			if !bodyChecks && a.calls != 0 {
				t.Fatalf("activity (the body) read for a header failure: %d calls", a.calls)
			}
			if tt.reason == errActivity {
				if _, ok := errors.AsType[*http.MaxBytesError](err); !ok {
					t.Fatalf("the activity's error is lost: %v", err)
				}
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestAuthenticateNilActivity: a missing activity function refuses, it
// does not panic.
func TestAuthenticateNilActivity(t *testing.T) {
	is := botauthtest.NewIssuer(t, appID)
	clk := newClock()
	v := newValidator(t, is, clk)
	err := v.Authenticate(t.Context(), bearer(is.Token(botauthtest.Mint{Now: clk.Now()})), nil)
	if !errors.Is(err, errActivity) {
		t.Fatalf("err = %v, want errActivity", err)
	}
}

// TestNew: the app ID is required, the metadata URL defaults to
// Microsoft's and must be https (http only on loopback).
func TestNew(t *testing.T) {
	v, err := New(Config{AppID: appID})
	if err != nil {
		t.Fatal(err)
	}
	if v.keys.metadataURL != MetadataURL || v.keys.client == nil || v.keys.client.Timeout != 10*time.Second {
		t.Fatalf("defaults: url %q client %+v", v.keys.metadataURL, v.keys.client)
	}
	for _, url := range []string{
		"https://login.botframework.com/v1/.well-known/openidconfiguration",
		"http://127.0.0.1:8080/v1/.well-known/openidconfiguration",
		"http://[::1]:8080/meta",
		"http://localhost/meta",
	} {
		if _, err := New(Config{AppID: appID, MetadataURL: url}); err != nil {
			t.Errorf("%s: %v", url, err)
		}
	}
	for _, cfg := range []Config{
		{},
		{AppID: "  "},
		{AppID: appID, MetadataURL: "http://login.botframework.com/v1/.well-known/openidconfiguration"},
		{AppID: appID, MetadataURL: "http://10.0.0.1/meta"},
		{AppID: appID, MetadataURL: "https://user:pw@login.botframework.com/meta"},
		{AppID: appID, MetadataURL: "/v1/.well-known/openidconfiguration"},
		{AppID: appID, MetadataURL: "ftp://login.botframework.com/meta"},
		{AppID: appID, MetadataURL: "https://%zz"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		} else {
			t.Logf("%+v: %v", cfg, err)
		}
	}
}

// TestErrorText: the error names the reason and its cause; the sentinel
// matches every refusal.
func TestErrorText(t *testing.T) {
	err := refuse(errToken, errors.New("token is expired"))
	if got, want := err.Error(), "botauth: token rejected: token is expired"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got, want := refuse(errHeader, nil).Error(), errHeader.Error(); got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(refuse(errHeader, nil), ErrUnauthorized) {
		t.Fatal("a refusal does not wrap ErrUnauthorized")
	}
}

// TestConcurrentUse runs many requests at once on a cold validator
// (under -race in CI): all valid ones pass, the key set is fetched once,
// and a crowd of unknown kids adds at most one fetch.
func TestConcurrentUse(t *testing.T) {
	is := botauthtest.NewIssuer(t, appID)
	clk := newClock()
	v := newValidator(t, is, clk)
	valid := bearer(is.Token(botauthtest.Mint{Now: clk.Now(), ServiceURL: svc}))
	var unknown []string
	for i := range 20 {
		unknown = append(unknown, bearer(is.Token(botauthtest.Mint{Now: clk.Now(), UnknownKey: true, Kid: "kid-" + string(rune('a'+i))})))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 20 {
		wg.Go(func() {
			for i := range 25 {
				a := activityOf("msteams", svc)
				if err := v.Authenticate(context.Background(), valid, a.read); err != nil {
					errs <- err
				}
				if i%5 == 0 {
					err := v.Authenticate(context.Background(), unknown[g], a.read)
					if !errors.Is(err, errUnknownKey) {
						errs <- errors.New("unknown kid not refused as such: " + errString(err))
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The unknown kids arrive within 5 minutes of the first fetch: they
	// cause none.
	if meta, keys := is.Hits(); meta != 1 || keys != 1 {
		t.Fatalf("fetches: metadata %d keys %d, want 1 and 1", meta, keys)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
