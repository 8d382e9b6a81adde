package botauth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

const (
	// maxAge is how long a fetched key set is used before it is
	// refreshed (bot-docs: keys "may be cached for long periods").
	maxAge = 24 * time.Hour
	// minRefetch is the shortest gap between the last fetch and one
	// caused by a token signed with an unknown key: a flood of made-up
	// kids costs Microsoft one request per window, and the bot no wait.
	minRefetch = 5 * time.Minute
	// retryAfterFailure is the shortest gap between a failed fetch and
	// the next attempt of any kind, so that an outage is not hammered.
	retryAfterFailure = 10 * time.Second
	// maxDocBytes bounds the metadata document and the key set; the
	// real key set is about 10 KB.
	maxDocBytes = 1 << 20
	// RSA key sizes accepted from the key set (Microsoft's are 2048).
	minRSABits, maxRSABits = 2048, 8192
)

// signingKey is one usable key of the set.
type signingKey struct {
	pub          *rsa.PublicKey
	endorsements []string
}

// keyCache holds the Bot Framework key set, fetched lazily through the
// metadata document. At most one fetch runs at a time; requests arriving
// meanwhile wait for it (or for their context) and then use its result.
type keyCache struct {
	metadataURL string
	client      *http.Client
	now         func() time.Time

	mu        sync.Mutex
	keys      map[string]signingKey // nil until the first successful fetch
	fetchedAt time.Time             // of the keys
	triedAt   time.Time             // start of the last fetch, whatever its end
	failedAt  time.Time             // end of the last failed fetch
	lastErr   error                 // of that fetch
	inflight  chan struct{}         // non-nil while a fetch runs; closed at its end
}

// lookup returns the key named kid, fetching the key set when it has
// none yet, when it is older than maxAge, or when kid is not in it and
// the last fetch is minRefetch old: a key set fetched less than
// minRefetch ago is trusted to be complete. No fetch starts within
// retryAfterFailure of a failed one.
func (c *keyCache) lookup(ctx context.Context, kid string) (signingKey, error) {
	for {
		c.mu.Lock()
		if ch := c.inflight; ch != nil {
			c.mu.Unlock()
			select {
			case <-ch:
				continue // decide again with the fetch's result
			case <-ctx.Done():
				return signingKey{}, refuse(errKeySet, ctx.Err())
			}
		}
		now := c.now()
		k, found := c.keys[kid]
		fetch := false
		switch {
		case !c.failedAt.IsZero() && now.Sub(c.failedAt) < retryAfterFailure:
			// a fetch just failed: no new attempt yet
		case c.keys == nil || now.Sub(c.fetchedAt) >= maxAge:
			fetch = true
		case !found && now.Sub(c.triedAt) >= minRefetch:
			fetch = true
		}
		if !fetch {
			k, err := c.result(k, found)
			c.mu.Unlock()
			return k, err
		}
		ch := make(chan struct{})
		c.inflight, c.triedAt = ch, now
		c.mu.Unlock()

		keys, err := c.fetchSafely(ctx)

		c.mu.Lock()
		c.inflight = nil
		close(ch)
		if err != nil {
			c.failedAt, c.lastErr = c.now(), err // keep serving the old keys, if any
		} else {
			c.keys, c.fetchedAt, c.failedAt, c.lastErr = keys, c.now(), time.Time{}, nil
		}
		k, found = c.keys[kid]
		k, err = c.result(k, found)
		c.mu.Unlock()
		return k, err
	}
}

// result turns a lookup into its answer; c.mu is held.
func (c *keyCache) result(k signingKey, found bool) (signingKey, error) {
	switch {
	case found:
		return k, nil
	case c.keys == nil:
		return signingKey{}, refuse(errKeySet, c.lastErr)
	case c.lastErr != nil:
		return signingKey{}, refuse(errUnknownKey, fmt.Errorf("refetching the key set failed: %w", c.lastErr))
	default:
		return signingKey{}, refuse(errUnknownKey, nil)
	}
}

// fetchSafely is fetch, with a panic on a hostile answer turned into an
// error: requests waiting for the fetch must not wait forever.
func (c *keyCache) fetchSafely(ctx context.Context) (keys map[string]signingKey, err error) {
	defer func() {
		if p := recover(); p != nil {
			keys, err = nil, fmt.Errorf("reading the key set panicked: %v", p)
		}
	}()
	return c.fetch(ctx)
}

// fetch reads the metadata document, then the key set it names, and
// returns the usable keys: RSA signing keys with a kid, accepted by
// jwkset (which also checks that x5c, x5t and the key agree). A key that
// is refused is skipped; a set with no usable key is an error.
func (c *keyCache) fetch(ctx context.Context) (map[string]signingKey, error) {
	// The fetch serves every request waiting for it: it must not end
	// because the request that started it went away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()

	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := c.getJSON(ctx, c.metadataURL, &meta); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if meta.JWKSURI == "" {
		return nil, errors.New("metadata: no jwks_uri")
	}
	if err := checkFetchURL(meta.JWKSURI); err != nil {
		return nil, fmt.Errorf("metadata: jwks_uri: %w", err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := c.getJSON(ctx, meta.JWKSURI, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	keys := make(map[string]signingKey, len(set.Keys))
	for _, raw := range set.Keys {
		kid, k, ok := parseKey(raw)
		if ok {
			keys[kid] = k
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key set: no usable RS256 signing key among %d", len(set.Keys))
	}
	return keys, nil
}

// parseKey returns one JWK of the set as a signing key, or false when it
// is not a usable one.
func parseKey(raw json.RawMessage) (string, signingKey, bool) {
	j, err := jwkset.NewJWKFromRawJSON(raw, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return "", signingKey{}, false
	}
	m := j.Marshal()
	if m.KTY != jwkset.KtyRSA || m.KID == "" || (m.USE != "" && m.USE != jwkset.UseSig) ||
		(m.ALG != "" && m.ALG != jwkset.AlgRS256) {
		return "", signingKey{}, false
	}
	pub, ok := j.Key().(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < minRSABits || pub.N.BitLen() > maxRSABits {
		return "", signingKey{}, false
	}
	// jwkset drops the non-standard endorsements member: read it from
	// the same bytes, so that key and endorsements come from one answer.
	var extra struct {
		Endorsements []string `json:"endorsements"`
	}
	if json.Unmarshal(raw, &extra) != nil {
		return "", signingKey{}, false
	}
	return m.KID, signingKey{pub: pub, endorsements: extra.Endorsements}, true
}

// getJSON decodes the JSON document at url into dst: status 200, at
// most maxDocBytes.
func (c *keyCache) getJSON(ctx context.Context, url string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := checkFetchURL(resp.Request.URL.String()); err != nil {
		return fmt.Errorf("GET %s: redirected: %w", url, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxDocBytes {
		return fmt.Errorf("GET %s: answer longer than %d bytes", url, maxDocBytes)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
