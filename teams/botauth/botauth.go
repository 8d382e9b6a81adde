package botauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MetadataURL is the Bot Framework's OpenID metadata document, the
// default of [Config.MetadataURL]. Its jwks_uri lists the keys the Bot
// Connector signs with.
const MetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"

const (
	// issuer is the iss of every token the Bot Connector sends to a bot.
	issuer = "https://api.botframework.com"
	// leeway is the clock skew allowed on exp, nbf and iat ("industry
	// standard clock-skew is 5 minutes", bot-docs).
	leeway = 5 * time.Minute
	// maxTokenBytes bounds the bearer token; real ones are about 1.5 KB.
	maxTokenBytes = 16 << 10
	// fetchTimeout bounds one refresh (metadata and key set together),
	// whatever the HTTP client's own timeout.
	fetchTimeout = 10 * time.Second
)

// ErrUnauthorized is returned, wrapped, for every request that
// [Validator.Authenticate] refuses: a missing or malformed Authorization
// header, a token that is not a valid Bot Framework token for this bot,
// a signing key that is unknown or does not endorse the activity's
// channel, a serviceUrl that does not match, an activity that could not
// be read, or a key set that could not be fetched. The error's text names
// the reason (for logs; never show it to the caller). The messaging
// endpoint answers all of them with 403 and decides nothing.
var ErrUnauthorized = errors.New("botauth: unauthorized")

// The reasons a request is refused. Each [refusal] carries one; tests
// tell them apart with errors.Is.
var (
	errHeader      = errors.New("botauth: missing or malformed Authorization: Bearer header")
	errToken       = errors.New("botauth: token rejected")
	errUnknownKey  = errors.New("botauth: signing key not in the Bot Framework key set")
	errKeySet      = errors.New("botauth: Bot Framework key set unavailable")
	errActivity    = errors.New("botauth: activity unreadable")
	errEndorsement = errors.New("botauth: signing key does not endorse the activity's channelId")
	errServiceURL  = errors.New("botauth: serviceUrl claim does not match the activity's serviceUrl")
)

// refusal is an error wrapping [ErrUnauthorized], one reason and,
// optionally, its cause.
type refusal struct {
	reason error
	cause  error
}

func refuse(reason, cause error) error { return &refusal{reason: reason, cause: cause} }

func (e *refusal) Error() string {
	if e.cause == nil {
		return e.reason.Error()
	}
	return e.reason.Error() + ": " + e.cause.Error()
}

func (e *refusal) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrUnauthorized, e.reason}
	}
	return []error{ErrUnauthorized, e.reason, e.cause}
}

// Config configures a [Validator]. Only AppID is required. No field
// turns a check off: there is deliberately no way to accept an
// unauthenticated request.
type Config struct {
	// AppID is the bot's Microsoft App ID (the Azure Bot registration's
	// client ID): the audience every token must name. Required.
	AppID string
	// MetadataURL is the OpenID metadata document whose jwks_uri lists
	// the signing keys. Defaults to [MetadataURL], and in production it
	// must stay there (or point at Microsoft's metadata for a sovereign
	// cloud): whoever serves it decides which tokens are valid. Tests and
	// the sandbox point it at a fake issuer (package botauthtest). It
	// must be https, or http to a loopback address; the same holds for
	// the jwks_uri it names.
	MetadataURL string
	// HTTPClient fetches the metadata and the keys. Defaults to a client
	// with a 10 s timeout that follows at most 3 redirects, each to a URL
	// MetadataURL could be. Whatever the client, one refresh gives up
	// after 10 s, and an answer from such a URL only is used.
	HTTPClient *http.Client
	// Now is the clock that exp, nbf and iat are checked against, and
	// the key cache ages by. Defaults to time.Now.
	Now func() time.Time
}

// Validator authenticates requests to a bot's messaging endpoint: it
// checks the Bot Framework JWT of each request. It is safe for
// concurrent use; build one per bot with [New] and share it. It starts no
// goroutine; keys are fetched on the first request and cached.
type Validator struct {
	appID  string
	parser *jwt.Parser
	keys   *keyCache
}

// New returns a Validator for cfg. It fails when cfg.AppID is empty or
// cfg.MetadataURL is not https (or http to a loopback address). It makes
// no request: the keys are fetched on first use.
func New(cfg Config) (*Validator, error) {
	if strings.TrimSpace(cfg.AppID) == "" {
		return nil, errors.New("botauth: Config.AppID is required (the bot's Microsoft App ID)")
	}
	if cfg.MetadataURL == "" {
		cfg.MetadataURL = MetadataURL
	}
	if err := checkFetchURL(cfg.MetadataURL); err != nil {
		return nil, fmt.Errorf("botauth: Config.MetadataURL: %w", err)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout: 10 * time.Second,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				return checkFetchURL(req.URL.String())
			},
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Validator{
		appID: cfg.AppID,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"RS256"}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(cfg.AppID),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
			jwt.WithTimeFunc(cfg.Now),
		),
		keys: &keyCache{
			metadataURL: cfg.MetadataURL,
			client:      cfg.HTTPClient,
			now:         cfg.Now,
		},
	}, nil
}

// Authenticate checks one request to the messaging endpoint, in two
// steps, and returns nil only when both pass; otherwise an error wrapping
// [ErrUnauthorized].
//
// First the authorization value (the request's Authorization header):
// "Bearer <JWT>", signed RS256 with a key from the Bot Framework's key
// set, issued by https://api.botframework.com for this bot's App ID, not
// expired and already valid (5 minutes of skew either way). A token
// signed by a key not in the cached set makes the set be fetched again,
// at most once every 5 minutes; the set is also refreshed once it is a
// day old, and the old keys stay in use while a refresh fails. If this
// step fails, activity is not called, so the caller refuses the request
// without reading its body.
//
// Then activity, which reads the body and returns the activity's
// channelId and serviceUrl: the token's signing key must endorse that
// (non-empty) channelId, and the token's serviceurl claim must equal that
// serviceUrl byte for byte (a trailing slash counts). An error from
// activity is returned wrapped, so errors.As still finds, for example, an
// *http.MaxBytesError.
//
// Authenticate implements approval.BotAuthenticator.
func (v *Validator) Authenticate(ctx context.Context, authorization string, activity func() (channelID, serviceURL string, err error)) error {
	tok, err := v.verify(ctx, authorization)
	if err != nil {
		return err
	}
	if activity == nil {
		return refuse(errActivity, errors.New("no activity function"))
	}
	channelID, serviceURL, err := activity()
	if err != nil {
		return refuse(errActivity, err)
	}
	return tok.bind(channelID, serviceURL)
}

// verified is a token whose signature and claims passed, not yet bound
// to an activity.
type verified struct {
	claims       jwt.MapClaims
	endorsements []string
}

// verify is Authenticate's first step: the header alone.
func (v *Validator) verify(ctx context.Context, authorization string) (*verified, error) {
	scheme, raw, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" || strings.ContainsAny(raw, " \t") {
		return nil, refuse(errHeader, nil)
	}
	if len(raw) > maxTokenBytes {
		return nil, refuse(errHeader, fmt.Errorf("token longer than %d bytes", maxTokenBytes))
	}
	var used signingKey
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, refuse(errUnknownKey, errors.New("token has no kid"))
		}
		k, err := v.keys.lookup(ctx, kid)
		if err != nil {
			return nil, err
		}
		used = k
		return k.pub, nil
	})
	if err != nil {
		// A refusal from the key lookup comes back wrapped in the JWT
		// library's "token is unverifiable" error: return it as is.
		if r, ok := errors.AsType[*refusal](err); ok {
			return nil, r
		}
		return nil, refuse(errToken, err)
	}
	return &verified{claims: claims, endorsements: used.endorsements}, nil
}

// bind is Authenticate's second step: the token against the activity.
func (t *verified) bind(channelID, serviceURL string) error {
	if channelID == "" {
		return refuse(errEndorsement, errors.New("the activity has no channelId"))
	}
	if !slices.Contains(t.endorsements, channelID) {
		return refuse(errEndorsement, fmt.Errorf("channelId %q", channelID))
	}
	// Real tokens spell the claim "serviceurl" (botbuilder's
	// ServiceUrlClaim); Microsoft's prose writes "serviceUrl". Accept
	// either; every one present must match.
	found := false
	for _, name := range []string{"serviceurl", "serviceUrl"} {
		c, present := t.claims[name]
		if !present {
			continue
		}
		found = true
		if s, ok := c.(string); !ok || s == "" || s != serviceURL {
			return refuse(errServiceURL, nil)
		}
	}
	if !found {
		return refuse(errServiceURL, errors.New("the token has no serviceurl claim"))
	}
	return nil
}

// checkFetchURL accepts an absolute https URL, or an http one whose host
// is a loopback address (tests and the sandbox).
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL without credentials", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("%q must be https (http only to a loopback address)", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
