package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/slackverify"
	"github.com/chatnotify/chatnotify/store/memstore"
	"github.com/chatnotify/chatnotify/store/postgres"
	"github.com/chatnotify/chatnotify/store/sqlite"
	"github.com/chatnotify/chatnotify/teams"
)

// store is everything the example keeps: the reference stores implement
// all of it.
type store interface {
	notify.ChannelStore
	notify.PostStore
	approval.ApprovalStore
	approval.AuditLogger
	approval.AuditLister
	approval.ExpiryLister
	// Deliveries is the deliveries log: what the dispatcher delivered to
	// each channel, for the settings API's health and retry endpoints.
	Deliveries() notify.DeliveryStore
	// The Teams conversations the bot was added to (teamsbot.go).
	teams.ConversationStore
}

// productName names the example in the settings API's default test
// message ("This is a test notification from the chatnotify example.").
const productName = "the chatnotify example"

// app is the wired host: its handler serves every endpoint.
type app struct {
	cfg        config
	logger     *slog.Logger
	store      store
	closeStore func() error
	auth       tokenAuth
	svc        *approval.Service
	dispatcher *notify.Dispatcher
	sandbox    *sandbox
	mux        *http.ServeMux
	warnings   []string
	// basePath is the path of PUBLIC_URL ("" at the root, "/chatnotify"
	// when the host mounts the example under that prefix): Location
	// headers start with it.
	basePath   string
	sweepEvery time.Duration // EXPIRY_SWEEP_INTERVAL; 0: no sweep
	sweeper    *sweeper      // the running expiry sweep, in memory (expiry.go)
	// durable: the store is SQLite or PostgreSQL, and the dispatcher uses
	// its durable queue (jobs in the database, handed over in the
	// store's transactions); the expiry sweep is then the dispatcher's
	// periodic job, which runs once sweepOn is set (expiry.go).
	durable bool
	sweepOn atomic.Bool
	// tenantOrgs maps a Teams tenant ID (lower case) to its
	// organisation: TEAMS_TENANT_ORGS (teamsbot.go).
	tenantOrgs map[string]string
}

// newApp opens the store and wires chatnotify's pieces together.
func newApp(ctx context.Context, cfg config, logger *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, logger: logger, mux: http.NewServeMux()}
	if a.cfg.PublicURL != "" {
		u, err := url.Parse(a.cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("PUBLIC_URL must be an absolute http or https URL")
		}
		a.basePath = strings.TrimSuffix(u.Path, "/")
	}
	sweepEvery, err := parseSweepInterval(a.cfg.ExpirySweepInterval)
	if err != nil {
		return nil, err
	}
	a.sweepEvery = sweepEvery
	if !a.cfg.Sandbox { // the sandbox's bot is its fake's (below)
		if err := a.checkTeamsBot(); err != nil {
			return nil, err
		}
	}
	if err := a.openStore(ctx); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			if a.sandbox != nil {
				a.sandbox.close()
			}
			a.closeStore()
		}
	}()

	if a.cfg.AdminToken == "" {
		a.cfg.AdminToken = randomToken()
		a.cfg.AdminTokenMade = true
	}
	a.auth = tokenAuth{admin: a.cfg.AdminToken, viewer: a.cfg.ViewerToken}

	signer, err := a.signer()
	if err != nil {
		return nil, err
	}

	// nil lets the sender use its own client, which keeps enough idle
	// connections and follows no redirects.
	var client *http.Client
	if a.cfg.Sandbox {
		if len(a.cfg.SlackSecrets) == 0 {
			// The sandbox signs its Slack clicks with this secret, so that
			// they go through slackverify as real ones do.
			a.cfg.SlackSecrets = []string{randomToken()}
		}
		sb, err := newSandbox(a)
		if err != nil {
			return nil, err
		}
		a.sandbox = sb
		client = sb.client()
		a.cfg.SlackAPIURL = "https://slack.com/api/" // the sandbox client routes it to the fake
		// The Teams bot is the fake's: its Entra and Bot Connector behind
		// the sandbox client, its issuer signing the sandbox's clicks.
		if a.cfg.Teams.configured() {
			a.warn("Sandbox mode: TEAMS_APP_ID, TEAMS_APP_SECRET and TEAMS_APP_TENANT are ignored; the sandbox's fake bot is used.")
		}
		a.cfg.Teams = sb.teamsBot()
		if err := a.checkTeamsBot(); err != nil {
			return nil, err
		}
	}
	sender, err := notify.NewSender(&notify.SenderOptions{
		HTTPClient:  client,
		SlackAPIURL: a.cfg.SlackAPIURL,
		// The library's one loopback setting: webhook URLs and Slack
		// response_urls on 127.0.0.1, for local tests only. The settings
		// API validates channels with the same policy.
		AllowLoopbackURLs: a.cfg.AllowInsecureURLs,
		PublicURL:         a.cfg.PublicURL,
		Signer:            signer,
		ConsoleURL:        a.consoleURL,
		Logger:            logger,
		// The Teams bot's credentials, for the Teams channels reached
		// through it (none: such channels fail with a clear reason).
		TeamsAppID:     a.cfg.Teams.AppID,
		TeamsAppSecret: a.cfg.Teams.AppSecret,
		TeamsAppTenant: a.cfg.Teams.AppTenant,
		TeamsTokenURL:  a.cfg.Teams.TokenURL, // "": Microsoft Entra's for the tenant
	})
	if err != nil {
		return nil, err
	}
	dopts := &notify.DispatcherOptions{
		Posts:      a.store,              // remembers where each request was posted
		Approvals:  a.store,              // catches decisions made while a post is in flight
		Deliveries: a.store.Deliveries(), // the deliveries log admins see in the settings API
		Logger:     logger,
		// On SQLite and PostgreSQL, deliveries are jobs in the database:
		// they survive a crash or a restart and are retried for 24 hours.
		Durable: a.durable,
	}
	if a.durable && a.sweepEvery > 0 {
		// The expiry sweep as a periodic job: once per tick across every
		// replica on the database.
		dopts.Sweep, dopts.SweepInterval = a.sweepDurable, a.sweepEvery
	}
	a.dispatcher, err = notify.NewDispatcher(a.store, sender, dopts)
	if err != nil {
		return nil, err
	}
	a.svc, err = approval.NewService(a.store, a.store, &approval.Options{
		Signer:   signer,                // the Teams links' action tokens
		FollowUp: a.dispatcher.FollowUp, // every copy shows the decision; Slack clicks get their answer
		Logger:   logger,
	})
	if err != nil {
		return nil, err
	}

	sopts := &notify.SettingsOptions{
		Logger:      logger,
		ProductName: productName,
		Deliveries:  a.store.Deliveries(), // each channel's health and deliveries
		Retry:       a.dispatcher.Retry,   // POST …/deliveries/{id}/retry queues a failed one again
	}
	if a.cfg.Teams.configured() {
		// GET …/teams/conversations: where the bot was added, to pick from.
		sopts.Conversations = a.store
	}
	settings, err := notify.NewSettingsHandler(a.store, sender, a.auth.authorizer, sopts)
	if err != nil {
		return nil, err
	}
	slackHandler, err := a.slackHandler()
	if err != nil {
		return nil, err
	}
	teamsHandler, err := approval.NewTeamsHandler(a.svc, &approval.TeamsOptions{
		HMACSecret: a.cfg.TeamsHMACSecret,
		Logger:     logger,
	})
	if err != nil {
		return nil, err
	}
	teamsBot, err := a.teamsBotHandler()
	if err != nil {
		return nil, err
	}

	m := a.mux
	m.Handle("/v1/settings/notifications", settings)
	m.Handle("/v1/settings/notifications/", settings)
	m.Handle(approval.SlackInteractionsPath, slackHandler)
	m.Handle(approval.TeamsInteractionsPath, teamsHandler)
	m.Handle(approval.TeamsBotMessagesPath, teamsBot)
	m.HandleFunc("POST /v1/approvals", a.createApproval)
	m.HandleFunc("GET /v1/approvals/{id}", a.getApproval)
	m.HandleFunc("POST /v1/approvals/{id}/decision", a.decideApproval)
	m.HandleFunc("GET /v1/audit", a.listAudit)
	m.HandleFunc("POST /v1/events", a.postEvent)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	m.HandleFunc("GET /favicon.ico", serveFavicon)
	if a.sandbox != nil {
		a.sandbox.routes(m)
	}
	ok = true
	return a, nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// slackHandler returns the handler of the Slack interactions endpoint.
// It never decides an unverified click: with SLACK_SIGNING_SECRET (or
// the sandbox's generated secret) it is chatnotify's handler behind
// slackverify; without one, every request is refused with 503 and a log
// line saying why, so that a Slack app pointed at the server shows the
// misconfiguration instead of approving on anyone's word.
// (approval.SlackOptions.AllowUnsigned exists for tests; the example
// never sets it.)
func (a *app) slackHandler() (http.Handler, error) {
	if len(a.cfg.SlackSecrets) == 0 {
		a.warn("SLACK_SIGNING_SECRET is not set: " + approval.SlackInteractionsPath + " refuses every request (503), since Slack clicks could not be verified. Set it to your Slack app's signing secret to enable the buttons.")
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.logger.WarnContext(r.Context(), "refused a Slack interaction: SLACK_SIGNING_SECRET is not set, so it cannot be verified")
			writeError(w, http.StatusServiceUnavailable, slackDisabled)
		}), nil
	}
	v, err := slackverify.New(a.cfg.SlackSecrets[0], &slackverify.Options{
		PreviousSecrets: a.cfg.SlackSecrets[1:],
		Logger:          a.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("SLACK_SIGNING_SECRET: %w", err)
	}
	return approval.NewSlackHandler(a.svc, &approval.SlackOptions{
		OrgID:    a.slackOrg,
		Verifier: v, // the handler wraps itself in v.Middleware
		Logger:   a.logger,
	})
}

// slackDisabled is the answer of the Slack endpoint without a signing
// secret.
const slackDisabled = "Slack interactions are disabled: the server has no SLACK_SIGNING_SECRET to verify them with"

// slackOrg is the Slack handler's OrgID hook: the organisation whose
// requests a click decides, given the workspace (team_id) and channel
// (channel_id) Slack signed. The example has one organisation, so every
// verified click is defaultOrg's. A multi-tenant host looks the
// workspace up in what it recorded when the organisation installed its
// Slack app (team_id → organisation), may also check that channelID is
// one of that organisation's channels, and returns "" for a workspace it
// does not know: the click is then answered "Approval request not
// found", whatever its value.
func (a *app) slackOrg(ctx context.Context, teamID, channelID string) (string, error) {
	return defaultOrg, nil
}

// Close stops the expiry sweep and the dispatcher, and only then closes
// the store, which the dispatcher's workers use until they have
// returned. Call it after http.Server.Shutdown, so that no handler is
// still handing work over. In memory, the dispatcher drains its queue
// (posts, copy updates, Slack answers) until ctx is done, and what is
// left then is lost. On the durable queue, the deliveries in flight
// finish until shortly before ctx's deadline (those still running then
// are cancelled) and everything else stays in the database for the next
// start: nothing is lost, and Close returns nil.
func (a *app) Close(ctx context.Context) error {
	a.stopExpirySweeper(ctx)
	err := a.dispatcher.Close(ctx)
	if err != nil {
		// ctx ended first: the dispatcher cancelled what was left. Wait
		// (briefly) for its workers to return before closing the store
		// under them; Close is safe to call again.
		wait, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if werr := a.dispatcher.Close(wait); werr != nil {
			a.logger.Error("delivery workers still running after shutdown; the store is left open", "err", werr)
			if a.sandbox != nil {
				a.sandbox.close()
			}
			return fmt.Errorf("draining deliveries: %w", err)
		}
		err = fmt.Errorf("draining deliveries: %w", err)
	}
	if a.sandbox != nil {
		a.sandbox.close() // after the dispatcher: its last jobs went to the fakes
	}
	return errors.Join(err, a.closeStore())
}

// openStore opens the store DATABASE_URL names: "memory:", "sqlite:PATH"
// (a file path, such as sqlite:chatnotify.db or sqlite:/var/lib/app/cn.db),
// or a postgres:// or postgresql:// URL. Errors never repeat the value,
// which may hold a password.
func (a *app) openStore(ctx context.Context) error {
	dsn := a.cfg.DatabaseURL
	var key []byte
	if k := a.cfg.EncryptionKey; k != "" {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != 32 {
			return errors.New("ENCRYPTION_KEY must be 32 bytes, base64-encoded")
		}
		key = b
	}
	switch {
	case dsn == "memory:":
		if key != nil {
			a.warn("ENCRYPTION_KEY is ignored with DATABASE_URL=memory: (nothing is written to disk)")
		}
		a.store, a.closeStore = memstore.New(), func() error { return nil }
		return nil
	case strings.HasPrefix(dsn, "sqlite://"):
		return errors.New("DATABASE_URL: write sqlite:PATH (such as sqlite:chatnotify.db or sqlite:/var/lib/app/chatnotify.db), not sqlite://")
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return errors.New("DATABASE_URL: sqlite: needs a file path, such as sqlite:chatnotify.db")
		}
		s, err := sqlite.Open(ctx, path, &sqlite.Options{SecretKey: key, Logger: a.logger})
		if err != nil {
			return fmt.Errorf("opening the SQLite database of DATABASE_URL: %w", err)
		}
		a.store, a.closeStore, a.durable = s, s.Close, true
		return nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err := postgres.Open(ctx, dsn, &postgres.Options{SecretKey: key, Logger: a.logger})
		if err != nil {
			return fmt.Errorf("opening the PostgreSQL database of DATABASE_URL: %w", err)
		}
		a.store, a.closeStore, a.durable = s, s.Close, true
		return nil
	}
	return errors.New("DATABASE_URL must be memory:, sqlite:PATH, or a postgres:// or postgresql:// URL")
}

// signer returns the signer of Teams Approve/Deny links: from
// ACTION_TOKEN_SECRET (current secret first, previous ones after commas),
// or a random one, in which case links stop working at restart.
func (a *app) signer() (*approval.Signer, error) {
	var secrets [][]byte
	for s := range strings.SplitSeq(a.cfg.ActionTokenSecret, ",") {
		if s = strings.TrimSpace(s); s != "" {
			secrets = append(secrets, []byte(s))
		}
	}
	if len(secrets) == 0 {
		secret := make([]byte, 32)
		rand.Read(secret)
		secrets = append(secrets, secret)
		a.warn("ACTION_TOKEN_SECRET is not set: a random one is used, so Teams Approve/Deny links stop working when the server restarts.")
	}
	s, err := approval.NewSigner(secrets[0], secrets[1:]...)
	if err != nil {
		return nil, fmt.Errorf("ACTION_TOKEN_SECRET: %w", err)
	}
	return s, nil
}

// consoleURL links an event to the host's console, when CONSOLE_URL is set.
func (a *app) consoleURL(ev notify.Event) string {
	if a.cfg.ConsoleURL == "" {
		return ""
	}
	switch ev := ev.(type) {
	case notify.ApprovalRequested:
		return a.cfg.ConsoleURL + "/approvals/" + ev.Request.ID
	case notify.DriftAlert:
		return a.cfg.ConsoleURL + "/drift"
	case notify.AgentStatusChanged:
		return a.cfg.ConsoleURL + "/agents"
	}
	return ""
}

func (a *app) warn(msg string) {
	a.warnings = append(a.warnings, msg)
	a.logger.Warn(msg)
}

// printBanner tells the person who started the server how to use it.
func (a *app) printBanner(w io.Writer, addr string) {
	fmt.Fprintf(w, "chatnotify example server listening on http://%s (store: %s)\n", addr, storeKind(a.cfg.DatabaseURL))
	if a.cfg.AdminTokenMade {
		fmt.Fprintf(w, "ADMIN_TOKEN was not set; this run's admin token is:\n\n    %s\n\n", a.cfg.AdminToken)
	}
	// A command that can be pasted as it is: with the token when this run
	// made it (base64url, safe in single quotes), else reading the
	// ADMIN_TOKEN the server was started with from the shell.
	base := "http://" + dialable(addr)
	if a.cfg.AdminTokenMade {
		fmt.Fprintf(w, "Try: curl -H 'Authorization: Bearer %s' %s/v1/settings/notifications\n", a.cfg.AdminToken, base)
	} else {
		fmt.Fprintf(w, "Try, with ADMIN_TOKEN exported in your shell: curl -H \"Authorization: Bearer $ADMIN_TOKEN\" %s/v1/settings/notifications\n", base)
	}
	if a.sandbox != nil {
		fmt.Fprintf(w, "Sandbox: open %s/sandbox in a browser\n", base)
	}
}

// dialable turns a listener's address into one a client on this machine
// can connect to: a wildcard host (ADDR=:8080, 0.0.0.0, [::]) becomes
// localhost.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// storeKind names the store of a DATABASE_URL without printing its
// credentials.
func storeKind(dsn string) string {
	switch {
	case dsn == "memory:":
		return "in-memory"
	case strings.HasPrefix(dsn, "sqlite:"):
		return "SQLite " + strings.TrimPrefix(dsn, "sqlite:")
	}
	return "PostgreSQL"
}

//go:embed assets/favicon.svg
var favicon []byte

// serveFavicon answers the browser's /favicon.ico with the example's SVG
// icon, so that the sandbox page's console shows no 404.
func serveFavicon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(favicon)
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
