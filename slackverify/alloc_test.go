//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts are only meaningful without it.

package slackverify_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/slackverify"
)

func TestVerifierDoesNotAllocate(t *testing.T) {
	now := unix(sslTS)
	v, err := slackverify.New(sslSecret, &slackverify.Options{
		Now:             func() time.Time { return now },
		PreviousSecrets: []string{docSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header http.Header
		want   error
	}{
		{"valid, current secret", header(sslTS, sslSig), nil},
		{"valid, previous secret", header(sslTS, sign(docSecret, sslTS, sslBody)), nil},
		{"mismatch", header(sslTS, sign("x", sslTS, sslBody)), slackverify.ErrSignatureMismatch},
		{"malformed", header(sslTS, "v1=00"), slackverify.ErrMalformedSignature},
		{"missing", http.Header{}, slackverify.ErrMissingHeaders},
	}
	body := []byte(sslBody)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := v.Verify(tt.header, body); err != tt.want {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if n := testing.AllocsPerRun(100, func() { _ = v.Verify(tt.header, body) }); n != 0 {
				t.Errorf("Verify allocates %.1f times per call, want 0", n)
			}
		})
	}
}
