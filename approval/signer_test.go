package approval_test

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
)

var (
	secretA = bytes.Repeat([]byte("a"), 32)
	secretB = bytes.Repeat([]byte("b"), 32)
	tokenT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func newSigner(t *testing.T, secret []byte, previous ...[]byte) *approval.Signer {
	t.Helper()
	s, err := approval.NewSigner(secret, previous...)
	require.NoError(t, err)
	return s
}

func claims() approval.ActionClaims {
	return approval.ActionClaims{OrgID: "org-1", ApprovalID: "req-42", Decision: approval.Approve, ExpiresAt: tokenT0.Add(time.Hour)}
}

func isURLSafe(tok string) bool {
	return strings.IndexFunc(tok, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) < 0
}

func TestSignerRoundTrip(t *testing.T) {
	s := newSigner(t, secretA)
	for _, c := range []approval.ActionClaims{
		claims(),
		{OrgID: "acme", ApprovalID: "0197c0de-0000-7000-8000-000000000001", Decision: approval.Deny, ExpiresAt: tokenT0.Add(time.Minute)},
		{OrgID: `org "two" é`, ApprovalID: `weird "id" / with ?&= chars é`, Decision: approval.Approve, ExpiresAt: tokenT0.Add(24 * time.Hour)},
		{OrgID: "org-1", ApprovalID: "forever", Decision: approval.Deny}, // no deadline
	} {
		t.Run(string(c.Decision)+"/"+c.ApprovalID, func(t *testing.T) {
			tok := s.Sign(c)
			assert.True(t, strings.HasPrefix(tok, "cn2."), "token %q", tok)
			assert.True(t, isURLSafe(tok), "token must be URL-safe: %q", tok)
			got, err := s.Verify(tok, tokenT0)
			require.NoError(t, err)
			assert.Equal(t, c, got)
		})
	}
}

// TestSignerTokenLength checks the size promised by Sign's doc: a Slack
// button value or a URL query has room for it.
func TestSignerTokenLength(t *testing.T) {
	s := newSigner(t, secretA)
	long := strings.Repeat("x", 64)
	tok := s.Sign(approval.ActionClaims{OrgID: long, ApprovalID: long, Decision: approval.Approve, ExpiresAt: tokenT0.AddDate(50, 0, 0)})
	assert.Less(t, len(tok), 300, "token %q", tok)
	_, err := s.Verify(tok, tokenT0)
	require.NoError(t, err)

	huge := strings.Repeat("x", 1500)
	tok = s.Sign(approval.ActionClaims{OrgID: "o", ApprovalID: huge, Decision: approval.Approve})
	require.Greater(t, len(tok), 2048)
	_, err = s.Verify(tok, tokenT0)
	assert.ErrorIs(t, err, approval.ErrTokenInvalid, "longer than 2048 characters: refused before decoding")
}

func TestSignerTokensDifferPerClaim(t *testing.T) {
	s := newSigner(t, secretA)
	base := claims()
	other := []approval.ActionClaims{base, base, base, base, base}
	other[0].ApprovalID = "req-43"
	other[1].Decision = approval.Deny
	other[2].ExpiresAt = base.ExpiresAt.Add(time.Second)
	other[3].OrgID = "org-2"
	other[4].ExpiresAt = time.Time{}
	for _, c := range other {
		assert.NotEqual(t, s.Sign(base), s.Sign(c))
	}
}

// TestSignerRejectsTampering changes every character of a token, one at
// a time, to another URL-safe character: none may verify.
func TestSignerRejectsTampering(t *testing.T) {
	s := newSigner(t, secretA)
	for _, c := range []approval.ActionClaims{claims(), {OrgID: "org-1", ApprovalID: "req-42", Decision: approval.Approve}} {
		tok := s.Sign(c)
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
		for i := range len(tok) {
			for _, step := range []int{1, 7} {
				r := alphabet[(strings.IndexByte(alphabet, tok[i])+step)%len(alphabet)]
				bad := tok[:i] + string(r) + tok[i+1:]
				if bad == tok {
					continue
				}
				if _, err := s.Verify(bad, tokenT0); err == nil {
					t.Fatalf("token altered at %d (%q→%q) verified", i, tok[i], r)
				}
			}
		}
	}
}

// TestSignerRejectsForgedClaims re-encodes the claims with another
// organisation, approval ID, decision or expiry, keeping the original
// signature: a token for one organisation's request cannot be turned into
// one for another organisation's.
func TestSignerRejectsForgedClaims(t *testing.T) {
	s := newSigner(t, secretA)
	tok := s.Sign(claims())
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	exp := strconv.FormatInt(claims().ExpiresAt.Unix(), 10)
	for name, payload := range map[string]string{
		"organisation":   `{"o":"org-2","id":"req-42","a":"approve","exp":` + exp + `}`,
		"approval id":    `{"o":"org-1","id":"req-43","a":"approve","exp":` + exp + `}`,
		"decision":       `{"o":"org-1","id":"req-42","a":"deny","exp":` + exp + `}`,
		"expiry":         `{"o":"org-1","id":"req-42","a":"approve","exp":` + exp + `0}`,
		"expiry dropped": `{"o":"org-1","id":"req-42","a":"approve"}`,
		"reordered":      `{"id":"req-42","o":"org-1","a":"approve","exp":` + exp + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			forged := "cn2." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + sig
			_, err := s.Verify(forged, tokenT0)
			assert.ErrorIs(t, err, approval.ErrTokenInvalid)
		})
	}
}

func TestSignerRejectsWrongKey(t *testing.T) {
	tok := newSigner(t, secretB).Sign(claims())
	_, err := newSigner(t, secretA).Verify(tok, tokenT0)
	assert.ErrorIs(t, err, approval.ErrTokenInvalid)
}

func TestSignerRotation(t *testing.T) {
	oldTok := newSigner(t, secretA).Sign(claims())
	rotated := newSigner(t, secretB, secretA)

	got, err := rotated.Verify(oldTok, tokenT0)
	require.NoError(t, err, "a token signed with the previous secret must still verify")
	assert.Equal(t, "req-42", got.ApprovalID)
	assert.Equal(t, "org-1", got.OrgID)

	newTok := rotated.Sign(claims())
	_, err = newSigner(t, secretB).Verify(newTok, tokenT0)
	assert.NoError(t, err, "the current secret signs")
	_, err = newSigner(t, secretA).Verify(newTok, tokenT0)
	assert.ErrorIs(t, err, approval.ErrTokenInvalid, "the previous secret must not sign")

	_, err = newSigner(t, secretB).Verify(oldTok, tokenT0)
	assert.ErrorIs(t, err, approval.ErrTokenInvalid, "once the previous secret is dropped, its tokens die")
}

func TestSignerExpiryBoundary(t *testing.T) {
	s := newSigner(t, secretA)
	c := claims()
	tok := s.Sign(c)
	for _, tc := range []struct {
		name string
		now  time.Time
		err  error
	}{
		{"well before", tokenT0, nil},
		{"one nanosecond before", c.ExpiresAt.Add(-time.Nanosecond), nil},
		{"at expiry", c.ExpiresAt, approval.ErrTokenExpired},
		{"after", c.ExpiresAt.Add(time.Second), approval.ErrTokenExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Verify(tok, tc.now)
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
			assert.Equal(t, c, got, "an expired but authentic token still reports its claims")
		})
	}
}

// TestSignerExpiryRoundsUp checks that a deadline with a fraction of a
// second is kept to the next whole second, so a token never expires
// before its request.
func TestSignerExpiryRoundsUp(t *testing.T) {
	s := newSigner(t, secretA)
	c := claims()
	c.ExpiresAt = c.ExpiresAt.Add(100 * time.Millisecond)
	tok := s.Sign(c)
	got, err := s.Verify(tok, c.ExpiresAt)
	require.NoError(t, err, "still valid at the request's own deadline")
	assert.True(t, got.ExpiresAt.Equal(c.ExpiresAt.Truncate(time.Second).Add(time.Second)), "got %v", got.ExpiresAt)
	_, err = s.Verify(tok, got.ExpiresAt)
	assert.ErrorIs(t, err, approval.ErrTokenExpired)
}

// TestSignerZeroExpiryNeverExpires: a request without a deadline gets a
// token without one.
func TestSignerZeroExpiryNeverExpires(t *testing.T) {
	s := newSigner(t, secretA)
	c := claims()
	c.ExpiresAt = time.Time{}
	tok := s.Sign(c)
	for _, now := range []time.Time{tokenT0, tokenT0.AddDate(100, 0, 0), time.Unix(1<<40, 0)} {
		got, err := s.Verify(tok, now)
		require.NoError(t, err, "at %v", now)
		assert.True(t, got.ExpiresAt.IsZero())
	}
	// An explicit expiry of the Unix epoch is not "no expiry".
	c.ExpiresAt = time.Unix(0, 0)
	_, err := s.Verify(s.Sign(c), tokenT0)
	assert.ErrorIs(t, err, approval.ErrTokenExpired)
}

func TestSignerRejectsGarbage(t *testing.T) {
	s := newSigner(t, secretA)
	valid := s.Sign(claims())
	sig := valid[strings.LastIndexByte(valid, '.')+1:]
	payload := valid[len("cn2."):strings.LastIndexByte(valid, '.')]
	oldStyle := newSigner(t, secretA).Sign(claims())
	for name, tok := range map[string]string{
		"empty":              "",
		"prefix only":        "cn2.",
		"prefix and dot":     "cn2..",
		"no prefix":          strings.TrimPrefix(valid, "cn2."),
		"earlier version":    "cn1." + strings.TrimPrefix(oldStyle, "cn2."),
		"no signature":       valid[:strings.LastIndexByte(valid, '.')],
		"empty signature":    valid[:strings.LastIndexByte(valid, '.')+1],
		"short signature":    valid[:len(valid)-4],
		"padded signature":   valid + "=",
		"padded payload":     "cn2." + payload + "==." + sig,
		"signature not b64":  valid[:strings.LastIndexByte(valid, '.')+1] + strings.Repeat("*", 43),
		"payload not b64":    "cn2.!!!." + sig,
		"payload not json":   "cn2." + base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + sig,
		"too long":           valid + strings.Repeat("A", 2100),
		"dots":               "cn2....",
		"unicode":            "cn2.ü.ü",
		"standard base64":    strings.ReplaceAll(strings.ReplaceAll(valid, "-", "+"), "_", "/") + "+/",
		"whitespace wrapped": " " + valid + " ",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := s.Verify(tok, tokenT0)
			assert.ErrorIs(t, err, approval.ErrTokenInvalid)
			assert.Zero(t, got)
		})
	}
}

// TestSignerRejectsSignedButInvalidClaims signs claims that Verify must
// refuse even with a good signature: no organisation, no approval ID, a
// decision other than approve or deny.
func TestSignerRejectsSignedButInvalidClaims(t *testing.T) {
	s := newSigner(t, secretA)
	exp := tokenT0.Add(time.Hour)
	for name, c := range map[string]approval.ActionClaims{
		"no organisation": {ApprovalID: "req-42", Decision: approval.Approve, ExpiresAt: exp},
		"no approval id":  {OrgID: "org-1", Decision: approval.Approve, ExpiresAt: exp},
		"no decision":     {OrgID: "org-1", ApprovalID: "req-42", ExpiresAt: exp},
		"other decision":  {OrgID: "org-1", ApprovalID: "req-42", Decision: "delete", ExpiresAt: exp},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Verify(s.Sign(c), tokenT0)
			assert.ErrorIs(t, err, approval.ErrTokenInvalid)
		})
	}
}

func TestNewSignerSecretLength(t *testing.T) {
	short := bytes.Repeat([]byte("s"), 31)
	for name, tc := range map[string]struct {
		secret   []byte
		previous [][]byte
		ok       bool
	}{
		"no secret":             {nil, nil, false},
		"short secret":          {short, nil, false},
		"short previous secret": {secretA, [][]byte{short}, false},
		"exactly minimum":       {secretA, nil, true},
		"with previous":         {secretA, [][]byte{secretB}, true},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := approval.NewSigner(tc.secret, tc.previous...)
			if tc.ok {
				require.NoError(t, err)
				assert.NotNil(t, s)
				return
			}
			require.Error(t, err)
			assert.Nil(t, s)
			assert.True(t, strings.HasPrefix(err.Error(), "approval: "), err.Error())
			assert.NotContains(t, err.Error(), string(short), "the error must not quote the secret")
		})
	}
}

// TestNewSignerCopiesSecret checks that changing the caller's slice after
// NewSigner does not change the key.
func TestNewSignerCopiesSecret(t *testing.T) {
	secret := bytes.Clone(secretA)
	s := newSigner(t, secret)
	tok := s.Sign(claims())
	secret[0] ^= 0xff
	_, err := s.Verify(tok, tokenT0)
	assert.NoError(t, err)
	_, err = newSigner(t, secretA).Verify(tok, tokenT0)
	assert.NoError(t, err)
}

func TestTokenErrorsArePrefixed(t *testing.T) {
	assert.Equal(t, "approval: invalid action token", approval.ErrTokenInvalid.Error())
	assert.Equal(t, "approval: action token has expired", approval.ErrTokenExpired.Error())
}

func FuzzSignerVerify(f *testing.F) {
	s, err := approval.NewSigner(secretA)
	if err != nil {
		f.Fatal(err)
	}
	valid := s.Sign(claims())
	f.Add(valid)
	f.Add(s.Sign(approval.ActionClaims{OrgID: "o", ApprovalID: "i", Decision: approval.Deny}))
	f.Add("cn2.")
	f.Add("cn2..")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Verify(tok, tokenT0)
		if err != nil {
			return
		}
		// Anything that verifies is a token the signer made: re-signing
		// its claims gives back the same token, byte for byte.
		if got := s.Sign(c); got != tok {
			t.Fatalf("verified %q, which is not Sign(%+v) = %q", tok, c, got)
		}
	})
}
