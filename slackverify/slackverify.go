package slackverify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The request headers Slack signs with: the request time in Unix seconds,
// and "v0=" followed by the hex HMAC-SHA256.
const (
	headerTimestamp = "X-Slack-Request-Timestamp"
	headerSignature = "X-Slack-Signature"
)

// Defaults used by [Verify] and by a [Verifier] whose [Options] leave them
// unset.
const (
	// defaultMaxSkew is the largest accepted distance, in either
	// direction, between a request's timestamp and the local clock:
	// Slack's documented window.
	defaultMaxSkew = 5 * time.Minute
	// defaultMaxBodyBytes is the largest accepted request body.
	defaultMaxBodyBytes = 1 << 20
)

// Errors returned by [New], [Verify] and [Verifier.Verify]. The middleware
// never shows them to the caller; it logs them.
var (
	// ErrInvalidSignature is returned (wrapped) when a request does not
	// carry a valid signature: the signature headers are missing or
	// malformed, the timestamp is too far from the local clock (a
	// possible replay), or the signature matches none of the secrets.
	// Check it with [errors.Is]; the error's text names the reason, for
	// logs (for example "slackverify: stale timestamp").
	ErrInvalidSignature = errors.New("slackverify: invalid signature")
	// ErrBodyTooLarge is returned when the body is longer than the
	// configured limit.
	ErrBodyTooLarge = errors.New("slackverify: body too large")
	// ErrNoSecret is returned (wrapped) by [New] when the signing secret,
	// or one of [Options.PreviousSecrets], is empty or only whitespace,
	// and by [Verify] when it is given no such secret.
	ErrNoSecret = errors.New("slackverify: no signing secret")
)

// The reasons a signature is invalid. Each wraps [ErrInvalidSignature];
// they are values built once, so returning one does not allocate.
var (
	// errMissingHeaders: X-Slack-Request-Timestamp or X-Slack-Signature
	// is absent or empty.
	errMissingHeaders error = &invalidSignature{"slackverify: missing signature headers"}
	// errMalformedTimestamp: X-Slack-Request-Timestamp is not a
	// non-negative decimal number of Unix seconds (at most 18 digits, no
	// sign).
	errMalformedTimestamp error = &invalidSignature{"slackverify: malformed timestamp"}
	// errStaleTimestamp: the timestamp is further than the allowed skew
	// from the local clock, in the past or in the future.
	errStaleTimestamp error = &invalidSignature{"slackverify: stale timestamp"}
	// errMalformedSignature: X-Slack-Signature is not "v0=" followed by
	// exactly 64 hex digits.
	errMalformedSignature error = &invalidSignature{"slackverify: malformed signature"}
	// errSignatureMismatch: the signature is well formed but matches
	// none of the secrets.
	errSignatureMismatch error = &invalidSignature{"slackverify: signature mismatch"}
)

// invalidSignature is one reason for [ErrInvalidSignature].
type invalidSignature struct{ reason string }

func (e *invalidSignature) Error() string { return e.reason }
func (e *invalidSignature) Unwrap() error { return ErrInvalidSignature }

// blank reports whether secret cannot be a signing secret: empty or only
// whitespace. Anyone can guess such a key.
func blank(secret string) bool { return strings.TrimSpace(secret) == "" }

const (
	sigPrefix          = "v0="
	basePrefix         = "v0:"
	sigLen             = len(sigPrefix) + 2*sha256.Size
	maxTimestampDigits = 18 // fits an int64 without overflow checks
)

// Verify reports whether header and the raw request body carry a valid
// Slack v0 signature made with one of secrets, at time now, allowing five
// minutes of clock skew in either direction. It returns nil on success,
// and otherwise an error wrapping [ErrInvalidSignature] that names the
// reason. Secrets that are empty or only whitespace are skipped; with
// none left it returns [ErrNoSecret].
//
// body must be the bytes exactly as received, before any form or JSON
// parsing. Verify does not limit the body's size: bound it while reading.
// Callers that verify many requests should build a [Verifier] once, which
// avoids setting up the HMAC for every request.
func Verify(header http.Header, body []byte, now time.Time, secrets ...string) error {
	if !slices.ContainsFunc(secrets, func(s string) bool { return !blank(s) }) {
		return ErrNoSecret
	}
	sig, err := parseHeaders(header, now, defaultMaxSkew)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		if !blank(s) && newMAC(s).matches(&sig, body) {
			return nil
		}
	}
	return errSignatureMismatch
}

// Sign sets the X-Slack-Request-Timestamp and X-Slack-Signature headers on
// header as Slack would for body sent at time now with secret. It is meant
// for tests and for tools that replay or forward Slack requests.
func Sign(header http.Header, body []byte, now time.Time, secret string) {
	ts := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(basePrefix + ts + ":"))
	m.Write(body)
	header.Set(headerTimestamp, ts)
	header.Set(headerSignature, sigPrefix+hex.EncodeToString(m.Sum(nil)))
}

// signature is a request's parsed, not yet authenticated, signature
// headers.
type signature struct {
	ts  string // the timestamp exactly as sent: it is what Slack signed
	mac [sha256.Size]byte
}

// parseHeaders reads and checks the signature headers, and the timestamp
// against now and skew. It does not allocate.
func parseHeaders(header http.Header, now time.Time, skew time.Duration) (signature, error) {
	var sig signature
	ts, s := first(header, headerTimestamp), first(header, headerSignature)
	if ts == "" || s == "" {
		return sig, errMissingHeaders
	}
	sec, ok := parseTimestamp(ts)
	if !ok {
		return sig, errMalformedTimestamp
	}
	if !decodeSignature(&sig.mac, s) {
		return sig, errMalformedSignature
	}
	// time.Time.Sub saturates, so absurd timestamps cannot overflow.
	if d := now.Sub(time.Unix(sec, 0)); d > skew || d < -skew {
		return sig, errStaleTimestamp
	}
	sig.ts = ts
	return sig, nil
}

// first returns header's first value for the canonical key, like
// [http.Header.Get] without canonicalising again.
func first(header http.Header, key string) string {
	if v := header[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// parseTimestamp parses 1 to 18 ASCII digits.
func parseTimestamp(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxTimestampDigits {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int64(c)
	}
	return n, true
}

// decodeSignature decodes "v0=" + 64 hex digits (either case) into dst.
// The header is the caller's own data, so this need not be constant-time.
func decodeSignature(dst *[sha256.Size]byte, s string) bool {
	if len(s) != sigLen || s[:len(sigPrefix)] != sigPrefix {
		return false
	}
	_, err := hex.Decode(dst[:], []byte(s[len(sigPrefix):]))
	return err == nil
}

// mac is an HMAC-SHA256 keyed with one secret plus scratch space, so that
// checking a request allocates nothing. It is not safe for concurrent use;
// a [Verifier] keeps them in a sync.Pool.
type mac struct {
	h    hash.Hash
	used bool // h has been written to and must be reset
	base [len(basePrefix) + maxTimestampDigits + 1]byte
	sum  [sha256.Size]byte
}

func newMAC(secret string) *mac {
	return &mac{h: hmac.New(sha256.New, []byte(secret))}
}

// matches reports whether sig is the HMAC of "v0:<ts>:" + body, comparing
// in constant time.
func (m *mac) matches(sig *signature, body []byte) bool {
	// A fresh HMAC is ready; resetting it would make it save its keyed
	// state, which only pays off when it is used again (from the pool).
	if m.used {
		m.h.Reset()
	}
	m.used = true
	n := copy(m.base[:], basePrefix)
	n += copy(m.base[n:], sig.ts)
	m.base[n] = ':'
	m.h.Write(m.base[:n+1])
	m.h.Write(body)
	return hmac.Equal(m.h.Sum(m.sum[:0]), sig.mac[:])
}
