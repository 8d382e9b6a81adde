package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// maxResponseBody bounds how much of a platform's answer is ever read.
// Slack and Teams answer with a few bytes to a few kilobytes.
const maxResponseBody = 1 << 20

// maxBodySnippet is how much of an answer is kept for classification.
const maxBodySnippet = 1024

// defaultHTTPTimeout bounds one request when the host gives no client.
const defaultHTTPTimeout = 30 * time.Second

// defaultIdleConnsPerHost is how many idle connections per host the
// default transport keeps (net/http's default is 2).
const defaultIdleConnsPerHost = 64

// outboundClient returns the client senders use: a copy of base (or a new
// client with a 30 s timeout; a base without Transport gets a copy of
// http.DefaultTransport keeping 64 idle connections per host) that never follows redirects (a redirect
// could lead a checked webhook URL to an unchecked host) and never reads
// more than maxResponseBody of an answer, recording the status, the
// Retry-After header and the start of the body for the sender that asked
// (see withCapture).
func outboundClient(base *http.Client) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	} else {
		c.Timeout = defaultHTTPTimeout
	}
	rt := c.Transport
	if rt == nil {
		// Fan-out sends many requests to one host (hooks.slack.com,
		// slack.com): keep enough idle connections to reuse them.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = defaultIdleConnsPerHost
		rt = t
	}
	c.Transport = &boundedTransport{base: rt}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// capture is what boundedTransport saw of the last answer to a request
// made under a context from withCapture.
type capture struct {
	status     int
	retryAfter time.Duration
	body       []byte // up to maxBodySnippet bytes, as read by the caller
}

type captureKey struct{}

// withCapture returns a context under which boundedTransport records the
// answer into c.
func withCapture(ctx context.Context, c *capture) context.Context {
	return context.WithValue(ctx, captureKey{}, c)
}

type boundedTransport struct {
	base http.RoundTripper
}

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	c, _ := req.Context().Value(captureKey{}).(*capture)
	if c != nil {
		c.status = resp.StatusCode
		c.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		c.body = c.body[:0]
	}
	resp.Body = &boundedBody{rc: resp.Body, left: maxResponseBody, c: c}
	return resp, nil
}

// boundedBody stops after maxResponseBody bytes and copies the first
// maxBodySnippet bytes into the capture.
type boundedBody struct {
	rc   io.ReadCloser
	left int64
	c    *capture
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.c != nil && len(b.c.body) < maxBodySnippet {
		k := min(n, maxBodySnippet-len(b.c.body))
		b.c.body = append(b.c.body, p[:k]...)
	}
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }

// readSnippet reads at most maxBodySnippet bytes of an answer and drains
// (a bounded amount of) the rest so the connection can be reused.
func readSnippet(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, maxBodySnippet))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	return b
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 when absent or malformed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > 86400 {
			s = 86400
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

// transportError classifies a failure to get any answer from platform
// ("Slack", "Teams"). The result never holds the underlying error text,
// which for a webhook includes the URL.
func transportError(platform string, err error) *DeliveryError {
	var dns *net.DNSError
	var ne net.Error
	var cert *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	switch {
	case errors.Is(err, context.Canceled):
		return &DeliveryError{Reason: "the delivery was cancelled", Code: "canceled"}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &DeliveryError{Reason: "timed out waiting for " + platform + ": it will be retried", Code: "timeout"}
	case errors.As(err, &dns):
		return &DeliveryError{Reason: "could not resolve " + platform + "'s host name: check the server's DNS and network access", Code: "dns_error"}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &DeliveryError{Reason: platform + " refused the connection: check the server's network access (proxy, firewall)", Code: "connection_refused"}
	case errors.As(err, &cert), errors.As(err, &unknownAuth):
		return &DeliveryError{Reason: "the TLS certificate of " + platform + " could not be verified: check the server's CA certificates and any intercepting proxy", Code: "tls_error"}
	}
	return &DeliveryError{Reason: "could not reach " + platform + ": network error", Code: "network_error"}
}

// httpStatusError classifies an HTTP answer that carried no platform
// error code.
func httpStatusError(platform string, status int, retryAfter time.Duration) *DeliveryError {
	code := "http_" + strconv.Itoa(status)
	switch {
	case status == http.StatusTooManyRequests:
		return rateLimited(platform, retryAfter)
	case status >= 500:
		return &DeliveryError{Reason: platform + " had a server error (HTTP " + strconv.Itoa(status) + "): it will be retried", Code: code, StatusCode: status}
	case status >= 300 && status < 400:
		return &DeliveryError{Reason: platform + " answered with a redirect (HTTP " + strconv.Itoa(status) + "), which is not followed: check the URL", Code: code, StatusCode: status, Permanent: true}
	}
	return &DeliveryError{Reason: platform + " refused the message (HTTP " + strconv.Itoa(status) + ")", Code: code, StatusCode: status, Permanent: true}
}

func rateLimited(platform string, retryAfter time.Duration) *DeliveryError {
	reason := platform + " is rate limiting this channel"
	if retryAfter > 0 {
		reason += "; it asked to retry after " + retryAfter.Round(time.Second).String()
	}
	return &DeliveryError{Reason: reason, Code: "rate_limited", StatusCode: http.StatusTooManyRequests, RetryAfter: retryAfter}
}

// isCode reports whether s looks like a platform error code (lower-case
// words joined by underscores, or a CamelCase word), so that only codes,
// never arbitrary upstream text, reach a DeliveryError.
func isCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
