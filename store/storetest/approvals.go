package storetest

import (
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// ApprovalStores is what [TestApprovalStore] checks: a store of approval
// requests that also keeps the audit trail, the two interfaces an
// [approval.Service] requires. The optional [approval.AuditLister] and
// [approval.ExpiryLister] are checked when the store implements them.
type ApprovalStores interface {
	approval.ApprovalStore
	approval.AuditLogger
}

// approvalFactory returns a new, empty store for the subtest t.
type approvalFactory = func(t *testing.T) ApprovalStores

// TestApprovalStore checks an [approval.ApprovalStore] with its
// [approval.AuditLogger] against their documented contracts, alone and
// under [approval.Service]: creation, reads, decisions and their deadline
// rule, organisation isolation, and concurrent decisions. When the store
// also implements [approval.AuditLister] or [approval.ExpiryLister], their
// rules are checked too; otherwise those subtests are skipped, saying
// why. newStore is called for every subtest and must return an empty
// store.
func TestApprovalStore(t *testing.T, newStore func(t *testing.T) ApprovalStores) {
	t.Helper()
	t.Run("CreateApproval", func(t *testing.T) { exerciseCreateApproval(t, newStore) })
	t.Run("GetApproval", func(t *testing.T) { exerciseGetApproval(t, newStore) })
	t.Run("DecideApproval", func(t *testing.T) { exerciseDecideApproval(t, newStore) })
	t.Run("Deadline", func(t *testing.T) { exerciseDeadline(t, newStore) })
	t.Run("OrgIsolation", func(t *testing.T) { exerciseApprovalIsolation(t, newStore) })
	t.Run("LogAudit", func(t *testing.T) { exerciseLogAudit(t, newStore) })
	t.Run("ListAudit", func(t *testing.T) { exerciseListAudit(t, newStore) })
	t.Run("ListExpired", func(t *testing.T) { exerciseListExpired(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { exerciseApprovalConcurrency(t, newStore) })
}

// deadline is the ExpiresAt of the requests the suite creates directly in
// the store.
var deadline = fixedTime.Add(24 * time.Hour)

// newRequest returns a request of orgA with every field set, as a caller
// might pass it to CreateApproval (including review fields, which the
// store must clear).
func newRequest(id, seed string) approval.Request {
	r := approval.Request{
		ID:           id,
		OrgID:        orgA,
		RiskScore:    87,
		Status:       approval.StatusApproved,
		CreatedAt:    fixedTime,
		ExpiresAt:    deadline,
		ReviewSource: approval.SourceSlack,
	}
	fill(&r, seed)
	return r
}

// newOrgRequest is newRequest in org.
func newOrgRequest(org, id, seed string) approval.Request {
	r := newRequest(id, seed)
	r.OrgID = org
	return r
}

// asCreated returns what CreateApproval should make of r.
func asCreated(r approval.Request) approval.Request {
	r.Status = approval.StatusPending
	r.ReviewedAt, r.ReviewedBy, r.ReviewerID, r.ReviewSource, r.ReviewNotes = nil, "", "", "", ""
	return r
}

func outcome(st approval.Status, at time.Time, who string) approval.Outcome {
	o := approval.Outcome{Status: st, At: at, ReviewedBy: who, ReviewerID: "U-" + who, Source: approval.SourceTeams}
	if st == approval.StatusExpired {
		o.ReviewedBy, o.ReviewerID, o.Source = "", "", ""
		o.Notes = "Expired before review"
	} else {
		o.Notes = statusName(st) + " by " + who + " via Teams"
	}
	return o
}

// asDecided returns what DecideApproval should make of r.
func asDecided(r approval.Request, o approval.Outcome) approval.Request {
	at := o.At.UTC()
	r.Status, r.ReviewedAt = o.Status, &at
	r.ReviewedBy, r.ReviewerID, r.ReviewSource, r.ReviewNotes = o.ReviewedBy, o.ReviewerID, o.Source, o.Notes
	return r
}

func create(t *testing.T, s approval.ApprovalStore, r approval.Request) approval.Request {
	t.Helper()
	got, err := s.CreateApproval(t.Context(), r)
	must(t, err, "CreateApproval")
	return got
}

func get(t *testing.T, s approval.ApprovalStore, org, id string) approval.Request {
	t.Helper()
	got, err := s.GetApproval(t.Context(), org, id)
	must(t, err, "GetApproval")
	return got
}

func exerciseCreateApproval(t *testing.T, newStore approvalFactory) {
	t.Run("EmptyIDGetsNewUniqueID", func(t *testing.T) {
		s := newStore(t)
		a := create(t, s, newRequest("", "a"))
		b := create(t, s, newRequest("", "b"))
		if a.ID == "" || b.ID == "" || a.ID == b.ID {
			t.Fatalf("CreateApproval with empty IDs gave IDs %q and %q, want two distinct new ones", a.ID, b.ID)
		}
		checkSame(t, get(t, s, orgA, a.ID), a, "stored request")
	})
	t.Run("KeepsGivenID", func(t *testing.T) {
		s := newStore(t)
		got := create(t, s, newRequest("host-chosen-id", "given"))
		if got.ID != "host-chosen-id" {
			t.Errorf("CreateApproval returned ID %q, want the given %q", got.ID, "host-chosen-id")
		}
		get(t, s, orgA, "host-chosen-id")
	})
	t.Run("TakenIDInTheOrgIsErrConflict", func(t *testing.T) {
		s := newStore(t)
		first := create(t, s, newRequest("dup", "first"))
		_, err := s.CreateApproval(t.Context(), newRequest("dup", "second"))
		wantErr(t, err, approval.ErrConflict, "CreateApproval with a taken ID")
		checkSame(t, get(t, s, orgA, "dup"), first, "the first request after the conflict")
	})
	t.Run("EmptyOrgIDIsAnError", func(t *testing.T) {
		s := newStore(t)
		in := newRequest("no-org", "no-org")
		in.OrgID = ""
		if _, err := s.CreateApproval(t.Context(), in); err == nil {
			t.Errorf("CreateApproval of a request without OrgID succeeded, want an error")
		}
	})
	t.Run("StoresEveryFieldAsPendingWithoutReview", func(t *testing.T) {
		s := newStore(t)
		in := newRequest("every-field", "every-field")
		want := asCreated(in)
		checkSame(t, create(t, s, in), want, "CreateApproval result")
		checkSame(t, get(t, s, orgA, in.ID), want, "stored request")
	})
	t.Run("UnsetCreatedAtBecomesNowInUTC", func(t *testing.T) {
		s := newStore(t)
		in := newRequest("now", "now")
		in.CreatedAt = time.Time{}
		clk := startClock()
		got := create(t, s, in)
		clk.check(t, got.CreatedAt, "CreatedAt")
		clk.check(t, get(t, s, orgA, "now").CreatedAt, "stored CreatedAt")
	})
	t.Run("TimesAreStoredInUTC", func(t *testing.T) {
		s := newStore(t)
		in := newRequest("zone", "zone")
		in.CreatedAt, in.ExpiresAt = fixedTime.In(otherZone), deadline.In(otherZone)
		for _, r := range []approval.Request{create(t, s, in), get(t, s, orgA, "zone")} {
			if !r.CreatedAt.Equal(fixedTime) || !r.ExpiresAt.Equal(deadline) {
				t.Errorf("CreatedAt, ExpiresAt = %v, %v; want %v, %v", r.CreatedAt, r.ExpiresAt, fixedTime, deadline)
			}
			checkUTC(t, r.CreatedAt, "CreatedAt")
			checkUTC(t, r.ExpiresAt, "ExpiresAt")
		}
	})
	t.Run("ZeroExpiresAtMeansNoDeadline", func(t *testing.T) {
		s := newStore(t)
		in := newRequest("forever", "forever")
		in.ExpiresAt = time.Time{}
		create(t, s, in)
		if got := get(t, s, orgA, "forever"); !got.ExpiresAt.IsZero() {
			t.Errorf("ExpiresAt = %v, want the zero time", got.ExpiresAt)
		}
	})
}

func exerciseGetApproval(t *testing.T, newStore approvalFactory) {
	t.Run("UnknownIDIsErrNotFound", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newRequest("exists", "exists"))
		_, err := s.GetApproval(t.Context(), orgA, "no-such-request")
		wantErr(t, err, approval.ErrNotFound, "GetApproval of an unknown ID")
	})
	t.Run("ResultDoesNotAliasTheStore", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newRequest("r", "r"))
		decided, err := s.DecideApproval(t.Context(), orgA, "r", outcome(approval.StatusApproved, fixedTime, "amy"))
		must(t, err, "DecideApproval")
		got := get(t, s, orgA, "r")
		*got.ReviewedAt = got.ReviewedAt.Add(time.Hour)
		*decided.ReviewedAt = decided.ReviewedAt.Add(time.Hour)
		if again := get(t, s, orgA, "r"); !again.ReviewedAt.Equal(fixedTime) {
			t.Errorf("changing a returned request's ReviewedAt changed the store: ReviewedAt = %v", again.ReviewedAt)
		}
	})
}

func statusName(st approval.Status) string {
	switch st {
	case approval.StatusApproved:
		return "Approved"
	case approval.StatusDenied:
		return "Denied"
	}
	return string(st)
}
