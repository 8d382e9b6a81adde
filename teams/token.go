package teams

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Errors returned by [Signer.Verify]. Neither says which check failed in
// a way that helps forge a token.
var (
	ErrTokenInvalid = errors.New("teams: invalid action token")
	ErrTokenExpired = errors.New("teams: action token has expired")
)

// MinSecretLength is the shortest secret [NewSigner] accepts, in bytes.
const MinSecretLength = 32

// tokenPrefix starts every action token and is part of what is signed, so
// a token can never be confused with another HMAC made from the same key.
const tokenPrefix = "cn1."

// ActionClaims is what an action token asserts: that the holder may take
// Action ("approve" or "deny") on the approval request ApprovalID until
// ExpiresAt.
type ActionClaims struct {
	ApprovalID string    `json:"id"`
	Action     string    `json:"a"`
	ExpiresAt  time.Time `json:"-"`
}

type wireClaims struct {
	ActionClaims
	Exp int64 `json:"exp"`
}

// Signer mints and checks the signed action tokens carried by the
// Approve and Deny links of Teams cards (Teams webhooks cannot post a
// button click back, so the link itself must be the credential). A token
// is an HMAC-SHA256 over the approval ID, the action and the expiry. It is
// single-use in effect: the approval routine accepts one decision per
// request. A Signer is safe for concurrent use.
type Signer struct {
	keys [][]byte // keys[0] signs; all verify
}

// NewSigner returns a Signer that signs with secret and also accepts
// tokens signed with any of previous, so that secrets can be rotated
// without breaking links already posted. Every secret must be at least
// MinSecretLength bytes.
func NewSigner(secret []byte, previous ...[]byte) (*Signer, error) {
	s := &Signer{}
	for _, k := range append([][]byte{secret}, previous...) {
		if len(k) < MinSecretLength {
			return nil, errors.New("teams: action token secrets must be at least 32 bytes")
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
	}
	return s, nil
}

// Sign returns a token for c. The token is URL-safe and holds no secret;
// it does reveal the approval ID and action to whoever holds it.
func (s *Signer) Sign(c ActionClaims) string {
	b, _ := json.Marshal(wireClaims{ActionClaims: c, Exp: c.ExpiresAt.Unix()})
	payload := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(s.keys[0], payload))
}

// Verify checks token's signature against every accepted secret, in
// constant time, and its expiry against now. It returns the claims, or
// ErrTokenInvalid or ErrTokenExpired.
func (s *Signer) Verify(token string, now time.Time) (ActionClaims, error) {
	if len(token) > 2048 || !strings.HasPrefix(token, tokenPrefix) {
		return ActionClaims{}, ErrTokenInvalid
	}
	i := strings.LastIndexByte(token, '.')
	payload, sig := token[:i], token[i+1:]
	// Strict: a signature has exactly one spelling, so a token cannot be
	// altered (in the unused low bits of its last character) and still pass.
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return ActionClaims{}, ErrTokenInvalid
	}
	ok := false
	for _, k := range s.keys {
		if hmac.Equal(got, mac(k, payload)) {
			ok = true
		}
	}
	if !ok {
		return ActionClaims{}, ErrTokenInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(payload, tokenPrefix))
	if err != nil {
		return ActionClaims{}, ErrTokenInvalid
	}
	var w wireClaims
	if err := json.Unmarshal(b, &w); err != nil || w.ApprovalID == "" || (w.Action != "approve" && w.Action != "deny") {
		return ActionClaims{}, ErrTokenInvalid
	}
	w.ExpiresAt = time.Unix(w.Exp, 0).UTC()
	if !now.Before(w.ExpiresAt) {
		return w.ActionClaims, ErrTokenExpired
	}
	return w.ActionClaims, nil
}

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
