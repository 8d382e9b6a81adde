package botauthtest

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

const testApp = "00000000-aaaa-bbbb-cccc-000000000001"

func getJSON(t *testing.T, url string, dst any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
		t.Fatal(err)
	}
}

// TestShape: the metadata and the key set have login.botframework.com's
// members; each key's x5t is the SHA-1 of its x5c certificate and its
// kid; jwkset accepts every key; Hits counts the fetches.
func TestShape(t *testing.T) {
	is := NewIssuer(t, testApp)
	is.AddKey("webchat")
	var meta map[string]any
	getJSON(t, is.MetadataURL(), &meta)
	if meta["issuer"] != issuer || meta["jwks_uri"] == nil {
		t.Fatalf("metadata: %v", meta)
	}
	if algs, _ := meta["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "RS256" {
		t.Fatalf("metadata algorithms: %v", meta)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	getJSON(t, meta["jwks_uri"].(string), &set)
	if len(set.Keys) != 2 {
		t.Fatalf("%d keys, want 2", len(set.Keys))
	}
	var endorsements [][]string
	for _, raw := range set.Keys {
		var k struct {
			Kty, Use, Kid, X5t, N, E string
			X5c                      []string
			Endorsements             []string
		}
		if err := json.Unmarshal(raw, &k); err != nil {
			t.Fatal(err)
		}
		der, err := base64.StdEncoding.DecodeString(k.X5c[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x509.ParseCertificate(der); err != nil {
			t.Fatal(err)
		}
		sum := sha1.Sum(der)
		if x5t := base64.RawURLEncoding.EncodeToString(sum[:]); k.Kty != "RSA" || k.Use != "sig" || k.X5t != x5t || k.Kid != x5t || k.N == "" || k.E != "AQAB" {
			t.Fatalf("key: %s", raw)
		}
		if _, err := jwkset.NewJWKFromRawJSON(raw, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{}); err != nil {
			t.Fatalf("jwkset refuses %s: %v", raw, err)
		}
		endorsements = append(endorsements, k.Endorsements)
	}
	if !slices.Equal(endorsements[0], []string{"msteams", "skype", "webchat"}) || !slices.Equal(endorsements[1], []string{"webchat"}) {
		t.Fatalf("endorsements: %v", endorsements)
	}
	if meta, keys := is.Hits(); meta != 1 || keys != 1 {
		t.Fatalf("Hits() = %d, %d, want 1, 1", meta, keys)
	}
}

// TestTokenDefaults: the zero Mint is a token for the Issuer's bot,
// signed by the newest key, in the real tokens' shape.
func TestTokenDefaults(t *testing.T) {
	is := NewIssuer(t, testApp)
	kid := is.Rotate(true)
	now := time.Now().Truncate(time.Second)
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(is.Token(Mint{Now: now}), claims)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Method.Alg() != "RS256" || tok.Header["kid"] != kid || tok.Header["x5t"] != kid {
		t.Fatalf("header: %v", tok.Header)
	}
	want := jwt.MapClaims{
		"iss": issuer, "aud": testApp, "serviceurl": defaultServiceURL,
		"exp": float64(now.Add(time.Hour).Unix()), "nbf": float64(now.Add(-time.Minute).Unix()), "iat": float64(now.Add(-time.Minute).Unix()),
	}
	for name, v := range want {
		if claims[name] != v {
			t.Errorf("claim %s = %v, want %v", name, claims[name], v)
		}
	}
	if len(claims) != len(want) {
		t.Errorf("claims: %v", claims)
	}
}

// tb records the errors of an Issuer.
type tb struct {
	testing.TB
	errs []string
}

func (r *tb) Error(args ...any) { r.errs = append(r.errs, args[0].(error).Error()) }

// TestMisuse: a Mint naming an unpublished Kid, or an unknown Alg,
// fails the test (or panics without one) and returns no token.
func TestMisuse(t *testing.T) {
	rec := &tb{TB: t}
	is := NewIssuer(rec, testApp)
	if tok := is.Token(Mint{Kid: "nope"}); tok != "" || len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "not published") {
		t.Fatalf("token %q, errors %v", tok, rec.errs)
	}
	if tok := is.Token(Mint{Alg: "XS256"}); tok != "" || len(rec.errs) != 2 {
		t.Fatalf("token %q, errors %v", tok, rec.errs)
	}
	if tok := is.Token(Mint{Kid: "nope", UnknownKey: true}); tok == "" || len(rec.errs) != 2 {
		t.Fatalf("UnknownKey with a Kid: token %q, errors %v", tok, rec.errs)
	}

	bare := NewIssuer(nil, testApp)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic without a testing.TB")
		}
	}()
	bare.Token(Mint{Kid: "nope"})
}
