package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/riverqueue"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// The crash tests run the test binary again as a "server" process (see
// TestCrashHelper) on one SQLite file, kill it while deliveries are in
// flight, start another, and count what the fake Slack received.

const (
	crashEnvMode = "CHATNOTIFY_CRASH_MODE" // "create" or "serve"; unset in the parent
	crashEnvDB   = "CHATNOTIFY_CRASH_DB"
	crashEnvURL  = "CHATNOTIFY_CRASH_SLACK_URL"
	crashN       = 40
	// crashWorkers is the jobs the child works at once: one, so the kill
	// lands while a post is in flight and at most one answered post can
	// lack its recorded completion (the bound on duplicates per kill).
	crashWorkers = 1
)

var crashKey = []byte("0123456789abcdef0123456789abcdef")

var crashTitle = regexp.MustCompile(`crash-\d{2}`)

// TestCrashHelper is the child process; it does nothing in a normal run.
func TestCrashHelper(t *testing.T) {
	mode := os.Getenv(crashEnvMode)
	if mode == "" {
		t.Skip("the crash tests' child process")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	st, err := Open(context.Background(), os.Getenv(crashEnvDB), &Options{SecretKey: crashKey,
		queue: riverqueue.Config{MaxWorkers: crashWorkers, RetryBase: 200 * time.Millisecond, RetryCap: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := notify.NewSender(&notify.SenderOptions{SlackAPIURL: os.Getenv(crashEnvURL), AllowLoopbackURLs: true})
	if err != nil {
		t.Fatal(err)
	}
	d, err := notify.NewDispatcher(st, sender, &notify.DispatcherOptions{Durable: true, DisableRateLimit: true})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := approval.NewService(st, st, &approval.Options{FollowUp: d.FollowUp})
	if err != nil {
		t.Fatal(err)
	}
	if mode == "create" {
		for i := range crashN {
			req, err := svc.Create(ctx, approval.Request{OrgID: "acme", Title: fmt.Sprintf("crash-%02d", i), RiskScore: 50})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("CREATED %s %s\n", req.ID, req.Title)
		}
	}
	fmt.Println("SERVING")
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := d.Close(cctx); err != nil {
		t.Error("closing the dispatcher:", err)
	}
	if err := st.Close(); err != nil {
		t.Error("closing the store:", err)
	}
}

// child is a running TestCrashHelper process.
type child struct {
	cmd     *exec.Cmd
	lines   chan string
	stderr  *bytes.Buffer
	done    chan struct{}
	waitErr error
}

func startChild(t *testing.T, mode, db, url string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvMode+"="+mode, crashEnvDB+"="+db, crashEnvURL+"="+url)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	c := &child{cmd: cmd, lines: make(chan string, 1000), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: c.stderr}
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// waitLines waits for n lines starting with prefix.
func (c *child) waitLines(t *testing.T, prefix string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	got := 0
	for got < n {
		select {
		case l, ok := <-c.lines:
			if !ok {
				<-c.done
				t.Fatalf("the child exited after %d of %d %q lines: %v\n%s", got, n, prefix, c.waitErr, c.stderr)
			}
			if strings.HasPrefix(l, prefix) {
				got++
			}
		case <-deadline:
			t.Fatalf("%d of %d %q lines in %s\n%s", got, n, prefix, timeout, c.stderr)
		}
	}
}

// exit waits for the child to end and returns its exit code.
func (c *child) exit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	go func() {
		for range c.lines { // drain
		}
	}()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("the child did not exit in %s\n%s", timeout, c.stderr)
	}
	return c.cmd.ProcessState.ExitCode()
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// delivered counts the fake's accepted chat.postMessage calls per title.
func delivered(fake *notifytest.Server) (perTitle map[string]int, total int) {
	perTitle = map[string]int{}
	for _, r := range fake.Requests() {
		if r.Method != "chat.postMessage" || r.Answer != 200 || r.Error != "" {
			continue
		}
		total++
		if m := crashTitle.FindString(r.AllText); m != "" {
			perTitle[m]++
		}
	}
	return perTitle, total
}

func TestCrashSIGKILL(t *testing.T) { testCrash(t, syscall.SIGKILL) }
func TestCrashSIGTERM(t *testing.T) { testCrash(t, syscall.SIGTERM) }

func testCrash(t *testing.T, sig syscall.Signal) {
	if os.Getenv(crashEnvMode) != "" {
		t.Skip("in the child")
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	fake := notifytest.New()
	defer fake.Close()
	fake.SetLatency(100 * time.Millisecond)
	db := filepath.Join(t.TempDir(), "crash.db")

	// The parent creates the channel, then closes the store.
	st, err := Open(t.Context(), db, &Options{SecretKey: crashKey})
	require.NoError(t, err)
	_, err = st.CreateChannel(t.Context(), notify.Channel{OrgID: "acme", Type: notify.Slack, Name: "sec", Enabled: true,
		Config: notify.ChannelConfig{BotToken: "xoxb-test", ChannelID: "C1"}})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	first := startChild(t, "create", db, fake.SlackAPIURL())
	first.waitLines(t, "CREATED ", crashN, 30*time.Second)
	// Wait for a quarter of the posts, then signal the child at once:
	// the post just answered may not have its completion committed yet
	// (the window for a duplicate), and the next one is on its way.
	deadline := time.Now().Add(20 * time.Second)
	var before int
	for {
		_, before = delivered(fake)
		if before >= crashN/4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	require.GreaterOrEqual(t, before, crashN/4, "posts within 20 s\n%s", first.stderr)
	require.Less(t, before, crashN, "every post was made before the signal: nothing to test")
	if sig == syscall.SIGTERM {
		// Land inside the next post's 100 ms: Stop must let it finish.
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, first.cmd.Process.Signal(sig))
	code := first.exit(t, 20*time.Second)
	if sig == syscall.SIGTERM {
		require.Equal(t, 0, code, "the first child's exit after SIGTERM\n%s", first.stderr)
	}
	_, atStop := delivered(fake)
	t.Logf("%s: %d posts seen when signalled, %d when the first child had exited (code %d)", sig, before, atStop, code)

	restart := time.Now()
	second := startChild(t, "serve", db, fake.SlackAPIURL())
	deadline = restart.Add(60 * time.Second)
	var per map[string]int
	for {
		per, _ = delivered(fake)
		if len(per) == crashN || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	full := time.Since(restart)
	require.Len(t, per, crashN, "requests delivered at least once, 60 s after the restart\n%s", second.stderr)
	// Let any duplicate still in flight arrive before counting.
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, second.exit(t, 20*time.Second), "the second child's exit after SIGTERM\n%s", second.stderr)

	per, total := delivered(fake)
	require.Len(t, per, crashN, "zero lost")
	dups := total - crashN
	for title, n := range per {
		if n > 1 {
			t.Logf("%s posted %d times", title, n)
		}
	}
	t.Logf("%s: delivered before the signal %d (at exit %d), after the restart %d, duplicates %d, full delivery %.2fs after the restart",
		sig, before, atStop, total-atStop, dups, full.Seconds())
	require.LessOrEqual(t, dups, 1, "duplicates beyond one per kill")
	if sig == syscall.SIGTERM {
		require.Equal(t, 0, dups, "a clean stop duplicates nothing")
	}
}
