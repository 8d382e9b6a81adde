package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/slackverify"
)

// Tests of the command itself: run's life cycle (listen, banner, serve,
// graceful shutdown that drains background work), -h, and the README's
// list of environment variables.

// runningServer is run serving in the background.
type runningServer struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned err
	err    error
	stdout *syncbuf.Buffer
	logs   *syncbuf.Buffer
	base   string // http://host:port, from the banner
}

var bannerAddr = regexp.MustCompile(`listening on (http://\S+) \(store: ([^)]*)\)`)

// startRun calls run with the configuration env describes (ADDR
// defaults to 127.0.0.1:0) and waits for its banner.
func startRun(t *testing.T, env map[string]string) *runningServer {
	t.Helper()
	vars := map[string]string{"ADDR": "127.0.0.1:0"}
	for k, v := range env {
		vars[k] = v
	}
	cfg := loadConfig(func(k string) string { return vars[k] })
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServer{cancel: cancel, done: make(chan struct{}), stdout: &syncbuf.Buffer{}, logs: &syncbuf.Buffer{}}
	logger := slog.New(slog.NewTextHandler(s.logs, nil))
	go func() {
		s.err = run(ctx, cfg, logger, s.stdout)
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("run did not return after cancel")
		}
	})
	eventually(t, "run's banner", func() bool {
		select {
		case <-s.done:
			t.Fatalf("run returned before serving: %v\nlogs:\n%s", s.err, s.logs.String())
		default:
		}
		return bannerAddr.MatchString(s.stdout.String())
	})
	s.base = bannerAddr.FindStringSubmatch(s.stdout.String())[1]
	return s
}

// stop cancels run's context and returns what run returned.
func (s *runningServer) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
		return s.err
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not return after cancel; logs:\n%s", s.logs.String())
		return nil
	}
}

func get(t *testing.T, u, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", u, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunServesAndShutsDownCleanly(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "run.db")
	s := startRun(t, map[string]string{"DATABASE_URL": "sqlite:" + dbPath})

	out := s.stdout.String()
	m := bannerAddr.FindStringSubmatch(out)
	assert.Equal(t, "SQLite "+dbPath, m[2])
	assert.Regexp(t, `^http://127\.0\.0\.1:[1-9][0-9]*$`, s.base, "the real port, not :0")

	// ADMIN_TOKEN was unset: the banner prints the generated token.
	tm := regexp.MustCompile(`ADMIN_TOKEN was not set; this run's admin token is:\n\n    (\S+)\n`).FindStringSubmatch(out)
	require.NotNil(t, tm, "no generated admin token in the banner:\n%s", out)
	token := tm[1]
	assert.GreaterOrEqual(t, len(token), 32)
	assert.NotContains(t, s.logs.String(), token, "the token goes to stdout, not the logs")

	assert.Equal(t, http.StatusOK, get(t, s.base+"/healthz", ""))
	// The browser's request for an icon is answered, not a 404 in its console.
	fav, err := http.Get(s.base + "/favicon.ico")
	require.NoError(t, err)
	fav.Body.Close()
	assert.Equal(t, http.StatusOK, fav.StatusCode)
	assert.Equal(t, "image/svg+xml", fav.Header.Get("Content-Type"))
	assert.Equal(t, http.StatusOK, get(t, s.base+"/v1/settings/notifications", token), "the printed token is the admin's")
	assert.Equal(t, http.StatusOK, get(t, s.base+"/v1/audit", token))
	assert.Equal(t, http.StatusUnauthorized, get(t, s.base+"/v1/audit", token+"x"))
	assert.Equal(t, http.StatusUnauthorized, get(t, s.base+"/v1/audit", ""))

	require.NoError(t, s.stop(t))
	assert.Contains(t, s.logs.String(), "stopped cleanly")
	_, err = http.Get(s.base + "/healthz")
	assert.Error(t, err, "nothing listens after run returned")
	_, err = os.Stat(dbPath)
	assert.NoError(t, err, "the SQLite file was created")
}

func TestRunDoesNotPrintAGivenAdminToken(t *testing.T) {
	const token = "given-admin-token-0123456789"
	s := startRun(t, map[string]string{"DATABASE_URL": "memory:", "ADMIN_TOKEN": token})
	out := s.stdout.String()
	assert.NotContains(t, out, token)
	assert.NotContains(t, out, "admin token is")
	assert.Contains(t, out, "(store: in-memory)")
	assert.Equal(t, http.StatusOK, get(t, s.base+"/v1/audit", token))
	require.NoError(t, s.stop(t))
}

// The banner's "Try:" command works when pasted into a shell as it is:
// with the generated token in it, or reading an ADMIN_TOKEN the shell
// exports.
func TestBannerCurlCommandCanBePasted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is not installed; CI must run this test")
		}
		t.Skip("curl is not installed")
	}
	tryLine := regexp.MustCompile(`(?m)^Try\b[^:]*: (curl .*)$`)
	paste := func(t *testing.T, out string, env ...string) string {
		t.Helper()
		m := tryLine.FindStringSubmatch(out)
		require.NotNil(t, m, "no Try: line in the banner:\n%s", out)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", m[1])
		cmd.Env = append(os.Environ(), append(env, "NO_PROXY=*", "no_proxy=*")...)
		b, err := cmd.Output()
		require.NoError(t, err, "%s", m[1])
		return string(b)
	}

	t.Run("with the generated token", func(t *testing.T) {
		s := startRun(t, map[string]string{"DATABASE_URL": "memory:"})
		out := s.stdout.String()
		assert.NotContains(t, out, "<admin token>")
		assert.JSONEq(t, `{"channels":[]}`, paste(t, out, "ADMIN_TOKEN="))
	})
	t.Run("with ADMIN_TOKEN exported", func(t *testing.T) {
		const token = "exported-admin-token-0123456789"
		s := startRun(t, map[string]string{"DATABASE_URL": "memory:", "ADMIN_TOKEN": token})
		out := s.stdout.String()
		assert.NotContains(t, out, token, "a given token is not printed")
		assert.Contains(t, out, "with ADMIN_TOKEN exported in your shell")
		assert.JSONEq(t, `{"channels":[]}`, paste(t, out, "ADMIN_TOKEN="+token))
	})
}

func TestBannerAddressIsDialable(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "127.0.0.1:8080",
		"[::1]:8080":     "[::1]:8080",
		"0.0.0.0:8080":   "localhost:8080",
		"[::]:8080":      "localhost:8080",
		":8080":          "localhost:8080",
		"example.com:80": "example.com:80",
	} {
		assert.Equal(t, want, dialable(addr), addr)
	}
}

// gate is a proxy in front of a fake that can hold every request it
// receives until released, to catch background work in flight.
type gate struct {
	srv     *httptest.Server
	holding atomic.Bool
	arrived chan string // the path of each held request
	release chan struct{}
	once    sync.Once
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	g := &gate{arrived: make(chan string, 16), release: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(u)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.holding.Load() {
			g.arrived <- r.URL.Path
			select {
			case <-g.release:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	t.Cleanup(g.open) // before the server closes: Close waits for held requests
	return g
}

// open releases the held requests and stops holding; it may be called
// more than once.
func (g *gate) open() {
	g.once.Do(func() { close(g.release) })
}

// via returns raw (a URL on the fake) with the gate's scheme and host.
func (g *gate) via(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	gu, _ := url.Parse(g.srv.URL)
	u.Scheme, u.Host = gu.Scheme, gu.Host
	return u.String()
}

// TestRunDrainsBackgroundWorkOnShutdown: a chat.update and a
// response_url replacement in flight, and a delivery queued behind them,
// when run's context is cancelled all complete before run returns.
func TestRunDrainsBackgroundWorkOnShutdown(t *testing.T) {
	fake := notifytest.New()
	t.Cleanup(fake.Close)
	g := newGate(t, strings.TrimSuffix(fake.SlackAPIURL(), "/api/"))
	const token = "drain-admin-token-0123456789"
	s := startRun(t, map[string]string{
		"DATABASE_URL":         "memory:",
		"ADMIN_TOKEN":          token,
		"SLACK_API_URL":        g.via(t, fake.SlackAPIURL()),
		"ALLOW_INSECURE_URLS":  "1",
		"SLACK_SIGNING_SECRET": testSigning,
		"ACTION_TOKEN_SECRET":  testActionKey,
	})
	h := &testHost{url: s.base, fake: fake}
	call := func(method, path string, body any) reply { return h.call(t, method, path, token, body) }

	r := call("POST", "/v1/settings/notifications", map[string]any{
		"channel_type": "slack", "name": "Drain",
		"config": map[string]any{"bot_token": testBotToken, "channel_id": "C0DRAIN001"},
	})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = call("POST", "/v1/approvals", map[string]any{"id": "drain-a", "title": "First"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	// The dispatcher logs a delivery after recording where it landed,
	// which the click's chat.update needs.
	eventually(t, "the first approval's delivery", func() bool {
		for l := range strings.Lines(s.logs.String()) {
			if strings.Contains(l, `msg="notify: delivered"`) && strings.Contains(l, "approval_id=drain-a") && strings.Contains(l, "op=post") {
				return true
			}
		}
		return false
	})
	posts := h.requests("chat.postMessage")
	require.Len(t, posts, 1)
	ts := posts[0].TS
	_, blockID, ok := findButton(posts[0].Blocks, approveAction)
	require.True(t, ok, "no Approve button")

	// From now on the fake's answers are held: a click's response_url
	// replacement and chat.update, and a second approval's delivery.
	g.holding.Store(true)
	e := &e2eHost{testHost: h, slackChannel: "C0DRAIN001"}
	click := e.clickPayload(g.via(t, fake.ResponseURL("C0DRAIN001", ts)), ts, blockID, approveAction, "drain-a",
		map[string]any{"id": "U0DRAIN001", "name": "dora"})
	hd := http.Header{}
	slackverify.Sign(hd, click, time.Now(), testSigning)
	status, answer := e.postClick(t, hd, click)
	require.Equal(t, http.StatusOK, status, answer)
	r = call("POST", "/v1/approvals", map[string]any{"id": "drain-b", "title": "Second"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)

	// Two requests are held at the fake: the click's response_url
	// replacement, and whichever of the channel's jobs (the chat.update of
	// the first message, the second approval's post) went first; the
	// other waits behind it, as a Slack channel takes one job at a time.
	var held []string
	for len(held) < 2 {
		select {
		case p := <-g.arrived:
			held = append(held, p)
		case <-time.After(15 * time.Second):
			t.Fatalf("only %q reached the fake", held)
		}
	}
	assert.Contains(t, held, "/actions/T00000000/C0DRAIN001/"+ts)
	assert.True(t, slices.Contains(held, "/api/chat.update") || slices.Contains(held, "/api/chat.postMessage"), "held: %q", held)

	s.cancel()
	eventually(t, "run to begin shutting down", func() bool { return strings.Contains(s.logs.String(), "shutting down") })
	select {
	case <-s.done:
		t.Fatalf("run returned (%v) while background work was in flight", s.err)
	default:
	}
	g.open()
	require.NoError(t, s.stop(t))

	// Everything held completed before run returned.
	var posted []string
	for _, r := range fake.Requests() {
		if r.Method == "chat.postMessage" && r.Answer == http.StatusOK {
			for _, b := range r.Buttons {
				if b.ActionID == approveAction {
					posted = append(posted, b.Value)
				}
			}
		}
	}
	assert.Equal(t, []string{"drain-a", "drain-b"}, posted)
	var first notifytest.Message
	for _, m := range fake.Messages() {
		if m.TS == ts {
			first = m
		}
	}
	assert.ElementsMatch(t, []string{"response_url", "chat.update"}, first.Edits)
	assert.Equal(t, ":white_check_mark: *APPROVED* by dora", first.Text)
	assert.Contains(t, s.logs.String(), "stopped cleanly")
}

func TestRunFailsOnBadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"address in use or invalid", map[string]string{"ADDR": "127.0.0.1:99999"}, "invalid port"},
		{"unknown store", map[string]string{"DATABASE_URL": "mysql://root:hunter2@localhost/x"}, "DATABASE_URL must be memory:, sqlite:PATH, or a postgres:// or postgresql:// URL"},
		{"sqlite:// URL", map[string]string{"DATABASE_URL": "sqlite:///var/lib/hunter2.db"}, "write sqlite:PATH"},
		{"sqlite without a path", map[string]string{"DATABASE_URL": "sqlite:"}, "sqlite: needs a file path"},
		{"unreachable PostgreSQL", map[string]string{"DATABASE_URL": "postgres://chatnotify:hunter2@127.0.0.1:1/x?connect_timeout=5"}, "opening the PostgreSQL database of DATABASE_URL"},
		{"encryption key not 32 bytes", map[string]string{"DATABASE_URL": "sqlite::memory:", "ENCRYPTION_KEY": "c2hvcnQ="}, "ENCRYPTION_KEY must be 32 bytes, base64-encoded"},
		{"action token secret too short", map[string]string{"DATABASE_URL": "memory:", "ACTION_TOKEN_SECRET": "short"}, "ACTION_TOKEN_SECRET"},
		{"PUBLIC_URL not absolute", map[string]string{"DATABASE_URL": "memory:", "PUBLIC_URL": "chat.example.com"}, "PUBLIC_URL must be an absolute http or https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"ADDR": "127.0.0.1:0"}
			for k, v := range tc.env {
				vars[k] = v
			}
			var stdout syncbuf.Buffer
			err := run(t.Context(), loadConfig(func(k string) string { return vars[k] }), slog.New(slog.DiscardHandler), &stdout)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "hunter2", "the DATABASE_URL's password is never repeated")
			assert.Empty(t, stdout.String(), "no banner for a server that does not start")
		})
	}
}

func TestLoadConfigReadsExactlyTheDocumentedVariables(t *testing.T) {
	var asked []string
	cfg := loadConfig(func(k string) string {
		asked = append(asked, k)
		return ""
	})
	var documented []string
	for _, v := range envVars {
		documented = append(documented, v.Name)
	}
	slices.Sort(asked)
	asked = slices.Compact(asked)
	slices.Sort(documented)
	assert.Equal(t, documented, asked, "every variable loadConfig reads is in envVars, and only those")

	// The defaults envVars documents are the ones applied.
	assert.Equal(t, "127.0.0.1:8080", cfg.Addr)
	assert.Equal(t, "sqlite:chatnotify.db", cfg.DatabaseURL)
	assert.Equal(t, "https://slack.com/api/", cfg.SlackAPIURL)
	assert.False(t, cfg.AllowInsecureURLs)
	assert.False(t, cfg.Sandbox)
	assert.Empty(t, cfg.SlackSecrets)
	for _, v := range envVars {
		switch v.Name {
		case "ADDR":
			assert.Equal(t, cfg.Addr, v.Default)
		case "DATABASE_URL":
			assert.Equal(t, cfg.DatabaseURL, v.Default)
		case "SLACK_API_URL":
			assert.Equal(t, cfg.SlackAPIURL, v.Default)
		case "ALLOW_INSECURE_URLS", "SANDBOX":
			assert.Equal(t, "0", v.Default)
		}
	}

	t.Run("values are trimmed and split", func(t *testing.T) {
		cfg := loadConfig(func(k string) string {
			return map[string]string{
				"SLACK_SIGNING_SECRET": " new , old ,, ",
				"PUBLIC_URL":           "https://console.example.com/",
				"CONSOLE_URL":          "https://console.example.com/",
				"ALLOW_INSECURE_URLS":  "1",
				"SANDBOX":              "1",
			}[k]
		})
		assert.Equal(t, []string{"new", "old"}, cfg.SlackSecrets)
		assert.Equal(t, "https://console.example.com", cfg.PublicURL)
		assert.Equal(t, "https://console.example.com", cfg.ConsoleURL)
		assert.True(t, cfg.AllowInsecureURLs)
		assert.True(t, cfg.Sandbox)
	})
}

// checkUsage asserts that a usage text lists every variable of envVars
// with its default and meaning on one line.
func checkUsage(t *testing.T, text string) {
	t.Helper()
	lines := strings.Split(text, "\n")
	for _, v := range envVars {
		i := slices.IndexFunc(lines, func(l string) bool {
			f := strings.Fields(l)
			return len(f) > 0 && f[0] == v.Name
		})
		if !assert.GreaterOrEqual(t, i, 0, "%s is not listed:\n%s", v.Name, text) {
			continue
		}
		assert.Contains(t, lines[i], v.Default, v.Name)
		assert.Contains(t, lines[i], v.Help, v.Name)
	}
	assert.Contains(t, text, "-sandbox")
}

func TestUsageListsEveryVariable(t *testing.T) {
	var buf bytes.Buffer
	usage(&buf)
	checkUsage(t, buf.String())
}

// TestHelpFlag runs main with -h in a child process (this test binary)
// and checks it prints the usage and exits 0.
func TestHelpFlag(t *testing.T) {
	if os.Getenv("CHATNOTIFY_EXAMPLE_RUN_MAIN") == "1" {
		os.Args = []string{"server", "-h"}
		main()
		return
	}
	// Should -h not exit, the child would serve until killed: on a
	// loopback port with nothing on disk.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelpFlag$")
	cmd.Env = append(os.Environ(), "CHATNOTIFY_EXAMPLE_RUN_MAIN=1", "ADDR=127.0.0.1:0", "DATABASE_URL=memory:")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("server -h exited with %d:\n%s", exit.ExitCode(), stderr.String())
	}
	require.NoError(t, err)
	assert.Contains(t, stderr.String(), "Usage: server [-sandbox]")
	checkUsage(t, stderr.String())
	assert.NotContains(t, stdout.String(), "listening on", "-h does not start the server")
}

func TestREADMEListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("README.md does not exist yet (it is being written); this test checks that it lists every variable of envVars")
	}
	require.NoError(t, err)
	readme := string(b)
	for _, v := range envVars {
		assert.True(t, regexp.MustCompile(`\b`+regexp.QuoteMeta(v.Name)+`\b`).MatchString(readme),
			"README.md does not mention %s (%s, default %s)", v.Name, v.Help, v.Default)
	}
}
