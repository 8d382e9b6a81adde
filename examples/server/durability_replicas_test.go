package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/pgtest"
)

// Two replicas of the example server, two processes on one PostgreSQL
// database: concurrent clicks split across them decide once; their posts
// to one Slack channel share its rate limit; an expiry updates each copy
// once. Counts come from the fake platform, and from the proxy for which
// replica made a Slack Web API call.

func TestDurabilityReplicas(t *testing.T) {
	t.Parallel()
	durRunAll(t, map[string]func(t *testing.T){
		"40 clicks split across two replicas": durReplicaClicks,
		"30 posts to one channel from both":   durReplicaRate,
		"expired requests":                    durReplicaExpiry,
	})
}

// durReplicas starts two replicas on a new PostgreSQL database, with the
// channels dests created through the first.
func durReplicas(t *testing.T, env map[string]string, dests ...string) (*durCluster, *durProc, *durProc) {
	t.Helper()
	c := newDurCluster(t, pgtest.NewDatabase(t), env)
	r1 := c.start(1)
	c.channels(r1, dests...)
	r2 := c.start(2)
	return c, r1, r2
}

// byReplica counts the proxy's successful Slack calls of method to dest
// by the replica that made them.
func byReplica(c *durCluster, method, dest string) map[string]int {
	out := map[string]int{}
	for _, s := range c.proxy.sentOK(method, dest) {
		out[s.Replica]++
	}
	return out
}

// durReplicaClicks: one request posted to two Slack channels and Teams;
// 40 people click Approve on its copy at once, half through each
// replica: one decision, one audit entry, one update of each copy.
func durReplicaClicks(t *testing.T) {
	c, r1, r2 := durReplicas(t, nil, durAll...)
	ids := c.createAll(1, 0, r1)
	id := ids[0]
	c.await(60*time.Second, func() bool { return len(c.tally().missing(ids, durAll)) == 0 })
	require.Empty(t, c.tally().missing(ids, durAll), "the request was not posted everywhere")
	cp := c.tally().slack[id][durSlackA]

	const clicks = 40
	type answer struct {
		replica string
		status  int
		text    string
		err     error
	}
	answers := make([]answer, clicks)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range clicks {
		p, name := r1, "r1"
		if i%2 == 1 {
			p, name = r2, "r2"
		}
		wg.Go(func() {
			<-gate
			status, text, err := c.click(p, id, cp, fmt.Sprintf("clicker%02d", i))
			answers[i] = answer{name, status, text, err}
		})
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	took := time.Since(start)

	decisions, already, other := 0, 0, 0
	decidedBy := ""
	for _, a := range answers {
		switch {
		case a.err != nil || a.status != http.StatusOK:
			other++
			t.Logf("click through %s: %d %v %.100s", a.replica, a.status, a.err, a.text)
		case strings.Contains(a.text, "*APPROVED* by"):
			decisions++
			decidedBy = a.replica
		case strings.Contains(a.text, "Already approved"):
			already++
		default:
			other++
			t.Logf("click through %s answered %.100s", a.replica, a.text)
		}
	}
	kb := durSlackB + " " + c.tally().slack[id][durSlackB].TS
	ka := durSlackA + " " + cp.TS
	c.await(60*time.Second, func() bool {
		tl := c.tally()
		return tl.updates[kb] > 0 && tl.results[id] > 0 && tl.updates[ka]+tl.replaces[ka] > 0
	})
	time.Sleep(2 * time.Second) // any second update would come now
	c.await(30*time.Second, func() bool { return true })

	tl := c.tally()
	got := c.approval(r2, id)
	audit := c.audit(r1, id)
	t.Logf("%d clicks in %.2fs (20 through each replica): %d answered with the decision (through %s), %d \"Already approved\", %d other; "+
		"status %s by %s; audit entries %d; %s copy: %d response_url replacement, %d chat.update; %s copy: %d chat.update; "+
		"Teams result cards %d; ephemeral warnings %d; chat.updates by replica %v",
		clicks, took.Seconds(), decisions, decidedBy, already, other, got.Status, got.ReviewedBy, len(audit),
		durSlackA, tl.replaces[ka], tl.updates[ka], durSlackB, tl.updates[kb], tl.results[id], tl.ephemerals,
		mergeCounts(byReplica(c, "chat.update", durSlackA), byReplica(c, "chat.update", durSlackB)))
	assert.Equal(t, 1, decisions, "clicks answered with the decision")
	assert.Equal(t, clicks-1, already, "clicks answered \"Already approved\"")
	assert.Equal(t, approval.StatusApproved, got.Status)
	assert.Len(t, audit, 1, "audit entries")
	assert.Equal(t, 1, tl.replaces[ka], "response_url replacements of the clicked copy")
	assert.Equal(t, 1, tl.updates[ka], "chat.updates of the clicked copy")
	assert.Equal(t, 1, tl.updates[kb], "chat.updates of the other Slack copy")
	assert.Equal(t, 1, tl.results[id], "Teams result cards")
	durStop(t, r1)
	durStop(t, r2)
}

func mergeCounts(ms ...map[string]int) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for k, v := range m {
			out[k] += v
		}
	}
	return out
}

// durReplicaRate: 30 requests raised through both replicas, one Slack
// channel: the posts of both share its limit, measured from the fake's
// timestamps.
func durReplicaRate(t *testing.T) {
	c, r1, r2 := durReplicas(t, nil, durSlackA)
	const n = 30
	ids := c.createAll(n, 0, r1, r2)
	one := []string{durSlackA}
	took := c.await(90*time.Second, func() bool { return len(c.tally().missing(ids, one)) == 0 })
	tl := c.tally()
	times := slices.Clone(tl.postTimes[durSlackA])
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	dups, what := tl.duplicatePosts()
	rate, maxInSecond, minGap := 0.0, 0, time.Duration(0)
	if len(times) > 1 {
		rate = float64(len(times)-1) / times[len(times)-1].Sub(times[0]).Seconds()
		minGap = time.Hour
		for i := range times {
			j := i
			for j < len(times) && times[j].Sub(times[i]) < time.Second {
				j++
			}
			maxInSecond = max(maxInSecond, j-i)
			if i > 0 {
				minGap = min(minGap, times[i].Sub(times[i-1]))
			}
		}
	}
	split := byReplica(c, "chat.postMessage", durSlackA)
	t.Logf("%d requests (15 through each replica): %d posts to %s in %.1fs, by replica %v; rate %.3f msg/s over %.1fs, "+
		"at most %d in any 1 s, smallest gap %dms; duplicates %d %v",
		n, len(times), durSlackA, took.Seconds(), split, rate, times[len(times)-1].Sub(times[0]).Seconds(),
		maxInSecond, minGap.Milliseconds(), dups, what)
	assert.Empty(t, tl.missing(ids, one), "requests never posted")
	assert.Zero(t, dups, "duplicates")
	assert.LessOrEqual(t, rate, 1.2, "combined rate to one Slack channel, msg/s")
	assert.Positive(t, split["r1"], "posts by replica 1")
	assert.Positive(t, split["r2"], "posts by replica 2")
	durStop(t, r1)
	durStop(t, r2)
}

// durReplicaExpiry: requests posted to Slack and Teams through both
// replicas, each sweeping every 500 ms, expire unseen: every copy is
// updated exactly once, each expiry audited once.
func durReplicaExpiry(t *testing.T) {
	const (
		n         = 8
		expiresIn = 16 // seconds: time enough to post all eight at Slack's pace, under load
	)
	c, r1, r2 := durReplicas(t, map[string]string{"EXPIRY_SWEEP_INTERVAL": "500ms"}, durSlackA, durTeams)
	dests := []string{durSlackA, durTeams}
	created := time.Now()
	ids := c.createAll(n, expiresIn, r1, r2)
	c.await(60*time.Second, func() bool { return len(c.tally().missing(ids, dests)) == 0 })
	posted := time.Since(created)
	require.Empty(t, c.tally().missing(ids, dests), "copies not posted")
	require.Less(t, posted, expiresIn*time.Second, "everything posted before the first deadline")

	copies := c.tally().slack
	c.await(90*time.Second, func() bool {
		tl := c.tally()
		for _, id := range ids {
			if tl.updates[durSlackA+" "+copies[id][durSlackA].TS] == 0 || tl.results[id] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * time.Second) // two more sweeps of each replica: any second update would come now
	c.await(30*time.Second, func() bool { return true })
	expiredIn := time.Since(created)

	tl := c.tally()
	notExpired, audits, updated, twice := 0, 0, 0, 0
	var wrong []string
	for _, id := range ids {
		if c.approval(r1, id).Status != approval.StatusExpired {
			notExpired++
		}
		for _, e := range c.audit(r2, id) {
			if e.Action == approval.AuditExpired {
				audits++
			}
		}
		k := durSlackA + " " + copies[id][durSlackA].TS
		for _, got := range []int{tl.updates[k], tl.results[id]} {
			switch {
			case got == 1:
				updated++
			case got > 1:
				twice++
			}
		}
		if tl.updates[k] != 1 || tl.results[id] != 1 {
			wrong = append(wrong, fmt.Sprintf("%s: %d chat.update, %d result cards", id, tl.updates[k], tl.results[id]))
		}
		if !strings.Contains(tl.text[k], "expired") {
			wrong = append(wrong, id+": the Slack copy reads "+tl.text[k])
		}
	}
	t.Logf("%d requests expiring after %ds, posted to %d channels in %.1fs; %.1fs after creation: %d not expired, "+
		"%d of %d copies updated exactly once, %d more than once, expiry audit entries %d; chat.updates by replica %v",
		n, expiresIn, len(dests), posted.Seconds(), expiredIn.Seconds(), notExpired, updated, n*len(dests), twice, audits,
		byReplica(c, "chat.update", durSlackA))
	assert.Zero(t, notExpired, "requests not expired")
	assert.Empty(t, wrong, "copies not updated exactly once")
	assert.Equal(t, n, audits, "expiry audit entries: one per request")
	durStop(t, r1)
	durStop(t, r2)
}
