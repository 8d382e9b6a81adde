package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// Rate is one window of a rate limit: at most N messages in any period of
// length Per. A channel may have several (Teams allows 4 per second and
// 60 per 30 seconds); a message goes when all of them allow it.
type Rate struct {
	N   int
	Per time.Duration
}

// defaultSlackRates returns the default limit per Slack channel. It
// follows Slack's "one message per second per channel, short bursts
// allowed": up to 3 at once, 3 per 3 seconds.
func defaultSlackRates() []Rate { return []Rate{{N: 3, Per: 3 * time.Second}} }

// defaultTeamsRates returns the default limit per Teams webhook. It
// follows the short-term limits documented for Teams incoming webhooks: 4
// per second and 60 per 30 seconds. The hourly and daily limits are left
// to the platform (its throttling answers are retried) rather than
// holding messages back for hours.
func defaultTeamsRates() []Rate {
	return []Rate{{N: 4, Per: time.Second}, {N: 60, Per: 30 * time.Second}}
}

// teamsBotRates returns the limit per Teams conversation reached
// through the bot: the per-conversation limits of the Bot Connector
// (msteams-docs bots/how-to/rate-limit.md), 7 per second, 8 per 2
// seconds, 60 per 30 seconds and 1,800 per hour. They are not
// configurable: DispatcherOptions.TeamsRates are the webhooks'.
func teamsBotRates() []Rate {
	return []Rate{{N: 7, Per: time.Second}, {N: 8, Per: 2 * time.Second}, {N: 60, Per: 30 * time.Second}, {N: 1800, Per: time.Hour}}
}

// rates returns the limit of the destination of ch.
func (d *Dispatcher) rates(ch Channel) []Rate {
	switch {
	case ch.usesTeamsBot():
		return teamsBotRates()
	case ch.Type == Teams:
		return d.o.TeamsRates
	}
	return d.o.SlackRates
}

// limiter spaces messages per destination with sliding windows: for each
// [Rate] it remembers the times of the last N messages, and the next one
// may go once the oldest of them is Per old. Reservations are handed out
// in order, so concurrent senders to one channel queue fairly. A limiter
// is safe for concurrent use.
type limiter struct {
	mu    sync.Mutex
	keys  map[string]*limitState
	calls int
}

type limitState struct {
	rates   []Rate
	logs    [][]time.Time // per rate, a ring of the last N reservations
	heads   []int
	last    time.Time // the latest reservation
	blocked time.Time // no message before this (a platform's Retry-After)
}

func newLimiter() *limiter {
	return &limiter{keys: make(map[string]*limitState)}
}

// reserve books the next slot for key under rates and returns when it
// is: now or later. The caller waits until then and sends.
func (l *limiter) reserve(key string, rates []Rate, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%1024 == 0 {
		l.prune(now)
	}
	st := l.keys[key]
	if st == nil {
		st = &limitState{}
		l.keys[key] = st
	}
	if st.logs == nil {
		// A new key, or one that block created: its windows start here.
		st.rates, st.logs, st.heads = rates, make([][]time.Time, len(rates)), make([]int, len(rates))
	}
	at := now
	at = later(at, st.last)
	at = later(at, st.blocked)
	for i, r := range st.rates {
		if r.N <= 0 || r.Per <= 0 {
			continue
		}
		if len(st.logs[i]) == r.N {
			at = later(at, st.logs[i][st.heads[i]].Add(r.Per))
		}
	}
	for i, r := range st.rates {
		if r.N <= 0 || r.Per <= 0 {
			continue
		}
		if len(st.logs[i]) < r.N {
			st.logs[i] = append(st.logs[i], at)
		} else {
			st.logs[i][st.heads[i]] = at
			st.heads[i] = (st.heads[i] + 1) % r.N
		}
	}
	st.last = at
	return at
}

// block holds every message to key back until until.
func (l *limiter) block(key string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[key]
	if st == nil {
		st = &limitState{}
		l.keys[key] = st
	}
	st.blocked = later(st.blocked, until)
}

// prune forgets destinations idle for longer than their longest window.
// The caller holds l.mu.
func (l *limiter) prune(now time.Time) {
	for k, st := range l.keys {
		var longest time.Duration
		for _, r := range st.rates {
			longest = max(longest, r.Per)
		}
		if now.After(st.last.Add(longest)) && now.After(st.blocked) {
			delete(l.keys, k)
		}
	}
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// limitKey names the destination a channel delivers to, so that two
// configured channels posting to the same Slack channel, Teams
// conversation or webhook share one limit. Webhook URLs are hashed: the
// key never holds the secret.
func limitKey(ch Channel) string {
	switch {
	case ch.Type == Slack && ch.UsesBot():
		return "slack:" + ch.Config.ChannelID
	case ch.usesTeamsBot():
		return "teams:conversation:" + ch.Config.ConversationID
	case ch.Config.WebhookURL != "":
		sum := sha256.Sum256([]byte(ch.Config.WebhookURL))
		return string(ch.Type) + ":hook:" + hex.EncodeToString(sum[:12])
	}
	return "channel:" + ch.ID
}
