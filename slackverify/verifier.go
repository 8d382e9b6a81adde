package slackverify

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Options configures a [Verifier]. The zero value, and a nil *Options,
// mean defaults.
type Options struct {
	// Now returns the current time, against which request timestamps are
	// checked. Defaults to time.Now.
	Now func() time.Time
	// MaxSkew is the largest accepted distance between a request's
	// timestamp and Now, in either direction. Defaults to 5 minutes,
	// Slack's documented window. Negative is an error.
	MaxSkew time.Duration
	// MaxBodyBytes is the largest accepted request body. Defaults to
	// 1 MiB. Negative is an error.
	MaxBodyBytes int64
	// PreviousSecrets are also accepted, for rotation: Slack keeps the
	// previous signing secret valid for 24 hours after a new one is
	// generated. An entry that is empty or only whitespace is an error
	// ([ErrNoSecret]): leave the slice empty instead. Defaults to none.
	PreviousSecrets []string
	// Logger receives, at Warn, the reason the middleware refused a
	// request (never a secret or a signature). Defaults to discarding.
	Logger *slog.Logger
}

// Verifier checks Slack v0 request signatures against one or more
// secrets. Build it once with [New] and share it: it is safe for
// concurrent use, and reuses its HMAC state between requests so that a
// verification allocates nothing.
//
// The secrets are fixed at construction. To rotate, build a new Verifier
// with the new secret and the old one in [Options.PreviousSecrets], and
// swap it in (for example through an atomic.Pointer).
type Verifier struct {
	now     func() time.Time
	skew    time.Duration
	maxBody int64
	logger  *slog.Logger
	macs    []sync.Pool // of *mac, one per secret, current secret first
}

// New returns a Verifier for secret (the Signing Secret from the Slack
// app's Basic Information page) configured by opts, which may be nil.
// The secrets are used exactly as given (nothing is trimmed). It returns
// an error wrapping [ErrNoSecret] when secret, or an entry of
// [Options.PreviousSecrets], is empty or only whitespace, and an error
// when an option is out of range.
func New(secret string, opts *Options) (*Verifier, error) {
	if blank(secret) {
		return nil, fmt.Errorf("%w: the signing secret is empty or only whitespace", ErrNoSecret)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	for i, s := range o.PreviousSecrets {
		if blank(s) {
			return nil, fmt.Errorf("%w: Options.PreviousSecrets[%d] is empty or only whitespace", ErrNoSecret, i)
		}
	}
	switch {
	case o.MaxSkew < 0:
		return nil, errors.New("slackverify: Options.MaxSkew is negative")
	case o.MaxBodyBytes < 0:
		return nil, errors.New("slackverify: Options.MaxBodyBytes is negative")
	}
	v := &Verifier{now: o.Now, skew: o.MaxSkew, maxBody: o.MaxBodyBytes, logger: o.Logger}
	if v.now == nil {
		v.now = time.Now
	}
	if v.skew == 0 {
		v.skew = defaultMaxSkew
	}
	if v.maxBody == 0 {
		v.maxBody = defaultMaxBodyBytes
	}
	if v.logger == nil {
		v.logger = slog.New(slog.DiscardHandler)
	}
	secrets := append([]string{secret}, o.PreviousSecrets...)
	v.macs = make([]sync.Pool, len(secrets))
	for i, s := range secrets {
		v.macs[i].New = func() any { return newMAC(s) }
		// Key one HMAC now, so that a key the crypto module refuses (as
		// in FIPS 140-only mode) fails here rather than on a request.
		v.macs[i].Put(newMAC(s))
	}
	return v, nil
}

// Verify reports whether header and the raw request body carry a valid
// Slack v0 signature made with one of v's secrets. It returns nil on
// success, [ErrBodyTooLarge] when body exceeds [Options.MaxBodyBytes],
// and otherwise an error wrapping [ErrInvalidSignature] that names the
// reason. It does not allocate.
//
// body must be the bytes exactly as received, before any parsing.
func (v *Verifier) Verify(header http.Header, body []byte) error {
	if int64(len(body)) > v.maxBody {
		return ErrBodyTooLarge
	}
	sig, err := parseHeaders(header, v.now(), v.skew)
	if err != nil {
		return err
	}
	for i := range v.macs {
		pool := &v.macs[i]
		m := pool.Get().(*mac)
		ok := m.matches(&sig, body)
		pool.Put(m)
		if ok {
			return nil
		}
	}
	return errSignatureMismatch
}
