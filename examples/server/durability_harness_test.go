package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/slackverify"
)

// The harness of the durability tests (durability_*_test.go): the
// example server as a real process — this test binary re-executed, its
// TestDurabilityServerProcess calling main(), configured by environment
// variables exactly as an operator would — killed with SIGKILL or
// stopped with SIGTERM and started again on the same database; the fake
// Slack and Teams of notify/notifytest behind a proxy that can hold
// every request, tells which replica sent what, and can kill a process
// the instant an answer has been handed to it. Everything is driven over
// HTTP: channels through the settings API, requests through
// POST /v1/approvals, clicks through the signed Slack interactions
// endpoint. Counts come from the fake (what the platform received), never
// from the server's own account.

// durServerEnv, set to 1, makes TestDurabilityServerProcess run main().
const durServerEnv = "CHATNOTIFY_DURABILITY_SERVER"

// TestDurabilityServerProcess is the server process of the durability
// tests: with durServerEnv=1 it runs the command's main() as `server`
// (reading its configuration from the environment) until SIGTERM. main
// exits 1 when run fails; when run returns cleanly this test passes and
// the process exits 0, which the SIGTERM tests check.
func TestDurabilityServerProcess(t *testing.T) {
	if os.Getenv(durServerEnv) != "1" {
		t.Skip("the server process of the durability tests")
	}
	os.Args = []string{"server"}
	main()
}

const (
	durAdminToken = "durability-admin-token-0123456789"
	durSlackA     = "C0DURA0001" // a Slack bot channel; the clicks are on its copies
	durSlackB     = "C0DURB0001" // a second bot channel: its copies are the "other copies"
	durTeams      = "teams"      // the Teams incoming webhook, as a destination
	durTeamsHook  = "durability"
)

// durKey is the ENCRYPTION_KEY of the durability servers: a clicked
// message's response_url is then sealed in its job.
var durKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// durID matches the approval IDs (and titles) the tests create.
var durID = regexp.MustCompile(`req-\d{3}`)

var durBanner = regexp.MustCompile(`listening on (http://\S+) \(store: `)

// durProc is one server process.
type durProc struct {
	name   string
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	stdout syncbuf.Buffer
	stderr syncbuf.Buffer
	done   chan struct{} // closed once the process has exited
	code   int           // exit code, once done (-1: killed by a signal)

	mu       sync.Mutex
	killedAt time.Time // when SIGKILL was sent
}

// exited reports whether the process has exited.
func (p *durProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig; it is a no-op once the process has exited.
func (p *durProc) signal(sig syscall.Signal) {
	if p.exited() {
		return
	}
	if sig == syscall.SIGKILL {
		p.mu.Lock()
		if p.killedAt.IsZero() {
			p.killedAt = time.Now()
		}
		p.mu.Unlock()
	}
	_ = p.cmd.Process.Signal(sig)
}

// killTime returns when the process was sent SIGKILL (zero if never).
func (p *durProc) killTime() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killedAt
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *durProc) kill(t *testing.T) {
	t.Helper()
	p.signal(syscall.SIGKILL)
	p.wait(t, 30*time.Second)
}

// wait waits for the process to exit and returns its exit code.
func (p *durProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s\n%s", p.name, timeout, durTail(p.stderr.String(), 30))
		return 0
	}
}

// logLines returns the lines of the process's log containing every one
// of subs.
func (p *durProc) logLines(subs ...string) []string {
	var out []string
	for l := range strings.Lines(p.stderr.String()) {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

func durTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// durCluster is one database, a fake platform behind a proxy, and the
// server processes started on them.
type durCluster struct {
	t     *testing.T
	dsn   string
	env   map[string]string // added to every process's environment
	fake  *notifytest.Server
	proxy *durProxy
	http  *http.Client

	mu        sync.Mutex
	procs     []*durProc
	n         int
	db        *sql.DB // the store's database, read by openJobs
	jobsTable string
}

// newDurCluster prepares a cluster on the database dsn (a DATABASE_URL);
// env adds variables to every server's environment.
func newDurCluster(t *testing.T, dsn string, env map[string]string) *durCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts server processes")
	}
	fake := notifytest.New()
	t.Cleanup(fake.Close)
	c := &durCluster{t: t, dsn: dsn, env: env, fake: fake, proxy: newDurProxy(t, fake),
		http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(func() {
		c.mu.Lock()
		procs := slices.Clone(c.procs)
		c.mu.Unlock()
		dir := os.Getenv("DURABILITY_LOG_DIR") // to keep every server's log
		for i, p := range procs {
			if !p.exited() {
				p.signal(syscall.SIGKILL)
				<-p.done
			}
			if dir != "" {
				name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + fmt.Sprintf("-%d.log", i+1)
				_ = os.WriteFile(filepath.Join(dir, name), []byte(p.stderr.String()), 0o644)
			}
			if t.Failed() {
				t.Logf("--- %s (exit code %d), last log lines:\n%s", p.name, p.code, durTail(p.stderr.String(), 25))
			}
		}
	})
	return c
}

// start starts a server process as replica r (1, 2, …): its Slack Web
// API calls go through the proxy under /r<r>/, so that the proxy knows
// which replica made each one. It returns once the server listens.
func (c *durCluster) start(r int) *durProc {
	t := c.t
	t.Helper()
	c.mu.Lock()
	c.n++
	name := fmt.Sprintf("replica %d (process %d)", r, c.n)
	c.mu.Unlock()
	env := map[string]string{
		durServerEnv:           "1",
		"ADDR":                 "127.0.0.1:0",
		"DATABASE_URL":         c.dsn,
		"ADMIN_TOKEN":          durAdminToken,
		"SLACK_API_URL":        fmt.Sprintf("%s/r%d/api/", c.proxy.srv.URL, r),
		"SLACK_SIGNING_SECRET": testSigning,
		"ACTION_TOKEN_SECRET":  testActionKey,
		"ENCRYPTION_KEY":       durKey,
		"ALLOW_INSECURE_URLS":  "1",
	}
	for k, v := range c.env {
		env[k] = v
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityServerProcess$", "-test.count=1", "-test.timeout=15m")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &durProc{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()

	deadline := time.Now().Add(90 * time.Second)
	for {
		if m := durBanner.FindStringSubmatch(p.stdout.String()); m != nil {
			p.base = m[1]
			return p
		}
		if p.exited() {
			t.Fatalf("%s exited (code %d) before listening\n%s", name, p.code, durTail(p.stderr.String(), 30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening after 90 s\n%s", name, durTail(p.stderr.String(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call sends body (if not nil) as JSON to p with the admin token.
func (c *durCluster) call(p *durProc, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+durAdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// mustCall is call, failing the test on a transport error or a status
// other than want.
func (c *durCluster) mustCall(p *durProc, method, path string, body any, want int) []byte {
	c.t.Helper()
	status, b, err := c.call(p, method, path, body)
	require.NoError(c.t, err, "%s %s", method, path)
	require.Equal(c.t, want, status, "%s %s: %s", method, path, b)
	return b
}

// channels creates, through p's settings API, the given destinations:
// durSlackA and durSlackB (Slack bot channels) and durTeams (a Teams
// incoming webhook), all through the proxy.
func (c *durCluster) channels(p *durProc, dests ...string) {
	c.t.Helper()
	for _, d := range dests {
		body := map[string]any{"channel_type": "slack", "name": "Durable " + d,
			"config": map[string]any{"bot_token": testBotToken, "channel_id": d}}
		if d == durTeams {
			body = map[string]any{"channel_type": "teams", "name": "Durable Teams",
				"config": map[string]any{"webhook_url": c.proxy.via(c.fake.TeamsWebhookURL(durTeamsHook))}}
		}
		c.mustCall(p, "POST", "/v1/settings/notifications", body, http.StatusCreated)
	}
}

// create raises the approval request id (also its title) through p and
// returns the status of the answer.
func (c *durCluster) create(p *durProc, id string, expiresIn int) (int, error) {
	body := map[string]any{"id": id, "title": id, "description": "durability test " + id, "risk_score": 60}
	if expiresIn > 0 {
		body["expires_in_seconds"] = expiresIn
	}
	status, b, err := c.call(p, "POST", "/v1/approvals", body)
	if err == nil && status != http.StatusCreated {
		err = fmt.Errorf("creating %s: %d %s", id, status, b)
	}
	return status, err
}

// createAll raises n requests req-000 … through p (or, when ps has
// several, through each in turn) and fails unless every one is created.
func (c *durCluster) createAll(n int, expiresIn int, ps ...*durProc) []string {
	c.t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("req-%03d", i)
		_, err := c.create(ps[i%len(ps)], ids[i], expiresIn)
		require.NoError(c.t, err)
	}
	return ids
}

// approval reads a request through p.
func (c *durCluster) approval(p *durProc, id string) approval.Request {
	c.t.Helper()
	var r approval.Request
	require.NoError(c.t, json.Unmarshal(c.mustCall(p, "GET", "/v1/approvals/"+id, nil, http.StatusOK), &r))
	return r
}

// audit reads the audit entries of request id through p.
func (c *durCluster) audit(p *durProc, id string) []approval.AuditEntry {
	c.t.Helper()
	var out struct {
		Entries []approval.AuditEntry `json:"entries"`
	}
	require.NoError(c.t, json.Unmarshal(c.mustCall(p, "GET", "/v1/audit?approval_id="+id, nil, http.StatusOK), &out))
	return out.Entries
}

// click sends, signed with the app's signing secret, what Slack sends
// when user clicks Approve on the copy cp of request id in durSlackA,
// and returns the answer.
func (c *durCluster) click(p *durProc, id string, cp durCopy, user string) (int, string, error) {
	now := time.Now()
	payload := map[string]any{
		"type": "block_actions",
		"team": map[string]any{"id": "T0DURABLE", "domain": "example"},
		"user": map[string]any{"id": "U" + strings.ToUpper(user), "username": user, "name": user, "team_id": "T0DURABLE"},
		"container": map[string]any{
			"type": "message", "message_ts": cp.TS, "channel_id": durSlackA, "is_ephemeral": false,
		},
		"api_app_id": "A0DURABLE",
		"trigger_id": fmt.Sprintf("%d.1.durable", now.UnixNano()),
		"channel":    map[string]any{"id": durSlackA, "name": "durable-a"},
		"message":    map[string]any{"type": "message", "text": "Approval requested", "ts": cp.TS},
		// Through the proxy, like every other call to the platform.
		"response_url": c.proxy.via(c.fake.ResponseURL(durSlackA, cp.TS)),
		"actions": []any{map[string]any{
			"type": "button", "action_id": approveAction, "block_id": cp.BlockID, "value": id,
			"text":      map[string]any{"type": "plain_text", "text": "Approve"},
			"action_ts": fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000),
		}},
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return 0, "", err
	}
	body := []byte("payload=" + url.QueryEscape(string(b)))
	req, err := http.NewRequest("POST", p.base+approval.SlackInteractionsPath, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	slackverify.Sign(req.Header, body, now, testSigning)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer), err
}

// durCopy is a Slack copy of a request: the message and the block of its
// buttons.
type durCopy struct {
	TS, BlockID string
}

// durTally is what the fake platform received, successfully, by request.
type durTally struct {
	// posts counts, by request and destination (a Slack channel ID or
	// durTeams), the messages posted: the request's copies.
	posts map[string]map[string]int
	// slack is each request's first copy per Slack channel.
	slack map[string]map[string]durCopy
	// updates and replaces count, by Slack message ("channel ts"), its
	// chat.updates and its response_url replacements.
	updates, replaces map[string]int
	// results counts, by request, the Teams result cards.
	results map[string]int
	// ephemerals counts the response_url messages shown only to a
	// clicker (the "Already approved" answers).
	ephemerals int
	// postTimes are the fake's timestamps of the posts, by destination,
	// and by request and destination ("id@dest").
	postTimes map[string][]time.Time
	postsAt   map[string][]time.Time
	// resultsAt are the fake's timestamps of each request's result cards.
	resultsAt map[string][]time.Time
	// text is the current text of each Slack message ("channel ts").
	text map[string]string
}

func (c *durCluster) tally() durTally {
	t := durTally{posts: map[string]map[string]int{}, slack: map[string]map[string]durCopy{},
		updates: map[string]int{}, replaces: map[string]int{}, results: map[string]int{},
		postTimes: map[string][]time.Time{}, postsAt: map[string][]time.Time{}, resultsAt: map[string][]time.Time{}, text: map[string]string{}}
	post := func(id, dest string, at time.Time) {
		if t.posts[id] == nil {
			t.posts[id] = map[string]int{}
		}
		t.posts[id][dest]++
		t.postTimes[dest] = append(t.postTimes[dest], at)
		t.postsAt[id+"@"+dest] = append(t.postsAt[id+"@"+dest], at)
	}
	for _, r := range c.fake.Requests() {
		switch {
		case r.Method == "chat.postMessage" && r.Answer == http.StatusOK && r.Error == "":
			id := durID.FindString(r.AllText)
			if _, blockID, ok := findButton(r.Blocks, approveAction); ok {
				if t.slack[id] == nil {
					t.slack[id] = map[string]durCopy{}
				}
				if _, seen := t.slack[id][r.Channel]; !seen {
					t.slack[id][r.Channel] = durCopy{TS: r.TS, BlockID: blockID}
				}
			}
			post(id, r.Channel, r.Received)
		case r.Method == "chat.update" && r.Answer == http.StatusOK && r.Error == "":
			t.updates[r.Channel+" "+r.TS]++
		case r.Method == "response_url" && r.Answer == http.StatusOK:
			if r.ReplaceOriginal {
				t.replaces[r.Channel+" "+r.TS]++
			} else {
				t.ephemerals++
			}
		case r.Method == "teams" && r.Answer == http.StatusOK:
			id := durID.FindString(r.AllText)
			if len(r.Buttons) > 0 {
				post(id, durTeams, r.Received)
			} else {
				t.results[id]++
				t.resultsAt[id] = append(t.resultsAt[id], r.Received)
			}
		}
	}
	for _, m := range c.fake.Messages() {
		if m.TS != "" {
			t.text[m.Channel+" "+m.TS] = m.Text
		}
	}
	return t
}

// missing returns the requests of ids lacking a copy in one of dests.
func (t durTally) missing(ids []string, dests []string) []string {
	var out []string
	for _, id := range ids {
		for _, d := range dests {
			if t.posts[id][d] == 0 {
				out = append(out, id+"@"+d)
			}
		}
	}
	return out
}

// delivered counts the requests of ids with a copy in every one of dests.
func (t durTally) delivered(ids []string, dests []string) int {
	n := 0
	for _, id := range ids {
		ok := true
		for _, d := range dests {
			ok = ok && t.posts[id][d] > 0
		}
		if ok {
			n++
		}
	}
	return n
}

// postCount is every successful post to dests.
func (t durTally) postCount(dests ...string) int {
	n := 0
	for _, byDest := range t.posts {
		for _, d := range dests {
			n += byDest[d]
		}
	}
	return n
}

// duplicatePosts is the number of posts beyond the first of each request
// in each destination, and a description of them.
func (t durTally) duplicatePosts() (int, []string) {
	n := 0
	var what []string
	for id, byDest := range t.posts {
		for d, k := range byDest {
			if k > 1 {
				n += k - 1
				what = append(what, fmt.Sprintf("%s@%s×%d", id, d, k))
			}
		}
	}
	sort.Strings(what)
	return n, what
}

// decidedCopies checks, for each decided request of ids, that each of
// its copies shows the decision: its durSlackA copy (the clicked one)
// replaced or updated, its durSlackB copy updated, a Teams result card.
// It returns what is not up to date and the operations on one copy
// beyond the first of their kind: dups, the Teams result cards posted
// again (a message seen twice), and resent, the chat.updates and
// response_url replacements made again (the message rewritten with the
// same content: nothing new is seen).
func (t durTally) decidedCopies(ids []string, word string) (stale []string, dups, resent int, dupWhat []string) {
	for _, id := range ids {
		a, b := t.slack[id][durSlackA], t.slack[id][durSlackB]
		ka, kb := durSlackA+" "+a.TS, durSlackB+" "+b.TS
		if a.TS == "" || t.updates[ka]+t.replaces[ka] == 0 || !strings.Contains(t.text[ka], word) {
			stale = append(stale, id+"@"+durSlackA)
		}
		if b.TS == "" || t.updates[kb] == 0 || !strings.Contains(t.text[kb], word) {
			stale = append(stale, id+"@"+durSlackB)
		}
		if t.results[id] == 0 {
			stale = append(stale, id+"@"+durTeams)
		}
		for what, k := range map[string]int{
			id + " update@" + durSlackA: t.updates[ka], id + " replace@" + durSlackA: t.replaces[ka],
			id + " update@" + durSlackB: t.updates[kb], id + " result@" + durTeams: t.results[id],
		} {
			if k > 1 {
				if strings.Contains(what, " result@") {
					dups += k - 1
				} else {
					resent += k - 1
				}
				dupWhat = append(dupWhat, fmt.Sprintf("%s×%d", what, k))
			}
		}
	}
	sort.Strings(dupWhat)
	return stale, dups, resent, dupWhat
}

// durDup is a message the platform received more than once: a post of
// a request to a destination, or a Teams result card.
type durDup struct {
	Key   string // "req-005@C0DURA0001", "req-018@teams (result card)"
	Dest  string
	Times []time.Time // when the platform received each
	// Committed counts the killed processes' log lines saying it was
	// delivered, which they write once its job's completion is committed.
	Committed int
}

// dupMessages returns the messages the platform received more than once.
func (t durTally) dupMessages(killed ...*durProc) []durDup {
	var out []durDup
	add := func(key, id, dest, op string, times []time.Time) {
		if len(times) < 2 {
			return
		}
		match := `channel_name="Durable ` + dest + `"`
		if dest == durTeams {
			match = "channel_type=teams"
		}
		d := durDup{Key: key, Dest: dest, Times: times}
		for _, p := range killed {
			d.Committed += len(p.logLines(`msg="notify: delivered"`, "op="+op+" ", match, "approval_id="+id))
		}
		out = append(out, d)
	}
	for key, times := range t.postsAt {
		id, dest, _ := strings.Cut(key, "@")
		add(key, id, dest, "post", times)
	}
	for id, times := range t.resultsAt {
		add(id+"@"+durTeams+" (result card)", id, durTeams, "follow_up", times)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// describe describes d, its times relative to the kill that followed
// its first copy.
func (d durDup) describe(killed []*durProc) string {
	k := killAfter(d.Times[0], killed)
	var rel []string
	for _, at := range d.Times {
		if k.IsZero() {
			rel = append(rel, at.Format("15:04:05.000"))
		} else {
			rel = append(rel, fmt.Sprintf("%+dms", at.Sub(k).Milliseconds()))
		}
	}
	return fmt.Sprintf("%s received %d× (at %s of the kill), committed by the killed process %d×",
		d.Key, len(d.Times), strings.Join(rel, ", "), d.Committed)
}

// killAfter returns the first SIGKILL of killed sent after at − 1 s:
// the death of the process that sent a message the platform received at
// at (it records a message it answers slowly a little after the signal,
// as the process dies), or the zero time.
func killAfter(at time.Time, killed []*durProc) time.Time {
	var best time.Time
	for _, p := range killed {
		if k := p.killTime(); !k.IsZero() && k.After(at.Add(-time.Second)) && (best.IsZero() || k.Before(best)) {
			best = k
		}
	}
	return best
}

// durDelivered matches the dispatcher's log line of a delivered post or
// Teams follow-up, which it writes once the job's completion (and the
// copy) is committed.
var durDelivered = regexp.MustCompile(`^time=(\S+) level=INFO msg="notify: delivered" .*channel_name="([^"]*)" channel_type=(\w+) .*op=(post|follow_up) .*approval_id=(req-\d{3})`)

// commitLag measures, for the posts of the cluster's processes, the time
// from the platform's answer to the commit of the job's completion (the
// "delivered" log line): the window in which a kill makes the message go
// out twice. It returns the median, the largest, and how many were
// measured.
func (c *durCluster) commitLag(tl durTally) (p50, worst time.Duration, n int) {
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	c.mu.Unlock()
	var lags []time.Duration
	for _, p := range procs {
		for l := range strings.Lines(p.stderr.String()) {
			m := durDelivered.FindStringSubmatch(l)
			if m == nil || m[4] != "post" {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				continue
			}
			dest := strings.TrimPrefix(m[2], "Durable ")
			if m[3] == "teams" {
				dest = durTeams
			}
			// The copy this process made: the last one the platform
			// received before the line.
			var answered time.Time
			for _, r := range tl.postsAt[m[5]+"@"+dest] {
				if !r.After(at) {
					answered = r
				}
			}
			if !answered.IsZero() {
				lags = append(lags, at.Sub(answered))
			}
		}
	}
	if len(lags) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lags)
	return lags[len(lags)/2], lags[len(lags)-1], len(lags)
}

// minGaps returns, for each destination, the smallest time between two
// consecutive posts the platform received.
func (t durTally) minGaps() map[string]string {
	out := map[string]string{}
	for dest, times := range t.postTimes {
		times = slices.Clone(times)
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		gap := time.Duration(-1)
		for i := 1; i < len(times); i++ {
			if d := times[i].Sub(times[i-1]); gap < 0 || d < gap {
				gap = d
			}
		}
		if gap >= 0 {
			out[dest] = fmt.Sprintf("%dms", gap.Milliseconds())
		}
	}
	return out
}

// durWait polls cond every 100 ms until it holds or timeout has passed,
// and reports whether it held and how long it took. It never fails the
// test: the caller asserts the counts.
func durWait(timeout time.Duration, cond func() bool) (bool, time.Duration) {
	start := time.Now()
	for {
		if cond() {
			return true, time.Since(start)
		}
		if time.Since(start) > timeout {
			return false, time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// await waits until done holds and no job is left, and returns how long
// it took. It gives up at timeout, or once no job is left and the
// platform has received nothing for 10 s although done does not hold:
// then nothing more is coming (a server without the durable queue). It
// never fails the test: the caller asserts the counts.
func (c *durCluster) await(timeout time.Duration, done func() bool) time.Duration {
	start := time.Now()
	seen, since := -1, time.Now()
	for time.Since(start) < timeout {
		if done() && c.quiet() {
			break
		}
		if n := len(c.fake.Requests()); n != seen {
			seen, since = n, time.Now()
		} else if time.Since(since) > 10*time.Second && c.quiet() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// durProxy forwards everything to the fake. It can hold every request
// (until released, or until its sender is gone), records who sent what
// and when, and calls onAnswer right after an answer has been written
// back and flushed to the server.
type durProxy struct {
	srv  *httptest.Server
	fake *url.URL

	mu       sync.Mutex
	holding  bool
	release  chan struct{}
	held     map[string]int // destination → requests held (arrived while holding)
	sent     []durSent
	onAnswer func(durSent)
}

// durSent is one request the proxy forwarded and its answer.
type durSent struct {
	Replica string // "r1", "r2"; "" for webhook and response_url calls
	Dest    string // the Slack channel ID, durTeams, or "response_url"
	Method  string // chat.postMessage, chat.update, teams, response_url
	At      time.Time
	Status  int
}

func newDurProxy(t *testing.T, fake *notifytest.Server) *durProxy {
	t.Helper()
	u, err := url.Parse(strings.TrimSuffix(fake.SlackAPIURL(), "/api/"))
	require.NoError(t, err)
	p := &durProxy{fake: u, held: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		w.WriteHeader(http.StatusBadGateway)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := durSent{}
		if rest, ok := strings.CutPrefix(r.URL.Path, "/r"); ok {
			if i := strings.IndexByte(rest, '/'); i > 0 {
				s.Replica = "r" + rest[:i]
				r.URL.Path = rest[i:]
			}
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/"):
			s.Method = strings.TrimPrefix(r.URL.Path, "/api/")
			form, _ := url.ParseQuery(string(body))
			s.Dest = form.Get("channel")
		case strings.HasPrefix(r.URL.Path, "/actions/"):
			s.Method, s.Dest = "response_url", "response_url"
		default:
			s.Method, s.Dest = "teams", durTeams
		}
		p.mu.Lock()
		hold, release := p.holding, p.release
		if hold {
			p.held[s.Dest]++
		}
		p.mu.Unlock()
		if hold {
			select {
			case <-release:
			case <-r.Context().Done():
				return // the sender is gone: the platform never saw it
			}
		}
		rec := &durRecorder{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(rec, r)
		rec.Flush()
		s.At, s.Status = time.Now(), rec.status
		p.mu.Lock()
		p.sent = append(p.sent, s)
		hook := p.onAnswer
		p.mu.Unlock()
		if hook != nil {
			hook(s)
		}
	}))
	t.Cleanup(p.srv.Close)
	t.Cleanup(p.unhold) // before the server closes: Close waits for held requests
	return p
}

// via returns raw, a URL on the fake, on the proxy.
func (p *durProxy) via(raw string) string {
	u, _ := url.Parse(raw)
	pu, _ := url.Parse(p.srv.URL)
	u.Scheme, u.Host = pu.Scheme, pu.Host
	return u.String()
}

// hold makes the proxy hold every request from now on.
func (p *durProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.holding {
		p.holding, p.release = true, make(chan struct{})
	}
}

// unhold lets held requests go on and stops holding.
func (p *durProxy) unhold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holding {
		p.holding = false
		close(p.release)
	}
}

// heldAt returns how many requests to dest were held.
func (p *durProxy) heldAt(dest string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held[dest]
}

// setOnAnswer sets the hook called after each answer.
func (p *durProxy) setOnAnswer(f func(durSent)) {
	p.mu.Lock()
	p.onAnswer = f
	p.mu.Unlock()
}

// sentOK returns the forwarded requests of method to dest that the fake
// answered with status 200.
func (p *durProxy) sentOK(method, dest string) []durSent {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []durSent
	for _, s := range p.sent {
		if s.Method == method && s.Dest == dest && s.Status == http.StatusOK {
			out = append(out, s)
		}
	}
	return out
}

type durRecorder struct {
	http.ResponseWriter
	status int
}

func (r *durRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *durRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// openJobs returns the chatnotify jobs not yet finished in the cluster's
// River tables (available, scheduled or snoozed, running, retryable), by
// state and kind; ok is false when they cannot be read (no River tables:
// a server without the durable queue).
func (c *durCluster) openJobs() (jobs map[string]int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == nil {
		driver, dsn, table := "pgx", c.dsn, "chatnotify_river.river_job"
		if path, isSQLite := strings.CutPrefix(c.dsn, "sqlite:"); isSQLite {
			driver, dsn, table = "sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)", "river_job"
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			return nil, false
		}
		db.SetMaxOpenConns(1)
		c.db, c.jobsTable = db, table
		c.t.Cleanup(func() { db.Close() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.db.QueryContext(ctx, `SELECT state, kind, count(*) FROM `+c.jobsTable+`
		WHERE state NOT IN ('completed', 'cancelled', 'discarded') GROUP BY state, kind`)
	if err != nil {
		return nil, false
	}
	defer rows.Close()
	jobs = map[string]int{}
	for rows.Next() {
		var state, kind string
		var n int
		if rows.Scan(&state, &kind, &n) != nil {
			return nil, false
		}
		jobs[state+" "+strings.TrimPrefix(kind, "chatnotify.")] = n
	}
	return jobs, rows.Err() == nil
}

// finishedJobs counts the chatnotify jobs in a final state, by state and
// kind (cancelled ones are permanent failures).
func (c *durCluster) finishedJobs() map[string]int {
	c.openJobs() // opens the database
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	if c.db == nil {
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.db.QueryContext(ctx, `SELECT state, kind, count(*) FROM `+c.jobsTable+`
		WHERE state IN ('completed', 'cancelled', 'discarded') GROUP BY state, kind`)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var state, kind string
		var n int
		if rows.Scan(&state, &kind, &n) == nil {
			out[state+" "+strings.TrimPrefix(kind, "chatnotify.")] = n
		}
	}
	return out
}

// quiet reports whether no chatnotify job is left to run (true as well
// when the jobs cannot be read).
func (c *durCluster) quiet() bool {
	jobs, ok := c.openJobs()
	return !ok || len(jobs) == 0
}
