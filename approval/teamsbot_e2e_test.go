package approval_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/teams/botauth"
	"github.com/chatnotify/chatnotify/teams/botauth/botauthtest"
)

// The bot endpoint with the real validator (teams/botauth) against the
// fake Bot Framework issuer, as a host wires it. Only this external test
// package imports botauth: approval itself stays free of the JWT library
// (go list -deps ./approval).

const botAppID = "00000000-0000-4000-8000-00000000b07a"

// newBotE2E is a bot fixture whose Authenticator is a botauth.Validator
// trusting a fake issuer.
func newBotE2E(t *testing.T) (*botFixture, *botauthtest.Issuer) {
	t.Helper()
	is := botauthtest.NewIssuer(t, botAppID)
	v, err := botauth.New(botauth.Config{AppID: botAppID, MetadataURL: is.MetadataURL()})
	require.NoError(t, err)
	f := newBotFixture(t, func(_ *approval.Options, o *approval.TeamsBotOptions) { o.Authenticator = v })
	return f, is
}

// tamper changes one character in the middle of a JWT's signature.
func tamper(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func bearer(is *botauthtest.Issuer, m botauthtest.Mint) string {
	return "Bearer " + is.Token(m)
}

func TestTeamsBotEndToEndWithBotauth(t *testing.T) {
	t.Run("a valid token decides, once", func(t *testing.T) {
		f, is := newBotE2E(t)
		f.create("org-1", "req-42")
		auth := bearer(is, botauthtest.Mint{ServiceURL: botServiceURL})
		for range 3 {
			w, read := f.post(auth, invoke(jane, botTenant, "approve", "req-42"))
			assert.True(t, read)
			a := card(t, w)
			assert.Equal(t, "good", a.style())
			assert.Equal(t, "**APPROVED** by Jane Doe", a.status())
		}
		es := f.reviews("org-1", "req-42")
		require.Len(t, es, 1)
		assert.Equal(t, janeAAD, es[0].ActorID)
		assert.True(t, es[0].Verified)
	})
	t.Run("the Submit fallback and discovery", func(t *testing.T) {
		f, is := newBotE2E(t)
		f.create("org-1", "req-42")
		auth := bearer(is, botauthtest.Mint{ServiceURL: botServiceURL})
		w, _ := f.post(auth, submit(bob, botTenant, "deny", "req-42"))
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, approval.StatusDenied, f.get("org-1", "req-42").Status)
		w, _ = f.post(auth, botAdded(botTenant))
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Len(t, f.conversations("org-1"), 1)
	})
	for name, tc := range map[string]struct {
		auth func(is *botauthtest.Issuer) string
		read bool
	}{
		"no token":       {func(*botauthtest.Issuer) string { return "" }, false},
		"wrong audience": {func(is *botauthtest.Issuer) string { return bearer(is, botauthtest.Mint{AppID: "another-bot"}) }, false},
		"expired": {func(is *botauthtest.Issuer) string {
			return bearer(is, botauthtest.Mint{Expiry: -10 * time.Minute})
		}, false},
		"alg none":    {func(is *botauthtest.Issuer) string { return bearer(is, botauthtest.Mint{Alg: "none"}) }, false},
		"unknown key": {func(is *botauthtest.Issuer) string { return bearer(is, botauthtest.Mint{UnknownKey: true}) }, false},
		"serviceUrl off": {func(is *botauthtest.Issuer) string {
			return bearer(is, botauthtest.Mint{ServiceURL: "https://smba.trafficmanager.net/emea/"})
		}, true},
		"not endorsed":   {func(is *botauthtest.Issuer) string { return bearer(is, botauthtest.Mint{Kid: is.AddKey("webchat")}) }, true},
		"tampered":       {func(is *botauthtest.Issuer) string { return "Bearer " + tamper(is.Token(botauthtest.Mint{})) }, false},
		"webhook HMAC":   {func(*botauthtest.Issuer) string { return teamsHMAC("{}") }, false},
		"bearer, no JWT": {func(*botauthtest.Issuer) string { return "Bearer " + strings.Repeat("a", 40) }, false},
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			f, is := newBotE2E(t)
			f.create("org-1", "req-42")
			w, read := f.post(tc.auth(is), invoke(jane, botTenant, "approve", "req-42"))
			assert.Equal(t, http.StatusForbidden, w.Code)
			assert.JSONEq(t, `{"error":"Forbidden"}`, w.Body.String())
			assert.Equal(t, tc.read, read, "body read")
			assert.Equal(t, approval.StatusPending, f.get("org-1", "req-42").Status)
			assert.Empty(t, f.reviews("org-1", "req-42"))
		})
	}
}
