package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// testListExpired checks [approval.ExpiryLister], which is optional: each
// subtest is skipped, not failed, when the store does not implement it.
func testListExpired(t *testing.T, newStore func(t *testing.T) ApprovalStores) {
	// lister returns s as an ExpiryLister, or skips t.
	lister := func(t *testing.T, s ApprovalStores) approval.ExpiryLister {
		t.Helper()
		l, ok := s.(approval.ExpiryLister)
		if !ok {
			t.Skipf("storetest: %T does not implement approval.ExpiryLister (optional); skipping its rules", s)
		}
		return l
	}
	list := func(t *testing.T, s ApprovalStores, now time.Time, limit int) []string {
		t.Helper()
		ids, err := lister(t, s).ListExpired(t.Context(), now, limit)
		must(t, err, "ListExpired")
		return ids
	}
	// due creates a pending request of org with the given deadline (none
	// when zero).
	due := func(t *testing.T, s ApprovalStores, org, id string, at time.Time) approval.Request {
		t.Helper()
		r := newRequest(id, id)
		r.OrgID, r.ExpiresAt = org, at
		got, err := s.CreateApproval(t.Context(), r)
		must(t, err, "CreateApproval")
		return got
	}
	check := func(t *testing.T, got, want []string, what string) {
		t.Helper()
		if !slices.Equal(got, want) { // nil and empty are equal
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	later := deadline.Add(time.Hour)

	t.Run("OnlyPendingRequests", func(t *testing.T) {
		s := newStore(t)
		lister(t, s)
		for _, id := range []string{"approved", "pending", "denied", "expired"} {
			due(t, s, orgA, id, deadline)
		}
		for id, o := range map[string]approval.Outcome{
			"approved": outcome(approval.StatusApproved, fixedTime, "amy"),
			"denied":   outcome(approval.StatusDenied, fixedTime, "bob"),
			"expired":  outcome(approval.StatusExpired, later, ""),
		} {
			_, err := s.DecideApproval(t.Context(), id, o)
			must(t, err, "DecideApproval("+id+")")
		}
		check(t, list(t, s, later, 10), []string{"pending"}, "ListExpired after the deadline")
	})
	t.Run("DeadlineAtNowIsDue", func(t *testing.T) {
		s := newStore(t)
		lister(t, s)
		due(t, s, orgA, "after", deadline.Add(time.Microsecond))
		due(t, s, orgA, "at", deadline)
		due(t, s, orgA, "before", deadline.Add(-time.Microsecond))
		check(t, list(t, s, deadline, 10), []string{"before", "at"}, "ListExpired at the deadline")
		check(t, list(t, s, deadline.Add(-time.Microsecond), 10), []string{"before"}, "ListExpired one microsecond before the deadline")
	})
	t.Run("NowInAnyLocation", func(t *testing.T) {
		s := newStore(t)
		lister(t, s)
		due(t, s, orgA, "at", deadline)
		due(t, s, orgA, "after", deadline.Add(time.Microsecond))
		check(t, list(t, s, deadline.In(otherZone), 10), []string{"at"}, "ListExpired at the deadline given in "+otherZone.String())
	})
	t.Run("NoDeadlineIsNeverListed", func(t *testing.T) {
		s := newStore(t)
		lister(t, s)
		due(t, s, orgA, "forever", time.Time{})
		due(t, s, orgA, "due", deadline)
		check(t, list(t, s, fixedTime.AddDate(100, 0, 0), 10), []string{"due"}, "ListExpired a century later")
	})
	t.Run("OldestDeadlineFirst", func(t *testing.T) {
		s := newStore(t)
		lister(t, s)
		// Neither the IDs nor the order of creation follow the deadlines.
		for _, r := range []struct {
			id  string
			sec int
		}{{"m3", 3}, {"z1", 1}, {"a5", 5}, {"q2", 2}, {"b4", 4}} {
			due(t, s, orgA, r.id, deadline.Add(time.Duration(r.sec)*time.Second))
		}
		check(t, list(t, s, later, 10), []string{"z1", "q2", "m3", "b4", "a5"}, "ListExpired order")
	})
	t.Run("AtMostLimitOldestFirst", func(t *testing.T) {
		s := newStore(t)
		lister(t, s)
		all := []string{"r0", "r1", "r2", "r3", "r4"}
		for i := len(all) - 1; i >= 0; i-- {
			due(t, s, orgA, all[i], deadline.Add(time.Duration(i)*time.Minute))
		}
		for _, limit := range []int{1, 2, 4, 5, 6, 100} {
			check(t, list(t, s, later, limit), all[:min(limit, len(all))], fmt.Sprintf("ListExpired(limit %d)", limit))
		}
	})
	t.Run("EveryOrganisation", func(t *testing.T) {
		s := newStore(t)
		lister(t, s)
		due(t, s, orgA, "mine", deadline)
		due(t, s, orgB, "theirs", deadline.Add(time.Second))
		check(t, list(t, s, later, 10), []string{"mine", "theirs"}, "ListExpired")
	})
	t.Run("NoneDueIsEmptyWithoutError", func(t *testing.T) {
		s := newStore(t)
		lister(t, s)
		check(t, list(t, s, later, 10), nil, "ListExpired of an empty store")
		due(t, s, orgA, "forever", time.Time{})
		due(t, s, orgA, "future", later.Add(time.Second))
		check(t, list(t, s, later, 10), nil, "ListExpired before any deadline")
	})
	t.Run("ListingChangesNothing", func(t *testing.T) {
		s := newStore(t)
		lister(t, s)
		created := due(t, s, orgA, "r", deadline)
		check(t, list(t, s, later, 10), []string{"r"}, "first ListExpired")
		check(t, list(t, s, later, 10), []string{"r"}, "second ListExpired")
		got, err := s.GetApproval(t.Context(), "r")
		must(t, err, "GetApproval")
		checkSame(t, got, created, "request after ListExpired")
	})
	t.Run("ServiceExpireDueConcurrentSweepsExpireEachOnce", func(t *testing.T) {
		s := newStore(t)
		lister(t, s)
		const requests, sweeps = 20, 10
		var want []string
		for i := range requests {
			id := fmt.Sprintf("r%02d", i)
			due(t, s, []string{orgA, orgB}[i%2], id, deadline.Add(time.Duration(i)*time.Second))
			want = append(want, id)
		}
		due(t, s, orgA, "not-yet", later.Add(time.Second))
		var mu sync.Mutex
		reported := map[string]int{}
		svc, err := approval.NewService(s, s, &approval.Options{
			Now: func() time.Time { return later },
			OnDecided: func(_ context.Context, r approval.Request) {
				mu.Lock()
				reported[r.ID]++
				mu.Unlock()
			},
		})
		must(t, err, "approval.NewService")

		counts := make([]int, sweeps)
		errs := make([]error, sweeps)
		race(sweeps, func(i int) {
			counts[i], errs[i] = svc.ExpireDue(t.Context(), 100)
		})
		total := 0
		for i := range sweeps {
			if errs[i] != nil {
				t.Errorf("sweep %d: %v", i, errs[i])
			}
			total += counts[i]
		}
		if total != requests {
			t.Errorf("the sweeps report %d expiries in all (%v), want %d: each request counted once", total, counts, requests)
		}
		for _, id := range want {
			r, err := s.GetApproval(t.Context(), id)
			must(t, err, "GetApproval")
			if r.Status != approval.StatusExpired {
				t.Errorf("%s: Status = %q, want %q", id, r.Status, approval.StatusExpired)
			}
			if reported[id] != 1 {
				t.Errorf("%s: OnDecided called %d times, want once", id, reported[id])
			}
			entries := listAudit(t, s, r.OrgID, approval.AuditFilter{ApprovalID: id})
			if len(entries) != 1 || entries[0].Action != approval.AuditExpired {
				t.Errorf("%s: audit entries = %+v, want exactly one %s", id, entries, approval.AuditExpired)
			}
		}
		if r, err := s.GetApproval(t.Context(), "not-yet"); err != nil || r.Status != approval.StatusPending {
			t.Errorf("the request not yet due: Status %q, error %v; want it pending", r.Status, err)
		}
		check(t, list(t, s, later, 100), nil, "ListExpired after the sweeps")
	})
}
