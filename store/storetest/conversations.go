package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/teams"
)

// conversationFactory returns a new, empty store for the subtest t.
type conversationFactory = func(t *testing.T) teams.ConversationStore

// TestConversationStore checks a [teams.ConversationStore] against its
// documented contract: inserting, replacing by organisation and
// conversation ID (the removed flag included), listing newest first,
// organisation isolation and concurrent use. newStore is called for every
// subtest and must return an empty store.
func TestConversationStore(t *testing.T, newStore func(t *testing.T) teams.ConversationStore) {
	t.Helper()
	t.Run("SaveConversation", func(t *testing.T) { exerciseSaveConversation(t, newStore) })
	t.Run("ListConversations", func(t *testing.T) { exerciseListConversations(t, newStore) })
	t.Run("OrgIsolation", func(t *testing.T) { exerciseConversationIsolation(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { exerciseConversationConcurrency(t, newStore) })
}

// newConversation returns conversation id of org with every field set
// (Removed true: fill sets booleans), updated at at.
func newConversation(org, id, seed string, at time.Time) teams.Conversation {
	c := teams.Conversation{OrgID: org, ConversationID: id, UpdatedAt: at}
	fill(&c, seed)
	return c
}

func saveConversation(t *testing.T, s teams.ConversationStore, c teams.Conversation) {
	t.Helper()
	must(t, s.SaveConversation(t.Context(), c), "SaveConversation")
}

func listConversations(t *testing.T, s teams.ConversationStore, org string) []teams.Conversation {
	t.Helper()
	got, err := s.ListConversations(t.Context(), org)
	must(t, err, "ListConversations")
	return got
}

// oneConversation returns the one conversation of org.
func oneConversation(t *testing.T, s teams.ConversationStore, org string) teams.Conversation {
	t.Helper()
	got := listConversations(t, s, org)
	if len(got) != 1 {
		t.Fatalf("ListConversations(%s) returned %d conversations, want 1", org, len(got))
	}
	return got[0]
}

func exerciseSaveConversation(t *testing.T, newStore conversationFactory) {
	t.Run("StoresEveryField", func(t *testing.T) {
		s := newStore(t)
		c := newConversation(orgA, "19:a@thread.tacv2", "every-field", fixedTime)
		saveConversation(t, s, c)
		got := oneConversation(t, s, orgA)
		checkSame(t, got, c, "stored conversation")
		checkUTC(t, got.UpdatedAt, "UpdatedAt")
	})
	t.Run("EmptyOptionalFieldsAreKept", func(t *testing.T) {
		s := newStore(t)
		c := teams.Conversation{OrgID: orgA, ConversationID: "a:personal", ServiceURL: "https://smba.example/", TenantID: "t", UpdatedAt: fixedTime}
		saveConversation(t, s, c)
		checkSame(t, oneConversation(t, s, orgA), c, "stored conversation")
	})
	t.Run("ReplacesByOrgAndConversationID", func(t *testing.T) {
		s := newStore(t)
		saveConversation(t, s, newConversation(orgA, "19:a", "first", fixedTime))
		second := newConversation(orgA, "19:a", "second", fixedTime.Add(time.Minute))
		second.Removed = false
		saveConversation(t, s, second)
		checkSame(t, oneConversation(t, s, orgA), second, "replaced conversation")
	})
	t.Run("RemovedFlagIsReplacedBothWays", func(t *testing.T) {
		s := newStore(t)
		c := newConversation(orgA, "19:a", "c", fixedTime)
		for i, removed := range []bool{false, true, false} {
			c.Removed = removed
			c.UpdatedAt = fixedTime.Add(time.Duration(i) * time.Second)
			saveConversation(t, s, c)
			if got := oneConversation(t, s, orgA); got.Removed != removed {
				t.Fatalf("save %d: Removed = %v, want %v", i, got.Removed, removed)
			}
		}
	})
	t.Run("ZeroUpdatedAtBecomesNowInUTC", func(t *testing.T) {
		s := newStore(t)
		c := newConversation(orgA, "19:a", "now", time.Time{})
		c.UpdatedAt = time.Time{}
		clk := startClock()
		saveConversation(t, s, c)
		clk.check(t, oneConversation(t, s, orgA).UpdatedAt, "UpdatedAt")
	})
	t.Run("GivenUpdatedAtIsKeptInUTC", func(t *testing.T) {
		s := newStore(t)
		saveConversation(t, s, newConversation(orgA, "19:a", "zone", fixedTime.In(otherZone)))
		got := oneConversation(t, s, orgA)
		if !got.UpdatedAt.Equal(fixedTime) {
			t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, fixedTime)
		}
		checkUTC(t, got.UpdatedAt, "UpdatedAt")
	})
	t.Run("MissingKeysAreRefused", func(t *testing.T) {
		s := newStore(t)
		for _, c := range []teams.Conversation{{OrgID: orgA}, {ConversationID: "19:a"}} {
			if err := s.SaveConversation(t.Context(), c); err == nil {
				t.Errorf("SaveConversation(org %q, conversation %q) succeeded, want an error", c.OrgID, c.ConversationID)
			}
		}
		if got := listConversations(t, s, orgA); len(got) != 0 {
			t.Errorf("refused saves left %v", conversationIDs(got))
		}
	})
}

func exerciseListConversations(t *testing.T, newStore conversationFactory) {
	t.Run("NoConversationsGivesEmptyNonNilSlice", func(t *testing.T) {
		s := newStore(t)
		if got := listConversations(t, s, orgA); got == nil || len(got) != 0 {
			t.Fatalf("ListConversations without conversations = %#v, want an empty non-nil slice", got)
		}
	})
	t.Run("NewestFirstThenByConversationID", func(t *testing.T) {
		s := newStore(t)
		t1, t2, t3 := fixedTime, fixedTime.Add(time.Second), fixedTime.Add(time.Hour)
		for _, c := range []struct {
			id string
			at time.Time
		}{{"c", t2}, {"b", t1}, {"e", t3}, {"a", t1}, {"d", t2}} {
			saveConversation(t, s, newConversation(orgA, c.id, c.id, c.at))
		}
		want := []string{"e", "c", "d", "a", "b"}
		if got := conversationIDs(listConversations(t, s, orgA)); !slices.Equal(got, want) {
			t.Errorf("ListConversations order = %v, want %v", got, want)
		}
	})
	t.Run("ARemovedConversationIsListed", func(t *testing.T) {
		s := newStore(t)
		c := newConversation(orgA, "19:gone", "gone", fixedTime)
		c.Removed = true
		saveConversation(t, s, c)
		if got := oneConversation(t, s, orgA); !got.Removed {
			t.Errorf("listed conversation has Removed false, want true")
		}
	})
	t.Run("AReplacedConversationMovesToItsNewTime", func(t *testing.T) {
		s := newStore(t)
		saveConversation(t, s, newConversation(orgA, "old", "old", fixedTime))
		saveConversation(t, s, newConversation(orgA, "new", "new", fixedTime.Add(time.Minute)))
		saveConversation(t, s, newConversation(orgA, "old", "old-again", fixedTime.Add(time.Hour)))
		if got, want := conversationIDs(listConversations(t, s, orgA)), []string{"old", "new"}; !slices.Equal(got, want) {
			t.Errorf("ListConversations order = %v, want %v", got, want)
		}
	})
}

// exerciseConversationIsolation checks that conversations are scoped to
// their organisation: the same conversation ID in two organisations is
// two records, and neither is listed for the other.
func exerciseConversationIsolation(t *testing.T, newStore conversationFactory) {
	t.Run("SameConversationIDInTwoOrgsIsTwoRecords", func(t *testing.T) {
		s := newStore(t)
		mine := newConversation(orgA, "19:shared", "mine", fixedTime)
		theirs := newConversation(orgB, "19:shared", "theirs", fixedTime)
		theirs.Removed = false
		saveConversation(t, s, mine)
		saveConversation(t, s, theirs)
		checkSame(t, oneConversation(t, s, orgA), mine, "orgA's conversation")
		checkSame(t, oneConversation(t, s, orgB), theirs, "orgB's conversation")
	})
	t.Run("NeverListsAnotherOrgsConversations", func(t *testing.T) {
		s := newStore(t)
		saveConversation(t, s, newConversation(orgB, "19:theirs", "theirs", fixedTime))
		if got := listConversations(t, s, orgA); len(got) != 0 {
			t.Errorf("ListConversations(orgA) = %v, want none of orgB's", conversationIDs(got))
		}
	})
	t.Run("ReplacingInOneOrgLeavesTheOtherUnchanged", func(t *testing.T) {
		s := newStore(t)
		theirs := newConversation(orgB, "19:shared", "theirs", fixedTime)
		saveConversation(t, s, theirs)
		saveConversation(t, s, newConversation(orgA, "19:shared", "mine", fixedTime.Add(time.Hour)))
		checkSame(t, oneConversation(t, s, orgB), theirs, "orgB's conversation")
	})
}

func exerciseConversationConcurrency(t *testing.T, newStore conversationFactory) {
	t.Run("ConcurrentSavesLeaveOneRowPerKey", func(t *testing.T) {
		s := newStore(t)
		errs := make([]error, concurrency)
		race(concurrency, func(i int) {
			org, id := []string{orgA, orgB}[i%2], fmt.Sprintf("19:c%d", i%4)
			if errs[i] = s.SaveConversation(t.Context(), newConversation(org, id, fmt.Sprintf("s%d", i), time.Time{})); errs[i] != nil {
				return
			}
			_, errs[i] = s.ListConversations(t.Context(), org)
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		// orgA saved 19:c0 and 19:c2, orgB 19:c1 and 19:c3.
		for _, org := range []string{orgA, orgB} {
			if got := listConversations(t, s, org); len(got) != 2 {
				t.Errorf("%d concurrent saves left %s with %v, want 2 conversations", concurrency, org, conversationIDs(got))
			}
		}
	})
}

func conversationIDs(cs []teams.Conversation) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ConversationID
	}
	return out
}
