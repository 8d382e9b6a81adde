package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// exerciseApprovalConcurrency runs many goroutines against one store;
// run it with -race. DecideApproval is atomic: of any number of
// concurrent calls for one request exactly one succeeds, and through
// [approval.Service] exactly one audit entry is written.
func exerciseApprovalConcurrency(t *testing.T, newStore approvalFactory) {
	t.Run("DecideApprovalExactlyOneSucceeds", func(t *testing.T) { concurrentDecide(t, newStore(t)) })
	t.Run("SameIDInTwoOrgsDecidedOncePerOrg", func(t *testing.T) { concurrentDecideTwoOrgs(t, newStore(t)) })
	t.Run("LogAuditKeepsEveryEntry", func(t *testing.T) { concurrentLogAudit(t, newStore(t)) })
	t.Run("ServiceReviewDecidesOnceAndAuditsOnce", func(t *testing.T) { concurrentReview(t, newStore(t)) })
	t.Run("ServiceReviewOfOverdueRequestExpiresOnce", func(t *testing.T) { concurrentOverdueReview(t, newStore(t)) })
	t.Run("ServiceExpireDueSweepsExpireEachOnce", func(t *testing.T) { concurrentSweeps(t, newStore) })
}

// decision is one goroutine's result.
type decision struct {
	r   approval.Request
	err error
}

// onlyWinner returns the index of the one successful call of res, failing
// t unless there is exactly one.
func onlyWinner(t *testing.T, res []decision, what string) int {
	t.Helper()
	winner := -1
	for i, r := range res {
		if r.err == nil {
			if winner >= 0 {
				t.Errorf("%s: calls %d and %d both succeeded", what, winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("%s: none of %d concurrent calls succeeded: first error %v", what, len(res), res[0].err)
	}
	return winner
}

func concurrentDecide(t *testing.T, s ApprovalStores) {
	create(t, s, newRequest("r", "r"))
	res := make([]decision, concurrency)
	race(concurrency, func(i int) {
		st := []approval.Status{approval.StatusApproved, approval.StatusDenied}[i%2]
		r, err := s.DecideApproval(t.Context(), orgA, "r", outcome(st, fixedTime, fmt.Sprintf("reviewer-%d", i)))
		res[i] = decision{r, err}
	})
	winner := onlyWinner(t, res, "DecideApproval")
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
	checkSame(t, get(t, s, orgA, "r"), won, "stored request")
}

func concurrentDecideTwoOrgs(t *testing.T, s ApprovalStores) {
	orgs := []string{orgA, orgB}
	for _, org := range orgs {
		create(t, s, newOrgRequest(org, "shared", org))
	}
	res := make([]decision, concurrency)
	race(concurrency, func(i int) {
		r, err := s.DecideApproval(t.Context(), orgs[i%2], "shared", outcome(approval.StatusApproved, fixedTime, fmt.Sprint(i)))
		res[i] = decision{r, err}
	})
	for k, org := range orgs {
		var mine []decision
		for i := k; i < concurrency; i += 2 {
			mine = append(mine, res[i])
		}
		winner := onlyWinner(t, mine, "DecideApproval in "+org)
		if got := mine[winner].r; got.OrgID != org {
			t.Errorf("a decision in %s returned a request of %q", org, got.OrgID)
		}
		if stored := get(t, s, org, "shared"); stored.Status != approval.StatusApproved {
			t.Errorf("%s's request: Status %q, want approved", org, stored.Status)
		}
	}
}

func concurrentLogAudit(t *testing.T, s ApprovalStores) {
	lister, _ := s.(approval.AuditLister)
	errs := make([]error, concurrency)
	race(concurrency, func(i int) {
		e := newEntry(orgA, "r", "", time.Time{})
		e.ID, e.At = "", time.Time{}
		if errs[i] = s.LogAudit(t.Context(), e); errs[i] == nil && lister != nil {
			_, errs[i] = lister.ListAudit(t.Context(), orgA, approval.AuditFilter{Limit: 5})
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	l := auditLister(t, s)
	ids := auditIDs(listAudit(t, l, orgA, approval.AuditFilter{Limit: 1000}))
	slices.Sort(ids)
	if n := len(slices.Compact(ids)); n != concurrency {
		t.Errorf("%d concurrent LogAudit calls left %d distinct entries", concurrency, n)
	}
}

// newService returns a Service on s whose audit entries are recorded.
func newService(t *testing.T, s ApprovalStores, opts *approval.Options) (*approval.Service, *auditRecorder) {
	t.Helper()
	rec := &auditRecorder{next: s}
	svc, err := approval.NewService(s, rec, opts)
	must(t, err, "approval.NewService")
	return svc, rec
}

// checkAuditedOnce checks that exactly one entry of action was written
// for the request id of org, and returns it. When s can read its trail
// back, the stored trail must hold that one entry too.
func checkAuditedOnce(t *testing.T, s ApprovalStores, rec *auditRecorder, org, id, action string) approval.AuditEntry {
	t.Helper()
	entries := rec.of(org, id)
	if len(entries) != 1 || entries[0].Action != action {
		t.Fatalf("audit entries written for %s/%s: %+v, want exactly one %s", org, id, entries, action)
	}
	if l, ok := s.(approval.AuditLister); ok {
		stored := listAudit(t, l, org, approval.AuditFilter{ApprovalID: id})
		if len(stored) != 1 || stored[0].Action != action {
			t.Errorf("stored audit entries for %s/%s: %+v, want exactly one %s", org, id, stored, action)
		}
	}
	return entries[0]
}

func concurrentReview(t *testing.T, s ApprovalStores) {
	svc, rec := newService(t, s, nil)
	in := newRequest("r", "r")
	in.CreatedAt, in.ExpiresAt = time.Now(), time.Now().Add(time.Hour)
	create(t, s, in)

	res := make([]decision, concurrency)
	race(concurrency, func(i int) {
		d := []approval.Decision{approval.Approve, approval.Deny}[i%2]
		rv := approval.Reviewer{ID: fmt.Sprintf("U%03d", i), Name: fmt.Sprintf("reviewer-%d", i), Verified: true}
		r, err := svc.Review(t.Context(), orgA, "r", d, rv, approval.SourceSlack)
		res[i] = decision{r, err}
	})
	winner := onlyWinner(t, res, "Service.Review")
	won := res[winner].r
	already := "Already approved"
	if won.Status == approval.StatusDenied {
		already = "Already denied"
	}
	for i, r := range res {
		if i != winner && (approval.Message(r.err) != already || !errors.Is(r.err, approval.ErrNotPending)) {
			t.Errorf("review %d: got %v (%q), want ErrNotPending saying %q", i, r.err, approval.Message(r.err), already)
		}
	}
	if won.ReviewedBy != fmt.Sprintf("reviewer-%d", winner) {
		t.Errorf("stored reviewer %q, want the winner reviewer-%d", won.ReviewedBy, winner)
	}
	checkSame(t, get(t, s, orgA, "r"), won, "stored request")

	e := checkAuditedOnce(t, s, rec, orgA, "r", approval.AuditReviewed)
	if e.Actor != won.ReviewedBy || e.ActorID != won.ReviewerID || e.Decision != won.Status ||
		e.RiskScore != in.RiskScore || e.Source != approval.SourceSlack || !e.Verified {
		t.Errorf("audit entry = %+v, want %s by %s (%s) deciding %s at risk %d from slack, verified",
			e, approval.AuditReviewed, won.ReviewedBy, won.ReviewerID, won.Status, in.RiskScore)
	}
}

func concurrentOverdueReview(t *testing.T, s ApprovalStores) {
	svc, rec := newService(t, s, &approval.Options{Now: func() time.Time { return deadline.Add(time.Minute) }})
	create(t, s, newRequest("r", "r"))
	errs := make([]error, concurrency)
	race(concurrency, func(i int) {
		d := []approval.Decision{approval.Approve, approval.Deny}[i%2]
		_, errs[i] = svc.Review(t.Context(), orgA, "r", d, approval.Reviewer{Name: fmt.Sprint(i)}, approval.SourceTeams)
	})
	for i, err := range errs {
		if !errors.Is(err, approval.ErrExpired) {
			t.Errorf("review %d: got %v, want ErrExpired", i, err)
		}
	}
	if got := get(t, s, orgA, "r"); got.Status != approval.StatusExpired {
		t.Errorf("stored Status = %q, want %q", got.Status, approval.StatusExpired)
	}
	checkAuditedOnce(t, s, rec, orgA, "r", approval.AuditExpired)
}

// concurrentSweeps runs ten [approval.Service.ExpireDue] sweeps at once,
// as replicas would: each due request, of either organisation, is
// expired, audited, handed to FollowUp and counted once.
func concurrentSweeps(t *testing.T, newStore approvalFactory) {
	s, _ := withExpiryLister(t, newStore)
	const requests, sweeps = 20, 10
	var want []string
	for i := range requests {
		org := []string{orgA, orgB}[i%2]
		// Two requests of each ID, one per organisation.
		id := fmt.Sprintf("r%02d", i/2)
		due(t, s, org, id, deadline.Add(time.Duration(i)*time.Second))
		want = append(want, org+"/"+id)
	}
	due(t, s, orgA, "not-yet", later.Add(time.Second))
	var mu sync.Mutex
	decided := map[string]int{}
	svc, rec := newService(t, s, &approval.Options{
		Now: func() time.Time { return later },
		FollowUp: func(_ context.Context, f approval.FollowUp) {
			if f.Decided {
				mu.Lock()
				decided[f.Request.OrgID+"/"+f.Request.ID]++
				mu.Unlock()
			}
		},
	})

	counts := make([]int, sweeps)
	errs := make([]error, sweeps)
	race(sweeps, func(i int) { counts[i], errs[i] = svc.ExpireDue(t.Context(), 100) })
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
	for _, key := range want {
		org, id, _ := strings.Cut(key, "/")
		if r := get(t, s, org, id); r.Status != approval.StatusExpired {
			t.Errorf("%s: Status = %q, want %q", key, r.Status, approval.StatusExpired)
		}
		if decided[key] != 1 {
			t.Errorf("%s: FollowUp with Decided called %d times, want once", key, decided[key])
		}
		checkAuditedOnce(t, s, rec, org, id, approval.AuditExpired)
	}
	if r := get(t, s, orgA, "not-yet"); r.Status != approval.StatusPending {
		t.Errorf("the request not yet due: Status %q, want it pending", r.Status)
	}
}
