package notify

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestCopyTracker(t *testing.T) {
	bot := Post{ApprovalID: "a", ChannelID: "c1", Receipt: Receipt{SlackChannel: "C1", SlackTS: "1.0"}}
	teams := Post{ApprovalID: "a", ChannelID: "c2"}
	now := time.Unix(1700000000, 0)

	t.Run("a copy a decision's listing meets while it is checked is left to the decision's jobs", func(t *testing.T) {
		var c copyTracker
		chk := c.begin(bot)
		assert.True(t, c.visit(bot))
		assert.False(t, c.end(chk, true, now), "taken over")
		assert.True(t, c.visit(bot), "nothing remembered")
	})
	t.Run("a caught-up copy is skipped by the next decision's listing only", func(t *testing.T) {
		var c copyTracker
		assert.True(t, c.end(c.begin(bot), true, now))
		assert.True(t, c.visit(teams), "another copy")
		assert.False(t, c.visit(bot))
		assert.True(t, c.visit(bot), "a later listing acts again")
		assert.Empty(t, c.caughtUp)
		assert.Empty(t, c.checking)
	})
	t.Run("a copy found pending, or not updatable, is not remembered", func(t *testing.T) {
		var c copyTracker
		assert.False(t, c.end(c.begin(bot), false, now))
		assert.Empty(t, c.checking)
		assert.Empty(t, c.caughtUp)
		assert.True(t, c.visit(bot))
	})
	t.Run("a failed catch-up is forgotten", func(t *testing.T) {
		var c copyTracker
		assert.True(t, c.end(c.begin(teams), true, now))
		c.forget(teams)
		assert.True(t, c.visit(teams))
	})
	t.Run("caught-up copies are forgotten after caughtUpFor", func(t *testing.T) {
		var c copyTracker
		assert.True(t, c.end(c.begin(bot), true, now))
		assert.True(t, c.end(c.begin(teams), true, now.Add(caughtUpFor)))
		assert.Len(t, c.caughtUp, 2, "not yet past caughtUpFor")
		other := Post{ApprovalID: "b", ChannelID: "c2"}
		assert.True(t, c.end(c.begin(other), true, now.Add(caughtUpFor+time.Second)))
		assert.Len(t, c.caughtUp, 2)
		assert.NotContains(t, c.caughtUp, copyKey(bot), "the oldest one went")
	})
	t.Run("two checks of one key end independently", func(t *testing.T) {
		var c copyTracker
		first := c.begin(teams)
		second := c.begin(teams)
		assert.False(t, c.end(first, false, now))
		assert.Contains(t, c.checking, copyKey(teams), "the second check is still on")
		assert.False(t, c.end(second, false, now))
		assert.Empty(t, c.checking)
	})
}
