package slackverify_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/slackverify"
)

// FuzzVerify feeds arbitrary headers and bodies to both entry points: they
// must never panic, must agree, must return only the package's sentinels,
// and may accept only a signature an independent HMAC computation agrees
// with.
func FuzzVerify(f *testing.F) {
	f.Add(sslTS, sslSig, sslBody)
	f.Add(docTS, docSig, docBody)
	f.Add(sslTS, strings.ToUpper(sslSig), sslBody)
	f.Add(sslTS, "v1="+sslSig[3:], sslBody)
	f.Add("-1", sslSig, "")
	f.Add("99999999999999999999999", "v0=", "\x00")
	f.Add("", "", "")
	f.Add(sslTS, sslSig[:40]+"\xff"+sslSig[41:], sslBody)

	now := unix(sslTS)
	v, err := slackverify.New(sslSecret, &slackverify.Options{
		Now:             func() time.Time { return now },
		PreviousSecrets: []string{docSecret},
	})
	if err != nil {
		f.Fatal(err)
	}
	sentinels := []error{
		slackverify.ErrMissingHeaders, slackverify.ErrMalformedTimestamp, slackverify.ErrStaleTimestamp,
		slackverify.ErrMalformedSignature, slackverify.ErrSignatureMismatch,
	}

	f.Fuzz(func(t *testing.T, ts, sig, body string) {
		h := http.Header{hdrTimestamp: {ts}, hdrSignature: {sig}}
		errFunc := slackverify.Verify(h, []byte(body), now, sslSecret, docSecret)
		errVerifier := v.Verify(h, []byte(body))
		if errFunc != errVerifier {
			t.Fatalf("Verify = %v, Verifier.Verify = %v", errFunc, errVerifier)
		}
		if errFunc == nil {
			if !strings.EqualFold(sig, sign(sslSecret, ts, body)) && !strings.EqualFold(sig, sign(docSecret, ts, body)) {
				t.Fatalf("accepted a signature no secret produced: ts=%q sig=%q", ts, sig)
			}
			if !strings.HasPrefix(sig, "v0=") {
				t.Fatalf("accepted a signature without the v0= prefix: %q", sig)
			}
			return
		}
		known := false
		for _, s := range sentinels {
			known = known || errors.Is(errFunc, s)
		}
		if !known {
			t.Fatalf("unexpected error %v", errFunc)
		}
	})
}
