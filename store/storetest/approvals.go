package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// ApprovalStores is what [TestApprovalStore] checks: a store of approval
// requests that also keeps, and reads back, the audit trail.
type ApprovalStores interface {
	approval.ApprovalStore
	approval.AuditLogger
	approval.AuditLister
}

// deadline is the ExpiresAt of the requests the suite creates directly in
// the store.
var deadline = fixedTime.Add(24 * time.Hour)

// newRequest returns a request with every field set, as a caller might
// pass it to CreateApproval (including review fields, which the store
// must clear).
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
		o.Notes = approval.ReviewNotes(st, who, o.Source)
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

// TestApprovalStore checks an [approval.ApprovalStore], with its
// [approval.AuditLogger] and [approval.AuditLister], against their
// documented contracts, alone and under [approval.Service]. newStore is
// called for every subtest and must return an empty store.
func TestApprovalStore(t *testing.T, newStore func(t *testing.T) ApprovalStores) {
	t.Helper()
	create := func(t *testing.T, s ApprovalStores, r approval.Request) approval.Request {
		t.Helper()
		got, err := s.CreateApproval(t.Context(), r)
		must(t, err, "CreateApproval")
		return got
	}
	get := func(t *testing.T, s ApprovalStores, id string) approval.Request {
		t.Helper()
		got, err := s.GetApproval(t.Context(), id)
		must(t, err, "GetApproval")
		return got
	}

	t.Run("CreateApproval", func(t *testing.T) {
		t.Run("EmptyIDGetsNewUniqueID", func(t *testing.T) {
			s := newStore(t)
			a := create(t, s, newRequest("", "a"))
			b := create(t, s, newRequest("", "b"))
			if a.ID == "" || b.ID == "" || a.ID == b.ID {
				t.Fatalf("CreateApproval with empty IDs gave IDs %q and %q, want two distinct new ones", a.ID, b.ID)
			}
			checkSame(t, get(t, s, a.ID), a, "stored request")
		})
		t.Run("KeepsGivenID", func(t *testing.T) {
			s := newStore(t)
			got := create(t, s, newRequest("host-chosen-id", "given"))
			if got.ID != "host-chosen-id" {
				t.Errorf("CreateApproval returned ID %q, want the given %q", got.ID, "host-chosen-id")
			}
			get(t, s, "host-chosen-id")
		})
		t.Run("TakenIDIsErrConflict", func(t *testing.T) {
			s := newStore(t)
			first := create(t, s, newRequest("dup", "first"))
			_, err := s.CreateApproval(t.Context(), newRequest("dup", "second"))
			wantErr(t, err, approval.ErrConflict, "CreateApproval with a taken ID")
			checkSame(t, get(t, s, "dup"), first, "the first request after the conflict")
		})
		t.Run("StoresEveryFieldAsPendingWithoutReview", func(t *testing.T) {
			s := newStore(t)
			in := newRequest("every-field", "every-field")
			got := create(t, s, in)
			want := asCreated(in)
			checkSame(t, got, want, "CreateApproval result")
			checkSame(t, get(t, s, in.ID), want, "stored request")
		})
		t.Run("UnsetCreatedAtBecomesNowInUTC", func(t *testing.T) {
			s := newStore(t)
			in := newRequest("now", "now")
			in.CreatedAt = time.Time{}
			clk := startClock()
			got := create(t, s, in)
			clk.check(t, got.CreatedAt, "CreatedAt")
			clk.check(t, get(t, s, "now").CreatedAt, "stored CreatedAt")
		})
		t.Run("TimesAreStoredInUTC", func(t *testing.T) {
			s := newStore(t)
			in := newRequest("zone", "zone")
			in.CreatedAt, in.ExpiresAt = fixedTime.In(otherZone), deadline.In(otherZone)
			for _, r := range []approval.Request{create(t, s, in), get(t, s, "zone")} {
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
			if got := get(t, s, "forever"); !got.ExpiresAt.IsZero() {
				t.Errorf("ExpiresAt = %v, want the zero time", got.ExpiresAt)
			}
		})
	})

	t.Run("GetApproval", func(t *testing.T) {
		t.Run("UnknownIDIsErrNotFound", func(t *testing.T) {
			s := newStore(t)
			create(t, s, newRequest("exists", "exists"))
			_, err := s.GetApproval(t.Context(), "no-such-request")
			wantErr(t, err, approval.ErrNotFound, "GetApproval of an unknown ID")
		})
	})

	t.Run("DecideApproval", func(t *testing.T) {
		for _, st := range []approval.Status{approval.StatusApproved, approval.StatusDenied} {
			t.Run("Records"+statusName(st), func(t *testing.T) {
				s := newStore(t)
				created := create(t, s, newRequest("r", "r"))
				o := outcome(st, fixedTime.Add(time.Hour).In(otherZone), "amy")
				got, err := s.DecideApproval(t.Context(), "r", o)
				must(t, err, "DecideApproval")
				want := asDecided(created, o)
				checkSame(t, got, want, "DecideApproval result")
				stored := get(t, s, "r")
				checkSame(t, stored, want, "stored request")
				if stored.ReviewedAt != nil {
					checkUTC(t, *stored.ReviewedAt, "ReviewedAt")
				}
			})
		}
		t.Run("NonDecidingStatusIsAnErrorAndChangesNothing", func(t *testing.T) {
			s := newStore(t)
			created := create(t, s, newRequest("r", "r"))
			for _, st := range []approval.Status{"", approval.StatusPending, "bogus"} {
				o := outcome(approval.StatusApproved, fixedTime, "amy")
				o.Status = st
				if _, err := s.DecideApproval(t.Context(), "r", o); err == nil {
					t.Errorf("DecideApproval with status %q succeeded, want an error", st)
				}
			}
			checkSame(t, get(t, s, "r"), created, "stored request")
		})
		t.Run("UnknownIDIsErrNotFound", func(t *testing.T) {
			s := newStore(t)
			_, err := s.DecideApproval(t.Context(), "no-such-request", outcome(approval.StatusApproved, fixedTime, "amy"))
			wantErr(t, err, approval.ErrNotFound, "DecideApproval of an unknown ID")
		})
		t.Run("SecondDecisionIsErrNotPendingWithCurrentRequest", func(t *testing.T) {
			s := newStore(t)
			create(t, s, newRequest("r", "r"))
			first, err := s.DecideApproval(t.Context(), "r", outcome(approval.StatusApproved, fixedTime, "amy"))
			must(t, err, "first DecideApproval")
			for _, o := range []approval.Outcome{
				outcome(approval.StatusDenied, fixedTime.Add(time.Second), "bob"),
				outcome(approval.StatusApproved, fixedTime.Add(time.Second), "bob"),
				outcome(approval.StatusExpired, deadline.Add(time.Second), ""),
			} {
				cur, err := s.DecideApproval(t.Context(), "r", o)
				wantErr(t, err, approval.ErrNotPending, "DecideApproval("+string(o.Status)+") of a decided request")
				checkSame(t, cur, first, "request returned with ErrNotPending")
			}
			checkSame(t, get(t, s, "r"), first, "stored request")
		})
		t.Run("ExpiredRequestIsErrNotPending", func(t *testing.T) {
			s := newStore(t)
			create(t, s, newRequest("r", "r"))
			expired, err := s.DecideApproval(t.Context(), "r", outcome(approval.StatusExpired, deadline.Add(time.Second), ""))
			must(t, err, "DecideApproval(expired)")
			cur, err := s.DecideApproval(t.Context(), "r", outcome(approval.StatusApproved, fixedTime, "amy"))
			wantErr(t, err, approval.ErrNotPending, "approving an expired request")
			if cur.Status != approval.StatusExpired {
				t.Errorf("returned Status = %q, want %q", cur.Status, approval.StatusExpired)
			}
			checkSame(t, get(t, s, "r"), expired, "stored request")
		})
		for _, st := range []approval.Status{approval.StatusApproved, approval.StatusDenied} {
			for _, c := range []struct {
				name string
				at   time.Time
			}{{"AtDeadline", deadline}, {"AfterDeadline", deadline.Add(time.Second)}} {
				t.Run(statusName(st)+c.name+"IsErrExpiredAndChangesNothing", func(t *testing.T) {
					s := newStore(t)
					created := create(t, s, newRequest("r", "r"))
					cur, err := s.DecideApproval(t.Context(), "r", outcome(st, c.at, "amy"))
					wantErr(t, err, approval.ErrExpired, "DecideApproval past the deadline")
					checkSame(t, cur, created, "request returned with ErrExpired")
					checkSame(t, get(t, s, "r"), created, "stored request")
				})
			}
		}
		t.Run("JustBeforeDeadlineSucceeds", func(t *testing.T) {
			s := newStore(t)
			create(t, s, newRequest("r", "r"))
			_, err := s.DecideApproval(t.Context(), "r", outcome(approval.StatusApproved, deadline.Add(-time.Microsecond), "amy"))
			must(t, err, "DecideApproval one microsecond before the deadline")
		})
		t.Run("ExpiryIsRecordedAfterDeadline", func(t *testing.T) {
			s := newStore(t)
			created := create(t, s, newRequest("r", "r"))
			o := outcome(approval.StatusExpired, deadline.Add(time.Minute), "")
			got, err := s.DecideApproval(t.Context(), "r", o)
			must(t, err, "DecideApproval(expired) after the deadline")
			want := asDecided(created, o)
			checkSame(t, got, want, "DecideApproval result")
			checkSame(t, get(t, s, "r"), want, "stored request")
		})
		t.Run("NoDeadlineNeverExpires", func(t *testing.T) {
			s := newStore(t)
			in := newRequest("r", "r")
			in.ExpiresAt = time.Time{}
			create(t, s, in)
			_, err := s.DecideApproval(t.Context(), "r", outcome(approval.StatusDenied, fixedTime.AddDate(100, 0, 0), "amy"))
			must(t, err, "DecideApproval of a request without deadline")
		})
		t.Run("ConcurrentCallsExactlyOneSucceeds", func(t *testing.T) {
			s := newStore(t)
			create(t, s, newRequest("r", "r"))
			type result struct {
				r   approval.Request
				err error
			}
			res := make([]result, concurrency)
			race(concurrency, func(i int) {
				st := []approval.Status{approval.StatusApproved, approval.StatusDenied}[i%2]
				r, err := s.DecideApproval(t.Context(), "r", outcome(st, fixedTime, fmt.Sprintf("reviewer-%d", i)))
				res[i] = result{r, err}
			})
			winner := -1
			for i, r := range res {
				if r.err == nil {
					if winner >= 0 {
						t.Errorf("goroutines %d and %d both decided the request", winner, i)
					}
					winner = i
				}
			}
			if winner < 0 {
				t.Fatalf("none of %d concurrent DecideApproval calls succeeded: first error %v", concurrency, res[0].err)
			}
			won := res[winner].r
			for i, r := range res {
				if i == winner {
					continue
				}
				if !errors.Is(r.err, approval.ErrNotPending) {
					t.Errorf("goroutine %d: got %v, want ErrNotPending", i, r.err)
					continue
				}
				if r.r.Status != won.Status || r.r.ReviewedBy != won.ReviewedBy {
					t.Errorf("goroutine %d: returned request %s by %q, want the winner's %s by %q",
						i, r.r.Status, r.r.ReviewedBy, won.Status, won.ReviewedBy)
				}
			}
			checkSame(t, get(t, s, "r"), won, "stored request")
		})
	})

	t.Run("ListExpired", func(t *testing.T) { testListExpired(t, newStore) })

	t.Run("LogAudit", func(t *testing.T) {
		t.Run("StoresEveryField", func(t *testing.T) {
			s := newStore(t)
			e := newEntry(orgA, "r", "every-field", fixedTime)
			must(t, s.LogAudit(t.Context(), e), "LogAudit")
			got := listAudit(t, s, orgA, approval.AuditFilter{})
			if len(got) != 1 {
				t.Fatalf("ListAudit returned %d entries, want 1", len(got))
			}
			checkSame(t, got[0], e, "stored audit entry")
			checkUTC(t, got[0].At, "At")
		})
		t.Run("EmptyIDAndZeroAtAreFilledIn", func(t *testing.T) {
			s := newStore(t)
			clk := startClock()
			for range 2 {
				e := newEntry(orgA, "r", "fill", fixedTime)
				e.ID, e.At = "", time.Time{}
				must(t, s.LogAudit(t.Context(), e), "LogAudit")
			}
			got := listAudit(t, s, orgA, approval.AuditFilter{})
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
			s := newStore(t)
			must(t, s.LogAudit(t.Context(), newEntry(orgA, "r", "zone", fixedTime.In(otherZone))), "LogAudit")
			got := listAudit(t, s, orgA, approval.AuditFilter{})
			if len(got) != 1 || !got[0].At.Equal(fixedTime) {
				t.Fatalf("ListAudit = %v, want one entry at %v", got, fixedTime)
			}
			checkUTC(t, got[0].At, "At")
		})
	})

	t.Run("ListAudit", func(t *testing.T) {
		t.Run("NoEntriesGivesEmptyResult", func(t *testing.T) {
			s := newStore(t)
			must(t, s.LogAudit(t.Context(), newEntry(orgB, "r", "theirs", fixedTime)), "LogAudit")
			if got := listAudit(t, s, orgA, approval.AuditFilter{}); len(got) != 0 {
				t.Errorf("ListAudit of an org without entries = %v, want none", got)
			}
		})
		t.Run("OnlyEntriesOfTheOrg", func(t *testing.T) {
			s := newStore(t)
			must(t, s.LogAudit(t.Context(), newEntry(orgA, "r1", "mine", fixedTime)), "LogAudit")
			must(t, s.LogAudit(t.Context(), newEntry(orgB, "r2", "theirs", fixedTime)), "LogAudit")
			must(t, s.LogAudit(t.Context(), newEntry(orgB, "r1", "theirs-same-request", fixedTime)), "LogAudit")
			got := listAudit(t, s, orgA, approval.AuditFilter{})
			if ids := auditIDs(got); !slices.Equal(ids, []string{"audit-mine"}) {
				t.Errorf("ListAudit(orgA) = %v, want only [audit-mine]", ids)
			}
			got = listAudit(t, s, orgA, approval.AuditFilter{ApprovalID: "r2"})
			if len(got) != 0 {
				t.Errorf("ListAudit(orgA) filtered on another org's request = %v, want none", auditIDs(got))
			}
		})
		t.Run("NewestFirstThenLatestInserted", func(t *testing.T) {
			s := newStore(t)
			t1, t2, t3 := fixedTime, fixedTime.Add(time.Second), fixedTime.Add(time.Hour)
			for _, e := range []struct {
				seed string
				at   time.Time
			}{{"b", t2}, {"d", t1}, {"a", t3}, {"c", t1}, {"c2", t1}} {
				must(t, s.LogAudit(t.Context(), newEntry(orgA, "r", e.seed, e.at)), "LogAudit")
			}
			want := []string{"audit-a", "audit-b", "audit-c2", "audit-c", "audit-d"}
			if ids := auditIDs(listAudit(t, s, orgA, approval.AuditFilter{})); !slices.Equal(ids, want) {
				t.Errorf("ListAudit order = %v, want %v", ids, want)
			}
		})
		t.Run("FiltersByApprovalID", func(t *testing.T) {
			s := newStore(t)
			must(t, s.LogAudit(t.Context(), newEntry(orgA, "r1", "one", fixedTime)), "LogAudit")
			must(t, s.LogAudit(t.Context(), newEntry(orgA, "r2", "two", fixedTime)), "LogAudit")
			must(t, s.LogAudit(t.Context(), newEntry(orgA, "r1", "three", fixedTime.Add(time.Second))), "LogAudit")
			got := listAudit(t, s, orgA, approval.AuditFilter{ApprovalID: "r1"})
			if ids := auditIDs(got); !slices.Equal(ids, []string{"audit-three", "audit-one"}) {
				t.Errorf("ListAudit(ApprovalID r1) = %v, want [audit-three audit-one]", ids)
			}
		})
		t.Run("LimitKeepsTheNewest", func(t *testing.T) {
			s := newStore(t)
			for i := range 5 {
				e := newEntry(orgA, "r", fmt.Sprint(i), fixedTime.Add(time.Duration(i)*time.Second))
				must(t, s.LogAudit(t.Context(), e), "LogAudit")
			}
			got := listAudit(t, s, orgA, approval.AuditFilter{Limit: 2})
			if ids := auditIDs(got); !slices.Equal(ids, []string{"audit-4", "audit-3"}) {
				t.Errorf("ListAudit(Limit 2) = %v, want [audit-4 audit-3]", ids)
			}
		})
		t.Run("ZeroLimitMeans100", func(t *testing.T) {
			s := newStore(t)
			for i := range 101 {
				e := newEntry(orgA, "r", fmt.Sprint(i), fixedTime.Add(time.Duration(i)*time.Second))
				must(t, s.LogAudit(t.Context(), e), "LogAudit")
			}
			got := listAudit(t, s, orgA, approval.AuditFilter{})
			if len(got) != 100 {
				t.Fatalf("ListAudit without a limit returned %d of 101 entries, want 100", len(got))
			}
			if got[0].ID != "audit-100" || got[99].ID != "audit-1" {
				t.Errorf("ListAudit without a limit runs from %s to %s, want audit-100 to audit-1", got[0].ID, got[99].ID)
			}
		})
	})

	t.Run("Concurrency", func(t *testing.T) {
		t.Run("ConcurrentLogAuditKeepsEveryEntry", func(t *testing.T) {
			s := newStore(t)
			errs := make([]error, concurrency)
			race(concurrency, func(i int) {
				e := newEntry(orgA, "r", "", time.Time{})
				e.ID, e.At = "", time.Time{}
				if errs[i] = s.LogAudit(t.Context(), e); errs[i] == nil {
					_, errs[i] = s.ListAudit(t.Context(), orgA, approval.AuditFilter{Limit: 5})
				}
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
				}
			}
			got := listAudit(t, s, orgA, approval.AuditFilter{Limit: 1000})
			ids := auditIDs(got)
			slices.Sort(ids)
			if len(slices.Compact(ids)) != concurrency {
				t.Errorf("%d concurrent LogAudit calls left %d distinct entries", concurrency, len(ids))
			}
		})
		t.Run("ServiceReviewDecidesOnceAndAuditsOnce", func(t *testing.T) {
			s := newStore(t)
			svc, err := approval.NewService(s, s, nil)
			must(t, err, "approval.NewService")
			in := newRequest("r", "r")
			in.CreatedAt, in.ExpiresAt = time.Now(), time.Now().Add(time.Hour)
			create(t, s, in)

			type result struct {
				r   approval.Request
				err error
			}
			res := make([]result, concurrency)
			race(concurrency, func(i int) {
				d := []approval.Decision{approval.Approve, approval.Deny}[i%2]
				rv := approval.Reviewer{ID: fmt.Sprintf("U%03d", i), Name: fmt.Sprintf("reviewer-%d", i), Verified: true}
				r, err := svc.Review(t.Context(), "r", d, rv, approval.SourceSlack)
				res[i] = result{r, err}
			})

			winner := -1
			for i, r := range res {
				if r.err == nil {
					if winner >= 0 {
						t.Errorf("reviews %d and %d both succeeded", winner, i)
					}
					winner = i
				}
			}
			if winner < 0 {
				t.Fatalf("none of %d concurrent reviews succeeded: first error %v", concurrency, res[0].err)
			}
			won := res[winner].r
			already := approval.ErrAlreadyApproved
			if won.Status == approval.StatusDenied {
				already = approval.ErrAlreadyDenied
			}
			failed := 0
			for i, r := range res {
				if i == winner {
					continue
				}
				failed++
				if !errors.Is(r.err, already) || !errors.Is(r.err, approval.ErrNotPending) {
					t.Errorf("review %d: got %v, want %v (matching ErrNotPending)", i, r.err, already)
				}
			}
			if failed != concurrency-1 {
				t.Errorf("%d reviews failed, want %d", failed, concurrency-1)
			}
			if won.ReviewedBy != fmt.Sprintf("reviewer-%d", winner) {
				t.Errorf("stored reviewer %q, want the winner reviewer-%d", won.ReviewedBy, winner)
			}
			checkSame(t, get(t, s, "r"), won, "stored request")

			entries := listAudit(t, s, orgA, approval.AuditFilter{ApprovalID: "r"})
			if len(entries) != 1 {
				t.Fatalf("ListAudit has %d entries for the request, want exactly 1", len(entries))
			}
			e := entries[0]
			if e.Action != approval.AuditReviewed || e.Actor != won.ReviewedBy || e.ActorID != won.ReviewerID ||
				e.Decision != won.Status || e.RiskScore != in.RiskScore || e.Source != approval.SourceSlack || !e.Verified {
				t.Errorf("audit entry = %+v, want %s by %s (%s) deciding %s at risk %d from slack, verified",
					e, approval.AuditReviewed, won.ReviewedBy, won.ReviewerID, won.Status, in.RiskScore)
			}
		})
		t.Run("ServiceReviewOfOverdueRequestExpiresOnce", func(t *testing.T) {
			s := newStore(t)
			svc, err := approval.NewService(s, s, &approval.Options{
				Now: func() time.Time { return deadline.Add(time.Minute) },
			})
			must(t, err, "approval.NewService")
			create(t, s, newRequest("r", "r"))

			errs := make([]error, concurrency)
			race(concurrency, func(i int) {
				d := []approval.Decision{approval.Approve, approval.Deny}[i%2]
				_, errs[i] = svc.Review(t.Context(), "r", d, approval.Reviewer{Name: fmt.Sprint(i)}, approval.SourceTeams)
			})
			for i, err := range errs {
				if !errors.Is(err, approval.ErrExpired) {
					t.Errorf("review %d: got %v, want ErrExpired", i, err)
				}
			}
			if got := get(t, s, "r"); got.Status != approval.StatusExpired {
				t.Errorf("stored Status = %q, want %q", got.Status, approval.StatusExpired)
			}
			entries := listAudit(t, s, orgA, approval.AuditFilter{ApprovalID: "r"})
			if len(entries) != 1 || entries[0].Action != approval.AuditExpired {
				t.Errorf("audit entries = %+v, want exactly one %s", entries, approval.AuditExpired)
			}
		})
	})
}

func listAudit(t *testing.T, s approval.AuditLister, org string, f approval.AuditFilter) []approval.AuditEntry {
	t.Helper()
	got, err := s.ListAudit(t.Context(), org, f)
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

func statusName(st approval.Status) string {
	switch st {
	case approval.StatusApproved:
		return "Approved"
	case approval.StatusDenied:
		return "Denied"
	}
	return string(st)
}
