package approval

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
	// ErrTokenInvalid is returned for a token that is malformed, too long,
	// signed with a key the Signer does not hold, or altered in any way.
	ErrTokenInvalid = errors.New("approval: invalid action token")
	// ErrTokenExpired is returned for an authentic token whose expiry has
	// passed; Verify returns its claims with it.
	ErrTokenExpired = errors.New("approval: action token has expired")
)

const (
	// minSecretLength is the shortest secret NewSigner accepts, in bytes.
	minSecretLength = 32
	// tokenPrefix starts every action token and is part of what is
	// signed, so a token can never be confused with another HMAC made
	// from the same key, nor with the organisation-less tokens ("cn1.")
	// of earlier versions.
	tokenPrefix = "cn2."
	// maxTokenLength bounds the tokens Verify reads: longer input is
	// refused before any decoding.
	maxTokenLength = 2048
)

// ActionClaims is what an action token asserts: that its holder may take
// Decision on the request ApprovalID of organisation OrgID until
// ExpiresAt.
type ActionClaims struct {
	OrgID      string
	ApprovalID string
	// Decision is Approve or Deny.
	Decision Decision
	// ExpiresAt is when the token stops verifying; it is kept to the
	// second, rounded up so that a token never expires before the request
	// it was minted for. The zero time means the token never expires (for
	// requests without a deadline): it stays usable as long as the request
	// is pending.
	ExpiresAt time.Time
}

// wireClaims is the signed JSON of a token.
type wireClaims struct {
	OrgID      string   `json:"o"`
	ApprovalID string   `json:"id"`
	Decision   Decision `json:"a"`
	Exp        *int64   `json:"exp,omitempty"`
}

// Signer mints and checks action tokens: the credential carried by the
// Approve and Deny links and buttons of Teams cards (Teams webhooks cannot
// post a click back, so the link itself must prove which card was
// clicked). A token is an HMAC-SHA256 over the organisation, the approval
// ID, the decision and the expiry, so it names its organisation and
// cannot be altered to reach another request, another organisation's
// request or the other decision. It proves which card was clicked, not
// who clicked it. It is single-use in effect: the approval routine
// accepts one decision per request. A Signer is safe for concurrent use.
type Signer struct {
	keys [][]byte // keys[0] signs; all verify
}

// NewSigner returns a Signer that signs with secret and also accepts
// tokens signed with any of previous, so that secrets can be rotated
// without breaking links already posted. Every secret must be at least
// 32 bytes (use 32 random bytes); the Signer keeps copies.
func NewSigner(secret []byte, previous ...[]byte) (*Signer, error) {
	s := &Signer{}
	for _, k := range append([][]byte{secret}, previous...) {
		if len(k) < minSecretLength {
			return nil, errors.New("approval: action token secrets must be at least 32 bytes")
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
	}
	return s, nil
}

// Sign returns a token for c: "cn2.", the base64url claims, ".", the
// base64url signature. It is URL-safe and holds no secret, but it does
// reveal the organisation, approval ID and decision to whoever holds it.
// For IDs of 64 characters it is under 300 characters; claims so long
// that the token exceeds 2048 characters yield a token Verify refuses.
func (s *Signer) Sign(c ActionClaims) string {
	w := wireClaims{OrgID: c.OrgID, ApprovalID: c.ApprovalID, Decision: c.Decision}
	if !c.ExpiresAt.IsZero() {
		exp := c.ExpiresAt.Unix()
		if c.ExpiresAt.Nanosecond() > 0 {
			exp++ // round up: never before the request's own deadline
		}
		w.Exp = &exp
	}
	b, _ := json.Marshal(w) // strings and an integer: cannot fail
	payload := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(s.keys[0], payload))
}

// Verify checks token's signature against every accepted secret, in
// constant time, and its expiry against now. It returns the claims and
// nil; ErrTokenInvalid (with zero claims) for anything not minted by one
// of the Signer's secrets exactly as given, or whose claims lack an
// organisation, an approval ID or a decision of Approve or Deny; or the
// claims with ErrTokenExpired when the token is authentic but now is at
// or after its expiry.
func (s *Signer) Verify(token string, now time.Time) (ActionClaims, error) {
	if len(token) > maxTokenLength || !strings.HasPrefix(token, tokenPrefix) {
		return ActionClaims{}, ErrTokenInvalid
	}
	i := strings.LastIndexByte(token, '.')
	if i < len(tokenPrefix) {
		return ActionClaims{}, ErrTokenInvalid
	}
	payload, sig := token[:i], token[i+1:]
	// Strict: a signature has exactly one spelling, so a token cannot be
	// altered (in the unused low bits of its last character) and still pass.
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return ActionClaims{}, ErrTokenInvalid
	}
	ok := false
	for _, k := range s.keys {
		// Every key is tried, so the time taken does not say which one
		// matched.
		if hmac.Equal(got, mac(k, payload)) {
			ok = true
		}
	}
	if !ok {
		return ActionClaims{}, ErrTokenInvalid
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(payload[len(tokenPrefix):])
	if err != nil {
		return ActionClaims{}, ErrTokenInvalid
	}
	var w wireClaims
	if err := json.Unmarshal(b, &w); err != nil || w.OrgID == "" || w.ApprovalID == "" ||
		(w.Decision != Approve && w.Decision != Deny) {
		return ActionClaims{}, ErrTokenInvalid
	}
	c := ActionClaims{OrgID: w.OrgID, ApprovalID: w.ApprovalID, Decision: w.Decision}
	if w.Exp != nil {
		c.ExpiresAt = time.Unix(*w.Exp, 0).UTC()
		if !now.Before(c.ExpiresAt) {
			return c, ErrTokenExpired
		}
	}
	return c, nil
}

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
