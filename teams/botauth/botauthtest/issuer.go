// Package botauthtest is a fake Bot Framework token issuer, for the tests
// of hosts that mount a Teams bot's messaging endpoint, and for
// sandboxes. An [Issuer] serves the OpenID metadata and key set in the
// shape login.botframework.com does, and mints the tokens the Bot
// Connector would send ([Issuer.Token]), valid or broken in one chosen
// way. Point botauth.Config.MetadataURL at [Issuer.MetadataURL]:
//
//	is := botauthtest.NewIssuer(t, appID)
//	v, err := botauth.New(botauth.Config{AppID: appID, MetadataURL: is.MetadataURL()})
//	…
//	req.Header.Set("Authorization", "Bearer "+is.Token(botauthtest.Mint{ServiceURL: connectorURL}))
//
// Everything runs on a loopback httptest server; nothing reaches the
// internet.
package botauthtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// issuer is the iss of real Bot Connector tokens.
	issuer = "https://api.botframework.com"
	// defaultServiceURL is the serviceurl claim when Mint leaves it
	// unset: the Americas Teams service URL.
	defaultServiceURL = "https://smba.trafficmanager.net/amer/"
	// unpublishedKid is the kid of Mint.UnknownKey tokens by default.
	unpublishedKid = "unpublished-key"

	metadataPath = "/v1/.well-known/openidconfiguration"
	keysPath     = "/v1/.well-known/keys"
)

// Issuer is a fake login.botframework.com: an OpenID metadata document,
// a key set whose keys carry endorsements, and a minter of tokens. It is
// safe for concurrent use.
type Issuer struct {
	t     testing.TB
	srv   *httptest.Server
	appID string

	metadataHits, keysHits atomic.Int64

	mu         sync.Mutex
	keys       []*key // published; the last one added by Rotate signs by default
	signer     *key
	unknownKey *key // signs UnknownKey tokens; never published
}

// key is one RSA signing key with its self-signed certificate.
type key struct {
	kid          string
	priv         *rsa.PrivateKey
	cert         []byte
	endorsements []string
}

// NewIssuer starts an Issuer minting tokens for the bot appID, with one
// signing key that endorses the msteams, skype and webchat channels.
// Its server is closed when t's test ends. t may be nil outside tests (a
// sandbox): the server then runs until the process exits, and a misused
// Mint (an unpublished Kid, an unknown Alg) panics instead of failing t.
func NewIssuer(t testing.TB, appID string) *Issuer {
	if t != nil {
		t.Helper()
	}
	is := &Issuer{t: t, appID: appID}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+metadataPath, is.serveMetadata)
	mux.HandleFunc("GET "+keysPath, is.serveKeys)
	is.srv = httptest.NewServer(mux)
	if t != nil {
		t.Cleanup(is.srv.Close)
	}
	is.Rotate(false)
	return is
}

// MetadataURL returns the URL of the Issuer's OpenID metadata document,
// for botauth.Config.MetadataURL.
func (is *Issuer) MetadataURL() string { return is.srv.URL + metadataPath }

// Hits reports how many times the metadata document and the key set
// have been fetched.
func (is *Issuer) Hits() (metadata, keys int) {
	return int(is.metadataHits.Load()), int(is.keysHits.Load())
}

// Rotate publishes a new signing key, endorsing msteams, skype and
// webchat, that signs the tokens minted from now on, and returns its
// kid. With keepOld false the keys published before are withdrawn (a
// validator still caching them keeps accepting their tokens until it
// refetches); with true they stay published.
func (is *Issuer) Rotate(keepOld bool) string {
	k := newKey([]string{"msteams", "skype", "webchat"})
	is.mu.Lock()
	defer is.mu.Unlock()
	if !keepOld {
		is.keys = nil
	}
	is.keys = append(is.keys, k)
	is.signer = k
	return k.kid
}

// AddKey publishes one more key, endorsing exactly the channels given
// (none at all when there are none), and returns its kid. It does not
// sign by default: name it in [Mint.Kid].
func (is *Issuer) AddKey(endorsements ...string) string {
	k := newKey(append([]string{}, endorsements...))
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append(is.keys, k)
	return k.kid
}

// Mint describes a token for [Issuer.Token]. The zero Mint is a valid
// token for the Issuer's bot: issued by https://api.botframework.com,
// signed RS256 by the newest key from [Issuer.Rotate], valid from a
// minute ago for an hour, with the serviceurl claim
// "https://smba.trafficmanager.net/amer/". Each field breaks or changes
// one thing.
type Mint struct {
	// AppID is the audience. Defaults to the Issuer's app ID.
	AppID string
	// ServiceURL is the serviceurl claim, which must equal the
	// activity's serviceUrl. Defaults to
	// "https://smba.trafficmanager.net/amer/".
	ServiceURL string
	// Issuer is the iss claim. Defaults to https://api.botframework.com.
	Issuer string
	// Now is the time the token is minted at, the base of Expiry and
	// NotBefore; use the validator's clock. Defaults to time.Now().
	Now time.Time
	// Expiry is exp - Now; negative for an expired token. Defaults to
	// one hour.
	Expiry time.Duration
	// NotBefore is nbf - Now (iat is the same time); positive for a
	// token not yet valid. Defaults to minus one minute.
	NotBefore time.Duration
	// Kid names the published key that signs (from [Issuer.Rotate] or
	// [Issuer.AddKey]). With UnknownKey, it is only the kid put in the
	// header (default "unpublished-key").
	Kid string
	// UnknownKey signs with a key the Issuer never publishes, as if
	// Microsoft had rotated to a key the validator must fetch, or a
	// forger had made one.
	UnknownKey bool
	// NoKid leaves the kid (and x5t) out of the header.
	NoKid bool
	// Alg is the signing algorithm. Defaults to RS256. "none" makes an
	// unsigned token; "HS256", "HS384" and "HS512" sign with HMAC keyed
	// by the signing key's public key in PEM (the algorithm-confusion
	// attack); other RSA algorithms ("RS512", "PS256", …) sign with the
	// right key under the wrong algorithm.
	Alg string
	// Claims are set last, over the claims above: extra claims, or
	// replacements ("serviceUrl" spelled in camel case, an aud list). A
	// nil value removes the claim ("exp": nil for a token without
	// expiry).
	Claims map[string]any
}

// Token returns a JWT as the Bot Connector would send it (without the
// "Bearer " prefix), built as m describes.
func (is *Issuer) Token(m Mint) string {
	if m.AppID == "" {
		m.AppID = is.appID
	}
	if m.ServiceURL == "" {
		m.ServiceURL = defaultServiceURL
	}
	if m.Issuer == "" {
		m.Issuer = issuer
	}
	if m.Now.IsZero() {
		m.Now = time.Now()
	}
	if m.Expiry == 0 {
		m.Expiry = time.Hour
	}
	if m.NotBefore == 0 {
		m.NotBefore = -time.Minute
	}
	claims := jwt.MapClaims{
		"iss":        m.Issuer,
		"aud":        m.AppID,
		"exp":        m.Now.Add(m.Expiry).Unix(),
		"nbf":        m.Now.Add(m.NotBefore).Unix(),
		"iat":        m.Now.Add(m.NotBefore).Unix(),
		"serviceurl": m.ServiceURL, // spelled as in real tokens
	}
	for name, v := range m.Claims {
		if v == nil {
			delete(claims, name)
		} else {
			claims[name] = v
		}
	}

	k, kid, err := is.signingKey(m)
	if err != nil {
		is.fail(err)
		return ""
	}
	var method jwt.SigningMethod
	var signWith any = k.priv
	switch alg := m.Alg; {
	case alg == "" || alg == "RS256":
		method = jwt.SigningMethodRS256
	case alg == "none":
		method, signWith = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType
	case strings.HasPrefix(alg, "HS"):
		method = jwt.GetSigningMethod(alg)
		der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
		if err != nil {
			is.fail(err)
			return ""
		}
		signWith = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	default:
		method = jwt.GetSigningMethod(alg)
	}
	if method == nil {
		is.fail(fmt.Errorf("botauthtest: unknown Mint.Alg %q", m.Alg))
		return ""
	}
	t := jwt.NewWithClaims(method, claims)
	if !m.NoKid {
		t.Header["kid"] = kid
		t.Header["x5t"] = kid // as in real tokens
	}
	s, err := t.SignedString(signWith)
	if err != nil {
		is.fail(fmt.Errorf("botauthtest: signing with %s: %w", method.Alg(), err))
		return ""
	}
	return s
}

// signingKey picks the key that signs m and the kid its header names.
func (is *Issuer) signingKey(m Mint) (*key, string, error) {
	if m.UnknownKey {
		kid := m.Kid
		if kid == "" {
			kid = unpublishedKid
		}
		is.mu.Lock()
		if is.unknownKey == nil {
			is.unknownKey = newKey([]string{"msteams"})
		}
		k := is.unknownKey
		is.mu.Unlock()
		return k, kid, nil
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if m.Kid == "" {
		return is.signer, is.signer.kid, nil
	}
	for _, k := range is.keys {
		if k.kid == m.Kid {
			return k, k.kid, nil
		}
	}
	return nil, "", fmt.Errorf("botauthtest: Mint.Kid %q is not published (set UnknownKey to sign with an unpublished key)", m.Kid)
}

// fail reports a misuse of the Issuer: an error of t (safe from any
// goroutine), or a panic without t.
func (is *Issuer) fail(err error) {
	if is.t == nil {
		panic(err)
	}
	is.t.Error(err)
}

func (is *Issuer) serveMetadata(w http.ResponseWriter, r *http.Request) {
	is.metadataHits.Add(1)
	writeJSON(w, map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                "https://invalid.botframework.com",
		"jwks_uri":                              is.srv.URL + keysPath,
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
	})
}

func (is *Issuer) serveKeys(w http.ResponseWriter, r *http.Request) {
	is.keysHits.Add(1)
	is.mu.Lock()
	keys := make([]any, 0, len(is.keys))
	for _, k := range is.keys {
		keys = append(keys, k.jwk())
	}
	is.mu.Unlock()
	writeJSON(w, map[string]any{"keys": keys})
}

// jwk renders k as login.botframework.com does: kty, use, kid, x5t, n,
// e, x5c, and the endorsements.
func (k *key) jwk() map[string]any {
	b64 := base64.RawURLEncoding
	return map[string]any{
		"kty":          "RSA",
		"use":          "sig",
		"kid":          k.kid,
		"x5t":          k.kid,
		"n":            b64.EncodeToString(k.priv.N.Bytes()),
		"e":            b64.EncodeToString(big.NewInt(int64(k.priv.E)).Bytes()),
		"x5c":          []string{base64.StdEncoding.EncodeToString(k.cert)},
		"endorsements": k.endorsements,
	}
}

// newKey makes a 2048-bit RSA key and a self-signed certificate for it.
// Its kid is the certificate's x5t (base64url SHA-1), as Microsoft's are.
func newKey(endorsements []string) *key {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "fake login.botframework.com"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		panic(err)
	}
	sum := sha1.Sum(der)
	return &key{kid: base64.RawURLEncoding.EncodeToString(sum[:]), priv: priv, cert: der, endorsements: endorsements}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
