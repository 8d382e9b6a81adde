package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// newEntry returns an audit entry with every field set.
func newEntry(org, approvalID, seed string, at time.Time) approval.AuditEntry {
	e := approval.AuditEntry{
		ID:         "audit-" + seed,
		OrgID:      org,
		Action:     approval.AuditReviewed,
		ApprovalID: approvalID,
		At:         at,
		Source:     approval.SourceSlack,
		Decision:   approval.StatusApproved,
	}
	fill(&e, seed)
	return e
}

// withLister returns a new store and its [approval.AuditLister], or skips
// t when the store cannot read its trail back.
func withLister(t *testing.T, newStore approvalFactory) (ApprovalStores, approval.AuditLister) {
	t.Helper()
	s := newStore(t)
	return s, auditLister(t, s)
}

func logAudit(t *testing.T, s approval.AuditLogger, e approval.AuditEntry) {
	t.Helper()
	must(t, s.LogAudit(t.Context(), e), "LogAudit")
}

func listAudit(t *testing.T, l approval.AuditLister, org string, f approval.AuditFilter) []approval.AuditEntry {
	t.Helper()
	got, err := l.ListAudit(t.Context(), org, f)
	must(t, err, "ListAudit")
	return got
}

func auditIDs(es []approval.AuditEntry) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// exerciseLogAudit checks [approval.AuditLogger]; reading an entry back
// needs the optional [approval.AuditLister].
func exerciseLogAudit(t *testing.T, newStore approvalFactory) {
	t.Run("AcceptsEntriesWithAndWithoutIDAndAt", func(t *testing.T) {
		s := newStore(t)
		logAudit(t, s, newEntry(orgA, "r", "given", fixedTime))
		e := newEntry(orgA, "r", "unset", fixedTime)
		e.ID, e.At = "", time.Time{}
		logAudit(t, s, e)
	})
	t.Run("StoresEveryField", func(t *testing.T) {
		s, l := withLister(t, newStore)
		e := newEntry(orgA, "r", "every-field", fixedTime)
		logAudit(t, s, e)
		got := listAudit(t, l, orgA, approval.AuditFilter{})
		if len(got) != 1 {
			t.Fatalf("ListAudit returned %d entries, want 1", len(got))
		}
		checkSame(t, got[0], e, "stored audit entry")
		checkUTC(t, got[0].At, "At")
	})
	t.Run("EmptyIDAndZeroAtAreFilledIn", func(t *testing.T) {
		s, l := withLister(t, newStore)
		clk := startClock()
		for range 2 {
			e := newEntry(orgA, "r", "fill", fixedTime)
			e.ID, e.At = "", time.Time{}
			logAudit(t, s, e)
		}
		got := listAudit(t, l, orgA, approval.AuditFilter{})
		if len(got) != 2 {
			t.Fatalf("ListAudit returned %d entries, want 2", len(got))
		}
		if got[0].ID == "" || got[1].ID == "" || got[0].ID == got[1].ID {
			t.Errorf("entries logged without ID got IDs %q and %q, want two distinct new ones", got[0].ID, got[1].ID)
		}
		for _, e := range got {
			clk.check(t, e.At, "At")
		}
	})
	t.Run("GivenAtIsKeptInUTC", func(t *testing.T) {
		s, l := withLister(t, newStore)
		logAudit(t, s, newEntry(orgA, "r", "zone", fixedTime.In(otherZone)))
		got := listAudit(t, l, orgA, approval.AuditFilter{})
		if len(got) != 1 || !got[0].At.Equal(fixedTime) {
			t.Fatalf("ListAudit = %v, want one entry at %v", got, fixedTime)
		}
		checkUTC(t, got[0].At, "At")
	})
	t.Run("EntryIDOfAnotherOrgIsNoConflict", func(t *testing.T) {
		s, l := withLister(t, newStore)
		logAudit(t, s, newEntry(orgA, "r", "same", fixedTime))
		theirs := newEntry(orgB, "r", "same", fixedTime)
		logAudit(t, s, theirs)
		got := listAudit(t, l, orgB, approval.AuditFilter{})
		if len(got) != 1 {
			t.Fatalf("ListAudit(orgB) returned %d entries, want 1", len(got))
		}
		checkSame(t, got[0], theirs, "orgB's entry")
	})
}

// exerciseListAudit checks the optional [approval.AuditLister]: order,
// limit, filter and organisation isolation.
func exerciseListAudit(t *testing.T, newStore approvalFactory) {
	t.Run("NoEntriesGivesEmptyResult", func(t *testing.T) {
		s, l := withLister(t, newStore)
		logAudit(t, s, newEntry(orgB, "r", "theirs", fixedTime))
		if got := listAudit(t, l, orgA, approval.AuditFilter{}); len(got) != 0 {
			t.Errorf("ListAudit of an org without entries = %v, want none", got)
		}
	})
	t.Run("OnlyEntriesOfTheOrg", func(t *testing.T) {
		s, l := withLister(t, newStore)
		logAudit(t, s, newEntry(orgA, "r1", "mine", fixedTime))
		logAudit(t, s, newEntry(orgB, "r2", "theirs", fixedTime))
		logAudit(t, s, newEntry(orgB, "r1", "theirs-same-request-id", fixedTime))
		if ids := auditIDs(listAudit(t, l, orgA, approval.AuditFilter{})); !slices.Equal(ids, []string{"audit-mine"}) {
			t.Errorf("ListAudit(orgA) = %v, want only [audit-mine]", ids)
		}
		if got := listAudit(t, l, orgA, approval.AuditFilter{ApprovalID: "r2"}); len(got) != 0 {
			t.Errorf("ListAudit(orgA) filtered on another org's request = %v, want none", auditIDs(got))
		}
	})
	t.Run("FilterOnARequestIDBothOrgsUseGivesOnlyTheOrgs", func(t *testing.T) {
		s, l := withLister(t, newStore)
		logAudit(t, s, newEntry(orgA, "shared", "mine", fixedTime))
		logAudit(t, s, newEntry(orgB, "shared", "theirs", fixedTime.Add(time.Second)))
		for org, want := range map[string]string{orgA: "audit-mine", orgB: "audit-theirs"} {
			got := listAudit(t, l, org, approval.AuditFilter{ApprovalID: "shared"})
			if ids := auditIDs(got); !slices.Equal(ids, []string{want}) {
				t.Errorf("ListAudit(%s, ApprovalID shared) = %v, want only [%s]", org, ids, want)
			}
		}
	})
	t.Run("NewestFirstThenLatestInserted", func(t *testing.T) {
		s, l := withLister(t, newStore)
		t1, t2, t3 := fixedTime, fixedTime.Add(time.Second), fixedTime.Add(time.Hour)
		for _, e := range []struct {
			seed string
			at   time.Time
		}{{"b", t2}, {"d", t1}, {"a", t3}, {"c", t1}, {"c2", t1}} {
			logAudit(t, s, newEntry(orgA, "r", e.seed, e.at))
		}
		want := []string{"audit-a", "audit-b", "audit-c2", "audit-c", "audit-d"}
		if ids := auditIDs(listAudit(t, l, orgA, approval.AuditFilter{})); !slices.Equal(ids, want) {
			t.Errorf("ListAudit order = %v, want %v", ids, want)
		}
	})
	t.Run("FiltersByApprovalID", func(t *testing.T) {
		s, l := withLister(t, newStore)
		logAudit(t, s, newEntry(orgA, "r1", "one", fixedTime))
		logAudit(t, s, newEntry(orgA, "r2", "two", fixedTime))
		logAudit(t, s, newEntry(orgA, "r1", "three", fixedTime.Add(time.Second)))
		got := listAudit(t, l, orgA, approval.AuditFilter{ApprovalID: "r1"})
		if ids := auditIDs(got); !slices.Equal(ids, []string{"audit-three", "audit-one"}) {
			t.Errorf("ListAudit(ApprovalID r1) = %v, want [audit-three audit-one]", ids)
		}
	})
	t.Run("LimitKeepsTheNewest", func(t *testing.T) {
		s, l := withLister(t, newStore)
		for i := range 5 {
			logAudit(t, s, newEntry(orgA, "r", fmt.Sprint(i), fixedTime.Add(time.Duration(i)*time.Second)))
		}
		got := listAudit(t, l, orgA, approval.AuditFilter{Limit: 2})
		if ids := auditIDs(got); !slices.Equal(ids, []string{"audit-4", "audit-3"}) {
			t.Errorf("ListAudit(Limit 2) = %v, want [audit-4 audit-3]", ids)
		}
	})
	t.Run("ZeroLimitMeans100", func(t *testing.T) {
		s, l := withLister(t, newStore)
		for i := range 101 {
			logAudit(t, s, newEntry(orgA, "r", fmt.Sprint(i), fixedTime.Add(time.Duration(i)*time.Second)))
		}
		got := listAudit(t, l, orgA, approval.AuditFilter{})
		if len(got) != 100 {
			t.Fatalf("ListAudit without a limit returned %d of 101 entries, want 100", len(got))
		}
		if got[0].ID != "audit-100" || got[99].ID != "audit-1" {
			t.Errorf("ListAudit without a limit runs from %s to %s, want audit-100 to audit-1", got[0].ID, got[99].ID)
		}
	})
}
