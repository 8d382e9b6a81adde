// Package webhookurl checks outbound webhook URLs against a host allow-list.
//
// A webhook URL is both a credential and a server-side request target, so
// it is checked on the parsed URL, never with a prefix or regular
// expression match on the raw string: go-teams-notify's default patterns,
// for example, accept https://evil.example/x.webhook.office.com/.
package webhookurl

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
)

// Errors returned by [Check]. Their text names the rule that failed and
// never the URL itself, which may carry a secret.
var (
	ErrMalformed = errors.New("webhookurl: not a valid absolute URL")
	ErrScheme    = errors.New("webhookurl: scheme must be https")
	ErrUserInfo  = errors.New("webhookurl: user information is not allowed")
	ErrHost      = errors.New("webhookurl: host is not allowed")
)

// Check reports whether raw is an acceptable webhook URL: https, no user
// information, and an ASCII host that equals one of hosts or, for an entry
// written "*.example.com", is a subdomain of example.com whose extra
// labels are valid DNS labels (see [HostAllowed]). The URL's
// host is lower-cased and loses any trailing dot before the comparison,
// so entries must be written in lower case; an explicit port is allowed
// only when it is 443.
//
// When allowLoopback is true, http and https URLs whose host is a loopback
// address ("localhost", 127.0.0.0/8, ::1) are accepted too, so that tests
// and local sandboxes can use httptest servers.
func Check(raw string, hosts []string, allowLoopback bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return ErrMalformed
	}
	if u.User != nil {
		return ErrUserInfo
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		// Every allowed host is ASCII; a non-ASCII name would be
		// rewritten by IDNA mapping only after this check.
		return ErrHost
	}
	if allowLoopback && IsLoopback(host) && (u.Scheme == "http" || u.Scheme == "https") {
		return nil
	}
	if u.Scheme != "https" {
		return ErrScheme
	}
	if p := u.Port(); p != "" && p != "443" {
		return ErrHost
	}
	if !HostAllowed(host, hosts) {
		return ErrHost
	}
	return nil
}

// HostAllowed reports whether host (lower case, no port) matches one of
// the patterns: an exact name, or "*.suffix" for a name of one or more
// labels followed by "." and suffix. Each label the wildcard stands for
// must be a DNS label: 1 to 63 characters of a-z, 0-9 and '-', neither
// starting nor ending with '-' (so "a..suffix", "-.suffix", "a_b.suffix"
// and "x-.suffix" do not match).
func HostAllowed(host string, patterns []string) bool {
	if host == "" || len(host) > maxHostLength {
		return false
	}
	for _, p := range patterns {
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if prefix, ok := strings.CutSuffix(host, "."+suffix); ok && validLabels(prefix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// maxHostLength is the longest DNS name, in its dotted text form without
// a trailing dot.
const maxHostLength = 253

// validLabels reports whether s is one or more dot-separated DNS labels:
// each 1 to 63 characters of a-z, 0-9 and '-', not starting or ending
// with '-'.
func validLabels(s string) bool {
	if s == "" {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// IsLoopback reports whether host names the local machine: "localhost"
// or a loopback IP address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
