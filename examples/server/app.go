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
	"net/http"
	"strings"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/slackverify"
	"github.com/chatnotify/chatnotify/store/memstore"
	"github.com/chatnotify/chatnotify/store/sqlstore"
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
}

// app is the wired host: its handler serves every endpoint.
type app struct {
	cfg        config
	logger     *slog.Logger
	store      store
	closeStore func() error
	auth       tokenAuth
	svc        *approval.Service
	dispatcher *notify.Dispatcher
	slack      *approval.SlackHandler
	sandbox    *sandbox
	mux        *http.ServeMux
	warnings   []string
	sweepEvery time.Duration // EXPIRY_SWEEP_INTERVAL; 0: no sweep
	sweeper    *sweeper      // the running expiry sweep (expiry.go)
	// eventTimeout bounds the deliveries POST /v1/events waits for, so
	// that it answers before the server's WriteTimeout.
	eventTimeout time.Duration
}

// newApp opens the store and wires chatnotify's pieces together.
func newApp(ctx context.Context, cfg config, logger *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, logger: logger, mux: http.NewServeMux(), eventTimeout: writeTimeout - 5*time.Second}
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
	sweepEvery, err := parseSweepInterval(a.cfg.ExpirySweepInterval)
	if err != nil {
		return nil, err
	}
	a.sweepEvery = sweepEvery

	signer, err := a.signer()
	if err != nil {
		return nil, err
	}

	// nil lets the sender and the Slack handler use their own clients,
	// which keep enough idle connections and follow no redirects.
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
		a.cfg.SlackAPIURL = notify.DefaultSlackAPIURL // the sandbox client routes it to the fake
	}
	insecure := a.cfg.AllowInsecureURLs
	sender, err := notify.NewSender(&notify.SenderOptions{
		HTTPClient:        client,
		SlackAPIURL:       a.cfg.SlackAPIURL,
		AllowLoopbackURLs: insecure,
		PublicURL:         a.cfg.PublicURL,
		Signer:            signer,
		ConsoleURL:        a.consoleURL,
		Logger:            logger,
	})
	if err != nil {
		return nil, err
	}
	a.dispatcher, err = notify.NewDispatcher(a.store, sender, &notify.DispatcherOptions{
		Posts:     a.store,
		Approvals: a.store,
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	a.svc, err = approval.NewService(a.store, a.store, &approval.Options{
		OnDecided: a.dispatcher.Decided,
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}

	settings, err := notify.NewSettingsHandler(a.store, sender, a.auth.authorizer, &notify.SettingsOptions{
		Logger:   logger,
		Validate: notify.ValidateOptions{AllowLoopbackURLs: insecure},
	})
	if err != nil {
		return nil, err
	}
	a.slack, err = approval.NewSlackHandler(a.svc, &approval.SlackOptions{
		Logger:                    logger,
		HTTPClient:                client,
		AllowLoopbackResponseURLs: insecure,
	})
	if err != nil {
		return nil, err
	}
	var slackHandler http.Handler = a.slack
	if len(a.cfg.SlackSecrets) > 0 {
		v, err := slackverify.New(a.cfg.SlackSecrets[0], &slackverify.Options{
			PreviousSecrets: a.cfg.SlackSecrets[1:],
			Logger:          logger,
		})
		if err != nil {
			return nil, err
		}
		slackHandler = v.Middleware(a.slack)
	} else {
		a.warn("SLACK_SIGNING_SECRET is not set: Slack interaction requests are NOT verified, so anyone who can reach this server can approve requests. Set it before exposing the server.")
	}
	teamsHandler, err := approval.NewTeamsHandler(a.svc, &approval.TeamsOptions{
		Signer:     signer,
		HMACSecret: a.cfg.TeamsHMACSecret,
		Logger:     logger,
	})
	if err != nil {
		return nil, err
	}

	m := a.mux
	m.Handle("/v1/settings/notifications", settings)
	m.Handle("/v1/settings/notifications/", settings)
	m.Handle(approval.SlackInteractionsPath, slackHandler)
	m.Handle(approval.TeamsInteractionsPath, teamsHandler)
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

// Close stops the expiry sweep, drains background work (queued
// deliveries, message updates, Slack replacements) until ctx is done,
// then closes the store.
func (a *app) Close(ctx context.Context) error {
	a.stopExpirySweeper(ctx)
	err := errors.Join(a.slack.Close(ctx), a.dispatcher.Close(ctx))
	if a.sandbox != nil {
		a.sandbox.close()
	}
	return errors.Join(err, a.closeStore())
}

func (a *app) openStore(ctx context.Context) error {
	dsn := a.cfg.DatabaseURL
	if dsn == "memory:" {
		a.store, a.closeStore = memstore.New(), func() error { return nil }
		return nil
	}
	var opts sqlstore.Options
	if k := a.cfg.EncryptionKey; k != "" {
		key, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(key) != 32 {
			return errors.New("ENCRYPTION_KEY must be 32 bytes, base64-encoded")
		}
		opts.SecretKey = key
	}
	s, err := sqlstore.Open(ctx, dsn, &opts)
	if err != nil {
		return fmt.Errorf("opening DATABASE_URL: %w", err)
	}
	a.store, a.closeStore = s, s.Close
	return nil
}

// signer returns the signer of Teams Approve/Deny links: from
// ACTION_TOKEN_SECRET (current secret first, previous ones after commas),
// or a random one, in which case links stop working at restart.
func (a *app) signer() (*teams.Signer, error) {
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
	s, err := teams.NewSigner(secrets[0], secrets[1:]...)
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
	// made it, else reading the ADMIN_TOKEN the server was started with.
	auth := `"Authorization: Bearer $ADMIN_TOKEN"`
	if a.cfg.AdminTokenMade {
		auth = "'Authorization: Bearer " + a.cfg.AdminToken + "'"
	}
	fmt.Fprintf(w, "Try: curl -H %s http://%s/v1/settings/notifications\n", auth, addr)
	if a.sandbox != nil {
		fmt.Fprintf(w, "Sandbox: open http://%s/sandbox in a browser\n", addr)
	}
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
