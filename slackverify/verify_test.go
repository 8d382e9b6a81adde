package slackverify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/slackverify"
)

// Slack's worked example from docs.slack.dev/authentication/verifying-requests-from-slack.
// The signature was also recomputed with `openssl dgst -sha256 -hmac`.
const (
	docSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	docTS     = "1531420618"
	docBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	docSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

// A self-made vector for an interactivity body, computed with
// printf '%s' 'v0:1700000000:<body>' | openssl dgst -sha256 -hmac <secret>.
const (
	sslSecret = "e6b19c573432dcc6b075501d51b51bb8"
	sslTS     = "1700000000"
	sslBody   = "payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22approve_action%22%2C%22value%22%3A%22req-42%22%7D%5D%7D"
	sslSig    = "v0=7db2512a6e6bc79333a8afaaf65b5e88a8ca75f051e982b1fc167691ed4d7f63"
)

// The header names Slack documents, spelled out here rather than taken
// from the package under test.
const (
	hdrTimestamp = "X-Slack-Request-Timestamp"
	hdrSignature = "X-Slack-Signature"
)

// sign computes a signature independently of the package under test.
func sign(secret, ts, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":" + body))
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

func header(ts, sig string) http.Header {
	h := http.Header{}
	if ts != "" {
		h.Set(hdrTimestamp, ts)
	}
	if sig != "" {
		h.Set(hdrSignature, sig)
	}
	return h
}

func unix(ts string) time.Time {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		panic(err)
	}
	return time.Unix(n, 0)
}

// verifyBoth runs the plain function and a Verifier with the same
// configuration and requires them to agree.
func verifyBoth(t *testing.T, h http.Header, body string, now time.Time, secret string, previous ...string) error {
	t.Helper()
	errFunc := slackverify.Verify(h, []byte(body), now, append([]string{secret}, previous...)...)
	v, err := slackverify.New(secret, &slackverify.Options{
		Now:             func() time.Time { return now },
		PreviousSecrets: previous,
	})
	require.NoError(t, err)
	errVerifier := v.Verify(h, []byte(body))
	require.Equal(t, errFunc, errVerifier, "Verify and Verifier.Verify disagree")
	return errFunc
}

func TestKnownVectors(t *testing.T) {
	tests := []struct {
		name, secret, ts, body, sig string
	}{
		{"slack documentation example", docSecret, docTS, docBody, docSig},
		{"openssl computed interactivity body", sslSecret, sslTS, sslBody, sslSig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.sig, sign(tt.secret, tt.ts, tt.body), "test helper disagrees with the vector")

			h := http.Header{}
			slackverify.Sign(h, []byte(tt.body), unix(tt.ts), tt.secret)
			assert.Equal(t, tt.ts, h.Get(hdrTimestamp))
			assert.Equal(t, tt.sig, h.Get(hdrSignature), "Sign must reproduce the vector")

			assert.NoError(t, verifyBoth(t, header(tt.ts, tt.sig), tt.body, unix(tt.ts).Add(time.Minute), tt.secret))
		})
	}
}

func TestVerify(t *testing.T) {
	const secret = sslSecret
	ts, body := sslTS, sslBody
	at := unix(ts)
	good := sign(secret, ts, body)
	tampered := []byte(body)
	tampered[len(tampered)/2] ^= 0x01

	tests := []struct {
		name   string
		header http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"valid", header(ts, good), body, at, nil},
		{"upper-case hex accepted", header(ts, "v0="+strings.ToUpper(good[3:])), body, at, nil},
		{"4m59s old passes", header(ts, good), body, at.Add(4*time.Minute + 59*time.Second), nil},
		{"4m59s in the future passes", header(ts, good), body, at.Add(-(4*time.Minute + 59*time.Second)), nil},
		{"exactly 5m old passes", header(ts, good), body, at.Add(5 * time.Minute), nil},
		{"exactly 5m in the future passes", header(ts, good), body, at.Add(-5 * time.Minute), nil},
		{"5m01s old is stale", header(ts, good), body, at.Add(5*time.Minute + time.Second), slackverify.ErrStaleTimestamp},
		{"5m01s in the future is stale", header(ts, good), body, at.Add(-(5*time.Minute + time.Second)), slackverify.ErrStaleTimestamp},
		{"5m plus 1ns old is stale", header(ts, good), body, at.Add(5*time.Minute + 1), slackverify.ErrStaleTimestamp},
		{"timestamp zero is stale", header("0", sign(secret, "0", body)), body, at, slackverify.ErrStaleTimestamp},
		{"absurd future timestamp is stale", header("999999999999999999", sign(secret, "999999999999999999", body)), body, at, slackverify.ErrStaleTimestamp},
		{"missing timestamp", header("", good), body, at, slackverify.ErrMissingHeaders},
		{"missing signature", header(ts, ""), body, at, slackverify.ErrMissingHeaders},
		{"missing both", http.Header{}, body, at, slackverify.ErrMissingHeaders},
		{"empty timestamp value", http.Header{hdrTimestamp: {""}, hdrSignature: {good}}, body, at, slackverify.ErrMissingHeaders},
		{"non-numeric timestamp", header("abc", good), body, at, slackverify.ErrMalformedTimestamp},
		{"negative timestamp", header("-"+ts, good), body, at, slackverify.ErrMalformedTimestamp},
		{"plus-signed timestamp", header("+"+ts, good), body, at, slackverify.ErrMalformedTimestamp},
		{"fractional timestamp", header(ts+".5", good), body, at, slackverify.ErrMalformedTimestamp},
		{"timestamp with space", header(" "+ts, good), body, at, slackverify.ErrMalformedTimestamp},
		{"19-digit timestamp", header("1234567890123456789", good), body, at, slackverify.ErrMalformedTimestamp},
		{"wrong version v1=", header(ts, "v1="+good[3:]), body, at, slackverify.ErrMalformedSignature},
		{"upper-case V0= prefix", header(ts, "V0="+good[3:]), body, at, slackverify.ErrMalformedSignature},
		{"no prefix", header(ts, good[3:]), body, at, slackverify.ErrMalformedSignature},
		{"prefix only", header(ts, "v0="), body, at, slackverify.ErrMalformedSignature},
		{"one hex digit short", header(ts, good[:len(good)-1]), body, at, slackverify.ErrMalformedSignature},
		{"one byte short", header(ts, good[:len(good)-2]), body, at, slackverify.ErrMalformedSignature},
		{"one hex digit long", header(ts, good+"0"), body, at, slackverify.ErrMalformedSignature},
		{"non-hex digit", header(ts, good[:10]+"g"+good[11:]), body, at, slackverify.ErrMalformedSignature},
		{"tampered body (one bit)", header(ts, good), string(tampered), at, slackverify.ErrSignatureMismatch},
		{"body with a trailing newline", header(ts, good), body + "\n", at, slackverify.ErrSignatureMismatch},
		{"empty body", header(ts, good), "", at, slackverify.ErrSignatureMismatch},
		{"timestamp changed", header("1700000001", good), body, at, slackverify.ErrSignatureMismatch},
		{"timestamp re-spelled with a leading zero", header("0"+ts, good), body, at, slackverify.ErrSignatureMismatch},
		{"signed with another secret", header(ts, sign("another-secret-0123456789", ts, body)), body, at, slackverify.ErrSignatureMismatch},
		{"one signature bit flipped", header(ts, good[:len(good)-1]+string(good[len(good)-1]^0x01)), body, at, slackverify.ErrSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyBoth(t, tt.header, tt.body, tt.now, secret)
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestVerifyMultipleHeaderValuesUsesFirst(t *testing.T) {
	h := header(sslTS, sslSig)
	h.Add(hdrSignature, "v0="+strings.Repeat("0", 64))
	assert.NoError(t, verifyBoth(t, h, sslBody, unix(sslTS), sslSecret))

	h = header(sslTS, "v0="+strings.Repeat("0", 64))
	h.Add(hdrSignature, sslSig)
	assert.ErrorIs(t, verifyBoth(t, h, sslBody, unix(sslTS), sslSecret), slackverify.ErrSignatureMismatch)
}

func TestRotatedSecrets(t *testing.T) {
	const (
		current = "new-secret-0123456789abcdef0123"
		old     = "old-secret-0123456789abcdef0123"
		unknown = "unknown-secret-0123456789abcdef"
	)
	at := unix(sslTS)
	tests := []struct {
		name     string
		signedBy string
		previous []string
		want     error
	}{
		{"current secret", current, []string{old}, nil},
		{"previous secret accepted", old, []string{old}, nil},
		{"second previous secret accepted", old, []string{"older-secret-0123456789abcdef", old}, nil},
		{"previous secret without rotation configured", old, nil, slackverify.ErrSignatureMismatch},
		{"unknown secret", unknown, []string{old}, slackverify.ErrSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header(sslTS, sign(tt.signedBy, sslTS, sslBody))
			err := verifyBoth(t, h, sslBody, at, current, tt.previous...)
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestVerifyNoSecret(t *testing.T) {
	for name, secrets := range map[string][]string{
		"none":                  nil,
		"one empty":             {""},
		"all empty":             {"", ""},
		"one space":             {" "},
		"whitespace only":       {" \t\r\n"},
		"empty and whitespace":  {"", "  "},
		"non-breaking space":    {"\u00a0"},
		"ideographic and a tab": {"\u3000\t"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, s := range append(secrets, "") {
				h := header(sslTS, sign(s, sslTS, sslBody))
				assert.ErrorIs(t, slackverify.Verify(h, []byte(sslBody), unix(sslTS), secrets...), slackverify.ErrNoSecret)
			}
		})
	}
}

// TestVerifySkipsBlankSecrets checks that a key anyone can guess (empty
// or whitespace) is never used, even next to a real one.
func TestVerifySkipsBlankSecrets(t *testing.T) {
	for _, blank := range []string{"", " ", "\t\n"} {
		h := header(sslTS, sign(blank, sslTS, sslBody))
		err := slackverify.Verify(h, []byte(sslBody), unix(sslTS), sslSecret, blank)
		assert.ErrorIs(t, err, slackverify.ErrSignatureMismatch, "signed with %q", blank)
	}
}

// TestInvalidSignatureReasons checks that every verification failure is
// an ErrInvalidSignature for callers and names its reason for logs.
func TestInvalidSignatureReasons(t *testing.T) {
	for reason, text := range map[error]string{
		slackverify.ErrMissingHeaders:     "slackverify: missing signature headers",
		slackverify.ErrMalformedTimestamp: "slackverify: malformed timestamp",
		slackverify.ErrStaleTimestamp:     "slackverify: stale timestamp",
		slackverify.ErrMalformedSignature: "slackverify: malformed signature",
		slackverify.ErrSignatureMismatch:  "slackverify: signature mismatch",
	} {
		assert.ErrorIs(t, reason, slackverify.ErrInvalidSignature, text)
		assert.Equal(t, text, reason.Error())
		assert.NotErrorIs(t, reason, slackverify.ErrBodyTooLarge)
	}
	assert.NotErrorIs(t, slackverify.ErrBodyTooLarge, slackverify.ErrInvalidSignature)
	assert.NotErrorIs(t, slackverify.ErrNoSecret, slackverify.ErrInvalidSignature)

	// As returned by both entry points.
	h := header(sslTS, sign(docSecret, sslTS, sslBody))
	assert.ErrorIs(t, verifyBoth(t, h, sslBody, unix(sslTS), sslSecret), slackverify.ErrInvalidSignature)
	assert.ErrorIs(t, verifyBoth(t, http.Header{}, sslBody, unix(sslTS), sslSecret), slackverify.ErrInvalidSignature)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		opts    *slackverify.Options
		wantErr error // nil: no error; errAny: some error
	}{
		{"nil options", sslSecret, nil, nil},
		{"zero options", sslSecret, &slackverify.Options{}, nil},
		{"empty secret", "", nil, slackverify.ErrNoSecret},
		{"empty secret with previous secrets", "", &slackverify.Options{PreviousSecrets: []string{"old"}}, slackverify.ErrNoSecret},
		{"space secret", " ", nil, slackverify.ErrNoSecret},
		{"whitespace-only secret", " \t\r\n ", nil, slackverify.ErrNoSecret},
		{"unicode whitespace secret", "\u00a0\u2003\u3000", nil, slackverify.ErrNoSecret},
		{"empty previous secret", sslSecret, &slackverify.Options{PreviousSecrets: []string{""}}, slackverify.ErrNoSecret},
		{"whitespace-only previous secret", sslSecret, &slackverify.Options{PreviousSecrets: []string{docSecret, "\t \n"}}, slackverify.ErrNoSecret},
		{"secret with surrounding spaces is kept as given", " " + sslSecret + " ", nil, nil},
		{"previous secrets", sslSecret, &slackverify.Options{PreviousSecrets: []string{docSecret, "old"}}, nil},
		{"negative skew", sslSecret, &slackverify.Options{MaxSkew: -time.Second}, errAny},
		{"negative body limit", sslSecret, &slackverify.Options{MaxBodyBytes: -1}, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := slackverify.New(tt.secret, tt.opts)
			switch tt.wantErr {
			case nil:
				require.NoError(t, err)
				require.NotNil(t, v)
			case errAny:
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), "slackverify: "), err.Error())
				assert.Nil(t, v)
			default:
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, v)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestVerifierOptions(t *testing.T) {
	at := unix(sslTS)
	h := header(sslTS, sslSig)
	fixed := func(d time.Duration) func() time.Time { return func() time.Time { return at.Add(d) } }

	t.Run("custom skew", func(t *testing.T) {
		v, err := slackverify.New(sslSecret, &slackverify.Options{MaxSkew: time.Minute, Now: fixed(61 * time.Second)})
		require.NoError(t, err)
		assert.ErrorIs(t, v.Verify(h, []byte(sslBody)), slackverify.ErrStaleTimestamp)

		v, err = slackverify.New(sslSecret, &slackverify.Options{MaxSkew: time.Minute, Now: fixed(59 * time.Second)})
		require.NoError(t, err)
		assert.NoError(t, v.Verify(h, []byte(sslBody)))
	})
	t.Run("default skew is five minutes", func(t *testing.T) {
		v, err := slackverify.New(sslSecret, &slackverify.Options{Now: fixed(5*time.Minute + time.Second)})
		require.NoError(t, err)
		assert.ErrorIs(t, v.Verify(h, []byte(sslBody)), slackverify.ErrStaleTimestamp)
	})
	t.Run("body limit", func(t *testing.T) {
		n := int64(len(sslBody))
		v, err := slackverify.New(sslSecret, &slackverify.Options{MaxBodyBytes: n, Now: fixed(0)})
		require.NoError(t, err)
		assert.NoError(t, v.Verify(h, []byte(sslBody)), "a body of exactly the limit passes")

		v, err = slackverify.New(sslSecret, &slackverify.Options{MaxBodyBytes: n - 1, Now: fixed(0)})
		require.NoError(t, err)
		assert.ErrorIs(t, v.Verify(h, []byte(sslBody)), slackverify.ErrBodyTooLarge)
	})
	t.Run("default body limit is 1 MiB", func(t *testing.T) {
		v, err := slackverify.New(sslSecret, &slackverify.Options{Now: fixed(0)})
		require.NoError(t, err)
		big := strings.Repeat("a", 1<<20)
		assert.NoError(t, v.Verify(header(sslTS, sign(sslSecret, sslTS, big)), []byte(big)))
		big += "a"
		assert.ErrorIs(t, v.Verify(header(sslTS, sign(sslSecret, sslTS, big)), []byte(big)), slackverify.ErrBodyTooLarge)
	})
	t.Run("default clock is the real one", func(t *testing.T) {
		v, err := slackverify.New(sslSecret, nil)
		require.NoError(t, err)
		now := strconv.FormatInt(time.Now().Unix(), 10)
		assert.NoError(t, v.Verify(header(now, sign(sslSecret, now, sslBody)), []byte(sslBody)))
		assert.ErrorIs(t, v.Verify(header(sslTS, sslSig), []byte(sslBody)), slackverify.ErrStaleTimestamp,
			"a 2023 timestamp is stale by the real clock")
	})
}

// TestVerifierConcurrent exercises the pooled HMAC state from many
// goroutines (run with -race); every answer must still be right.
func TestVerifierConcurrent(t *testing.T) {
	at := unix(sslTS)
	v, err := slackverify.New(sslSecret, &slackverify.Options{
		Now:             func() time.Time { return at },
		PreviousSecrets: []string{docSecret},
	})
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				body := sslBody + strconv.Itoa(g*1000+i)
				secret := sslSecret
				if i%3 == 1 {
					secret = docSecret
				}
				h := header(sslTS, sign(secret, sslTS, body))
				want := error(nil)
				if i%3 == 2 {
					body += "x"
					want = slackverify.ErrSignatureMismatch
				}
				if got := v.Verify(h, []byte(body)); got != want {
					errs <- errors.Join(errors.New("goroutine "+strconv.Itoa(g)+" request "+strconv.Itoa(i)), got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestNewBlankSecretMessages checks that refusing a blank secret says
// which one and why.
func TestNewBlankSecretMessages(t *testing.T) {
	_, err := slackverify.New("  ", nil)
	require.ErrorIs(t, err, slackverify.ErrNoSecret)
	assert.EqualError(t, err, "slackverify: no signing secret: the signing secret is empty or only whitespace")

	_, err = slackverify.New(sslSecret, &slackverify.Options{PreviousSecrets: []string{docSecret, "\t"}})
	require.ErrorIs(t, err, slackverify.ErrNoSecret)
	assert.EqualError(t, err, "slackverify: no signing secret: Options.PreviousSecrets[1] is empty or only whitespace")
}

// TestNewKeepsSecretAsGiven checks that a secret is not trimmed: only a
// blank one is refused.
func TestNewKeepsSecretAsGiven(t *testing.T) {
	const padded = " " + sslSecret + "\n"
	v, err := slackverify.New(padded, &slackverify.Options{Now: func() time.Time { return unix(sslTS) }})
	require.NoError(t, err)
	assert.NoError(t, v.Verify(header(sslTS, sign(padded, sslTS, sslBody)), []byte(sslBody)))
	assert.ErrorIs(t, v.Verify(header(sslTS, sslSig), []byte(sslBody)), slackverify.ErrSignatureMismatch,
		"the trimmed secret is not the secret")
}
