package teams_test

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/teams"
)

var (
	secretA = bytes.Repeat([]byte("a"), teams.MinSecretLength)
	secretB = bytes.Repeat([]byte("b"), teams.MinSecretLength)
	tokenT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func newSigner(t *testing.T, secret []byte, previous ...[]byte) *teams.Signer {
	t.Helper()
	s, err := teams.NewSigner(secret, previous...)
	require.NoError(t, err)
	return s
}

func claims() teams.ActionClaims {
	return teams.ActionClaims{ApprovalID: "req-42", Action: teams.ActionApprove, ExpiresAt: tokenT0.Add(time.Hour)}
}

func TestSignerRoundTrip(t *testing.T) {
	s := newSigner(t, secretA)
	for _, c := range []teams.ActionClaims{
		claims(),
		{ApprovalID: "0197c0de-0000-7000-8000-000000000001", Action: teams.ActionDeny, ExpiresAt: tokenT0.Add(time.Minute)},
		{ApprovalID: `weird "id" / with ?&= chars é`, Action: teams.ActionApprove, ExpiresAt: tokenT0.Add(24 * time.Hour)},
	} {
		t.Run(c.Action+"/"+c.ApprovalID, func(t *testing.T) {
			tok := s.Sign(c)
			assert.True(t, strings.HasPrefix(tok, "cn1."), "token %q", tok)
			assert.Equal(t, -1, strings.IndexFunc(tok, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
			}), "token must be URL-safe: %q", tok)
			got, err := s.Verify(tok, tokenT0)
			require.NoError(t, err)
			assert.Equal(t, c.ApprovalID, got.ApprovalID)
			assert.Equal(t, c.Action, got.Action)
			assert.True(t, got.ExpiresAt.Equal(c.ExpiresAt), "expires %v, want %v", got.ExpiresAt, c.ExpiresAt)
		})
	}
}

func TestSignerTokensDifferPerClaim(t *testing.T) {
	s := newSigner(t, secretA)
	base := claims()
	other := []teams.ActionClaims{base, base, base}
	other[0].ApprovalID = "req-43"
	other[1].Action = teams.ActionDeny
	other[2].ExpiresAt = base.ExpiresAt.Add(time.Second)
	for _, c := range other {
		assert.NotEqual(t, s.Sign(base), s.Sign(c))
	}
}

// TestSignerRejectsTampering changes every character of a token, one at
// a time, to another URL-safe character: none may verify.
func TestSignerRejectsTampering(t *testing.T) {
	s := newSigner(t, secretA)
	tok := s.Sign(claims())
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
	for i := range len(tok) {
		for _, r := range []byte{alphabet[(strings.IndexByte(alphabet, tok[i])+1)%len(alphabet)], alphabet[(strings.IndexByte(alphabet, tok[i])+7)%len(alphabet)]} {
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

// TestSignerRejectsForgedClaims re-encodes the claims with another
// approval ID, action or expiry, keeping the original signature.
func TestSignerRejectsForgedClaims(t *testing.T) {
	s := newSigner(t, secretA)
	tok := s.Sign(claims())
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	exp := claims().ExpiresAt.Unix()
	for name, payload := range map[string]string{
		"approval id": `{"id":"req-43","a":"approve","exp":` + strconv.FormatInt(exp, 10) + `}`,
		"action":      `{"id":"req-42","a":"deny","exp":` + strconv.FormatInt(exp, 10) + `}`,
		"expiry":      `{"id":"req-42","a":"approve","exp":` + strconv.FormatInt(exp+86400, 10) + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			forged := "cn1." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + sig
			_, err := s.Verify(forged, tokenT0)
			assert.ErrorIs(t, err, teams.ErrTokenInvalid)
		})
	}
}

func TestSignerRejectsWrongKey(t *testing.T) {
	tok := newSigner(t, secretB).Sign(claims())
	_, err := newSigner(t, secretA).Verify(tok, tokenT0)
	assert.ErrorIs(t, err, teams.ErrTokenInvalid)
}

func TestSignerRotation(t *testing.T) {
	oldTok := newSigner(t, secretA).Sign(claims())
	rotated := newSigner(t, secretB, secretA)

	got, err := rotated.Verify(oldTok, tokenT0)
	require.NoError(t, err, "a token signed with the previous secret must still verify")
	assert.Equal(t, "req-42", got.ApprovalID)

	newTok := rotated.Sign(claims())
	_, err = newSigner(t, secretB).Verify(newTok, tokenT0)
	assert.NoError(t, err, "the current secret signs")
	_, err = newSigner(t, secretA).Verify(newTok, tokenT0)
	assert.ErrorIs(t, err, teams.ErrTokenInvalid, "the previous secret must not sign")

	_, err = newSigner(t, secretB).Verify(oldTok, tokenT0)
	assert.ErrorIs(t, err, teams.ErrTokenInvalid, "once the previous secret is dropped, its tokens die")
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
		{"at expiry", c.ExpiresAt, teams.ErrTokenExpired},
		{"after", c.ExpiresAt.Add(time.Second), teams.ErrTokenExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Verify(tok, tc.now)
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
			assert.Equal(t, "req-42", got.ApprovalID, "an expired but authentic token still reports its claims")
		})
	}
}

func TestSignerExpiryIsWholeSeconds(t *testing.T) {
	s := newSigner(t, secretA)
	c := claims()
	c.ExpiresAt = c.ExpiresAt.Add(900 * time.Millisecond)
	got, err := s.Verify(s.Sign(c), tokenT0)
	require.NoError(t, err)
	assert.True(t, got.ExpiresAt.Equal(c.ExpiresAt.Truncate(time.Second)), "got %v", got.ExpiresAt)
}

func TestSignerRejectsGarbage(t *testing.T) {
	s := newSigner(t, secretA)
	valid := s.Sign(claims())
	sig := valid[strings.LastIndexByte(valid, '.')+1:]
	for name, tok := range map[string]string{
		"empty":              "",
		"prefix only":        "cn1.",
		"no prefix":          strings.TrimPrefix(valid, "cn1."),
		"other version":      "cn2." + strings.TrimPrefix(valid, "cn1."),
		"no signature":       valid[:strings.LastIndexByte(valid, '.')],
		"empty signature":    valid[:strings.LastIndexByte(valid, '.')+1],
		"short signature":    valid[:len(valid)-4],
		"padded signature":   valid + "=",
		"signature not b64":  valid[:strings.LastIndexByte(valid, '.')+1] + strings.Repeat("*", 43),
		"payload not b64":    "cn1.!!!." + sig,
		"payload not json":   "cn1." + base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + sig,
		"too long":           valid + strings.Repeat("A", 2100),
		"dots":               "cn1....",
		"unicode":            "cn1.ü.ü",
		"standard base64":    strings.ReplaceAll(strings.ReplaceAll(valid, "-", "+"), "_", "/") + "+/",
		"whitespace wrapped": " " + valid + " ",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Verify(tok, tokenT0)
			assert.ErrorIs(t, err, teams.ErrTokenInvalid)
		})
	}
}

// TestSignerRejectsSignedButInvalidClaims signs claims that Verify must
// refuse even with a good signature: no approval ID, unknown action.
func TestSignerRejectsSignedButInvalidClaims(t *testing.T) {
	s := newSigner(t, secretA)
	for name, c := range map[string]teams.ActionClaims{
		"no approval id": {Action: teams.ActionApprove, ExpiresAt: tokenT0.Add(time.Hour)},
		"no action":      {ApprovalID: "req-42", ExpiresAt: tokenT0.Add(time.Hour)},
		"other action":   {ApprovalID: "req-42", Action: "delete", ExpiresAt: tokenT0.Add(time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Verify(s.Sign(c), tokenT0)
			assert.ErrorIs(t, err, teams.ErrTokenInvalid)
		})
	}
}

func TestNewSignerSecretLength(t *testing.T) {
	short := bytes.Repeat([]byte("s"), teams.MinSecretLength-1)
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
			s, err := teams.NewSigner(tc.secret, tc.previous...)
			if tc.ok {
				require.NoError(t, err)
				assert.NotNil(t, s)
				return
			}
			require.Error(t, err)
			assert.Nil(t, s)
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
