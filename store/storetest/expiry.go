package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// later is after deadline: what the expiry subtests take as now.
var later = deadline.Add(time.Hour)

// due creates a pending request id of org with the given deadline (none
// when zero).
func due(t *testing.T, s approval.ApprovalStore, org, id string, at time.Time) approval.Request {
	t.Helper()
	r := newOrgRequest(org, id, org+"-"+id)
	r.ExpiresAt = at
	return create(t, s, r)
}

// withExpiryLister returns a new store and its [approval.ExpiryLister],
// or skips t when the store has none.
func withExpiryLister(t *testing.T, newStore approvalFactory) (ApprovalStores, approval.ExpiryLister) {
	t.Helper()
	s := newStore(t)
	return s, expiryLister(t, s)
}

// listExpired returns the keys ("org/id") of what ListExpired lists, in
// its order, after checking that each listed request is the stored one.
func listExpired(t *testing.T, s approval.ApprovalStore, l approval.ExpiryLister, now time.Time, limit int) []string {
	t.Helper()
	rs, err := l.ListExpired(t.Context(), now, limit)
	must(t, err, "ListExpired")
	keys := make([]string, len(rs))
	for i, r := range rs {
		keys[i] = r.OrgID + "/" + r.ID
		stored, err := s.GetApproval(t.Context(), r.OrgID, r.ID)
		if err != nil {
			t.Errorf("ListExpired listed %s, which GetApproval does not find: %v", keys[i], err)
			continue
		}
		checkSame(t, r, stored, "request "+keys[i]+" as ListExpired returns it")
	}
	return keys
}

func checkKeys(t *testing.T, got []string, what string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) { // nil and empty are equal
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// keyA and keyB name a request of orgA and orgB as listExpired does.
func keyA(id string) string { return orgA + "/" + id }
func keyB(id string) string { return orgB + "/" + id }

// exerciseListExpired checks the optional [approval.ExpiryLister]; each
// subtest is skipped, not failed, when the store does not implement it.
func exerciseListExpired(t *testing.T, newStore approvalFactory) {
	t.Run("OnlyPendingRequests", func(t *testing.T) {
		s, l := withExpiryLister(t, newStore)
		for _, id := range []string{"approved", "pending", "denied", "expired"} {
			due(t, s, orgA, id, deadline)
		}
		for id, o := range map[string]approval.Outcome{
			"approved": outcome(approval.StatusApproved, fixedTime, "amy"),
			"denied":   outcome(approval.StatusDenied, fixedTime, "bob"),
			"expired":  outcome(approval.StatusExpired, later, ""),
		} {
			_, err := s.DecideApproval(t.Context(), orgA, id, o)
			must(t, err, "DecideApproval("+id+")")
		}
		checkKeys(t, listExpired(t, s, l, later, 10), "ListExpired after the deadline", keyA("pending"))
	})
	t.Run("DeadlineAtNowIsDue", func(t *testing.T) {
		s, l := withExpiryLister(t, newStore)
		due(t, s, orgA, "after", deadline.Add(time.Microsecond))
		due(t, s, orgA, "at", deadline)
		due(t, s, orgA, "before", deadline.Add(-time.Microsecond))
		checkKeys(t, listExpired(t, s, l, deadline, 10), "ListExpired at the deadline", keyA("before"), keyA("at"))
		checkKeys(t, listExpired(t, s, l, deadline.Add(-time.Microsecond), 10),
			"ListExpired one microsecond before the deadline", keyA("before"))
	})
	t.Run("NowInAnyLocation", func(t *testing.T) {
		s, l := withExpiryLister(t, newStore)
		due(t, s, orgA, "at", deadline)
		due(t, s, orgA, "after", deadline.Add(time.Microsecond))
		checkKeys(t, listExpired(t, s, l, deadline.In(otherZone), 10),
			"ListExpired at the deadline given in "+otherZone.String(), keyA("at"))
	})
	t.Run("NoDeadlineIsNeverListed", func(t *testing.T) {
		s, l := withExpiryLister(t, newStore)
		due(t, s, orgA, "forever", time.Time{})
		due(t, s, orgA, "due", deadline)
		checkKeys(t, listExpired(t, s, l, fixedTime.AddDate(100, 0, 0), 10), "ListExpired a century later", keyA("due"))
	})
	t.Run("OldestDeadlineFirst", func(t *testing.T) {
		s, l := withExpiryLister(t, newStore)
		// Neither the IDs nor the order of creation follow the deadlines.
		for _, r := range []struct {
			id  string
			sec int
		}{{"m3", 3}, {"z1", 1}, {"a5", 5}, {"q2", 2}, {"b4", 4}} {
			due(t, s, orgA, r.id, deadline.Add(time.Duration(r.sec)*time.Second))
		}
		checkKeys(t, listExpired(t, s, l, later, 10), "ListExpired order", keyA("z1"), keyA("q2"), keyA("m3"), keyA("b4"), keyA("a5"))
	})
	t.Run("AtMostLimitOldestFirst", func(t *testing.T) {
		s, l := withExpiryLister(t, newStore)
		var all []string
		for i := range 5 {
			all = append(all, keyA(fmt.Sprintf("r%d", i)))
		}
		for i := len(all) - 1; i >= 0; i-- {
			due(t, s, orgA, fmt.Sprintf("r%d", i), deadline.Add(time.Duration(i)*time.Minute))
		}
		for _, limit := range []int{1, 2, 4, 5, 6, 100} {
			checkKeys(t, listExpired(t, s, l, later, limit), fmt.Sprintf("ListExpired(limit %d)", limit), all[:min(limit, len(all))]...)
		}
	})
	t.Run("EveryOrganisationWithItsOrgID", func(t *testing.T) {
		s, l := withExpiryLister(t, newStore)
		due(t, s, orgA, "mine", deadline)
		due(t, s, orgB, "theirs", deadline.Add(time.Second))
		due(t, s, orgB, "shared", deadline.Add(2*time.Second))
		due(t, s, orgA, "shared", deadline.Add(3*time.Second))
		checkKeys(t, listExpired(t, s, l, later, 10), "ListExpired", keyA("mine"), keyB("theirs"), keyB("shared"), keyA("shared"))
	})
	t.Run("NoneDueIsEmptyWithoutError", func(t *testing.T) {
		s, l := withExpiryLister(t, newStore)
		checkKeys(t, listExpired(t, s, l, later, 10), "ListExpired of an empty store")
		due(t, s, orgA, "forever", time.Time{})
		due(t, s, orgA, "future", later.Add(time.Second))
		checkKeys(t, listExpired(t, s, l, later, 10), "ListExpired before any deadline")
	})
	t.Run("ListingChangesNothing", func(t *testing.T) {
		s, l := withExpiryLister(t, newStore)
		created := due(t, s, orgA, "r", deadline)
		checkKeys(t, listExpired(t, s, l, later, 10), "first ListExpired", keyA("r"))
		checkKeys(t, listExpired(t, s, l, later, 10), "second ListExpired", keyA("r"))
		checkSame(t, get(t, s, orgA, "r"), created, "request after ListExpired")
	})
}
