package notify

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// epoch is 1700000000 in Unix time.
var epoch = time.Unix(1700000000, 0).UTC()

func TestLimiter(t *testing.T) {
	s := time.Second
	t.Run("reservations are spaced by every window", func(t *testing.T) {
		l := newLimiter()
		rates := []Rate{{N: 2, Per: s}, {N: 3, Per: 10 * s}}
		var got []time.Duration
		for range 5 {
			got = append(got, l.reserve("k", rates, epoch).Sub(epoch))
		}
		// 2 per second allows 0,0,1s,1s,2s; 3 per 10 s holds the 4th and
		// 5th back to 10 s.
		assert.Equal(t, []time.Duration{0, 0, s, 10 * s, 10 * s}, got)
	})
	t.Run("time passing frees the window", func(t *testing.T) {
		l := newLimiter()
		rates := []Rate{{N: 1, Per: s}}
		assert.Equal(t, epoch, l.reserve("k", rates, epoch))
		assert.Equal(t, epoch.Add(5*s), l.reserve("k", rates, epoch.Add(5*s)))
	})
	t.Run("block holds the key back, and only it", func(t *testing.T) {
		l := newLimiter()
		rates := []Rate{{N: 10, Per: s}}
		l.block("k", epoch.Add(20*s))
		assert.Equal(t, epoch.Add(20*s), l.reserve("k", rates, epoch))
		assert.Equal(t, epoch, l.reserve("other", rates, epoch))
		l.block("k", epoch.Add(5*s))
		assert.Equal(t, epoch.Add(20*s), l.reserve("k", rates, epoch), "an earlier block does not shorten a later one")
	})
	t.Run("a key first seen by block still gets its rate", func(t *testing.T) {
		// A 429 can arrive for a key pruned while its request was in
		// flight: block then meets the key before reserve does.
		l := newLimiter()
		rates := []Rate{{N: 1, Per: s}}
		l.block("k", epoch.Add(5*s))
		var got []time.Duration
		for range 3 {
			got = append(got, l.reserve("k", rates, epoch).Sub(epoch))
		}
		assert.Equal(t, []time.Duration{5 * s, 6 * s, 7 * s}, got)
	})
	t.Run("idle keys are forgotten", func(t *testing.T) {
		l := newLimiter()
		rates := []Rate{{N: 1, Per: s}}
		for i := range 1023 {
			l.reserve(string(rune('a'+i%26))+string(rune(i)), rates, epoch)
		}
		assert.Equal(t, 1023, l.size())
		l.reserve("late", rates, epoch.Add(time.Hour)) // the 1024th call prunes
		assert.LessOrEqual(t, l.size(), 1)
	})
	t.Run("keys never hold a webhook URL", func(t *testing.T) {
		ch := Channel{Type: Teams, Config: ChannelConfig{WebhookURL: "https://x.webhook.office.com/webhookb2/SECRET?sig=SECRET"}}
		assert.NotContains(t, limitKey(ch), "SECRET")
		assert.Equal(t, limitKey(ch), limitKey(ch))
		other := ch
		other.Config.WebhookURL += "2"
		assert.NotEqual(t, limitKey(ch), limitKey(other))
		bot := Channel{Type: Slack, Config: ChannelConfig{BotToken: "xoxb-1", ChannelID: "C1"}}
		assert.Equal(t, "slack:C1", limitKey(bot))
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 30 ":                          30 * time.Second,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"999999999":                     24 * time.Hour,
		"Mon, 01 Jan 2024 00:00:10 GMT": 10 * time.Second,
		"Sun, 31 Dec 2023 23:59:00 GMT": 0,
	} {
		assert.Equal(t, want, parseRetryAfter(in, now), in)
	}
}
