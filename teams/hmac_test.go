package teams_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/teams"
)

// The self-computed vector of protocol.md §7 (Teams publishes none),
// checked independently with
//
//	printf '%s' "$body" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$(echo -n "$key" | base64 -d | xxd -p -c 256) -binary | base64
const (
	vectorSecret = "vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA="
	vectorBody   = `{"type":"message","text":"<at>Approver</at> approve req-42","from":{"id":"29:1abc","name":"Jane Doe"}}`
	vectorHeader = "HMAC YEH5hC22I19XiggMoFUxxrv5DeNJkn6WQQY8vgHwOIo="
)

func newHMAC(t *testing.T) *teams.HMACVerifier {
	t.Helper()
	v, err := teams.NewHMACVerifier(vectorSecret)
	require.NoError(t, err)
	return v
}

func TestHMACVector(t *testing.T) {
	v := newHMAC(t)
	assert.Equal(t, vectorHeader, v.Authorization([]byte(vectorBody)))
	assert.NoError(t, v.Verify(vectorHeader, []byte(vectorBody)))

	// The same computation with the stdlib alone, as a cross-check.
	key, err := base64.StdEncoding.DecodeString(vectorSecret)
	require.NoError(t, err)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(vectorBody))
	assert.Equal(t, vectorHeader, "HMAC "+base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

func TestHMACVerifyRejects(t *testing.T) {
	v := newHMAC(t)
	value := strings.TrimPrefix(vectorHeader, "HMAC ")
	other, err := teams.NewHMACVerifier(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32))))
	require.NoError(t, err)
	for name, tc := range map[string]struct{ header, body string }{
		"missing header":     {"", vectorBody},
		"scheme only":        {"HMAC", vectorBody},
		"other scheme":       {"Bearer " + value, vectorBody},
		"no scheme":          {value, vectorBody},
		"different body":     {vectorHeader, strings.Replace(vectorBody, "req-42", "req-43", 1)},
		"body with newline":  {vectorHeader, vectorBody + "\n"},
		"empty body":         {vectorHeader, ""},
		"other key":          {other.Authorization([]byte(vectorBody)), vectorBody},
		"not base64":         {"HMAC " + strings.Repeat("*", 44), vectorBody},
		"truncated":          {vectorHeader[:len(vectorHeader)-4], vectorBody},
		"unpadded":           {strings.TrimSuffix(vectorHeader, "="), vectorBody},
		"hex instead of b64": {"HMAC 6041f9842db6235f5e8a0805a14531c6bbf90de3499e7e964106" + "3cbe01f03a22", vectorBody},
		"flipped last char":  {vectorHeader[:len(vectorHeader)-2] + "p=", vectorBody},
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, v.Verify(tc.header, []byte(tc.body)), teams.ErrHMACInvalid)
		})
	}
}

func TestHMACVerifyAcceptsSchemeCase(t *testing.T) {
	v := newHMAC(t)
	value := strings.TrimPrefix(vectorHeader, "HMAC ")
	for _, h := range []string{"hmac " + value, "Hmac " + value, "  HMAC   " + value + " "} {
		assert.NoError(t, v.Verify(h, []byte(vectorBody)), "header %q", h)
	}
}

func TestNewHMACVerifierRejectsBadSecrets(t *testing.T) {
	for name, secret := range map[string]string{
		"empty":        "",
		"not base64":   "not a base64 secret!",
		"short":        base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 31))),
		"raw url form": strings.TrimSuffix(strings.NewReplacer("+", "-", "/", "_").Replace(vectorSecret), "="),
	} {
		t.Run(name, func(t *testing.T) {
			v, err := teams.NewHMACVerifier(secret)
			require.Error(t, err)
			assert.Nil(t, v)
			if secret != "" {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}
