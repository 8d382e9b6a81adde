package teams

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrHMACInvalid is returned by [HMACVerifier.Verify] when the
// Authorization header is missing, malformed or does not match the body.
// It does not say which, and never carries the computed value.
var ErrHMACInvalid = errors.New("teams: invalid HMAC authorization")

// minHMACKeyLength is the shortest decoded shared secret
// [NewHMACVerifier] accepts, in bytes. Teams issues 32-byte secrets.
const minHMACKeyLength = 32

// HMACVerifier checks the "Authorization: HMAC <base64>" header that a
// Teams outgoing webhook puts on every request: the base64 HMAC-SHA256 of
// the raw body, keyed with the base64-decoded shared secret Teams shows
// when the webhook is created. A relay that forwards Teams callbacks can
// sign its requests the same way with [HMACVerifier.Authorization]. An
// HMACVerifier is safe for concurrent use.
type HMACVerifier struct {
	key []byte
}

// NewHMACVerifier returns a verifier for secret, the base64 security
// token Teams gives for an outgoing webhook. It fails when secret is not
// base64 or decodes to fewer than 32 bytes (Teams issues 32-byte
// secrets); the error does not quote the secret.
func NewHMACVerifier(secret string) (*HMACVerifier, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(secret))
	if err != nil {
		return nil, errors.New("teams: the HMAC secret must be base64")
	}
	if len(key) < minHMACKeyLength {
		return nil, errors.New("teams: the HMAC secret must decode to at least 32 bytes")
	}
	return &HMACVerifier{key: key}, nil
}

// Authorization returns the Authorization header value for body:
// "HMAC " followed by the base64 HMAC-SHA256 of body.
func (v *HMACVerifier) Authorization(body []byte) string {
	return "HMAC " + base64.StdEncoding.EncodeToString(v.sum(body))
}

// Verify checks authorization, the request's Authorization header value,
// against the raw request body in constant time. It returns nil or
// [ErrHMACInvalid]. The scheme name is matched case-insensitively.
func (v *HMACVerifier) Verify(authorization string, body []byte) error {
	scheme, value, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "HMAC") {
		return ErrHMACInvalid
	}
	got, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(value))
	if err != nil || len(got) != sha256.Size {
		return ErrHMACInvalid
	}
	if !hmac.Equal(got, v.sum(body)) {
		return ErrHMACInvalid
	}
	return nil
}

func (v *HMACVerifier) sum(body []byte) []byte {
	m := hmac.New(sha256.New, v.key)
	m.Write(body)
	return m.Sum(nil)
}
