package storetest

import (
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

func exerciseDecideApproval(t *testing.T, newStore approvalFactory) {
	for _, st := range []approval.Status{approval.StatusApproved, approval.StatusDenied} {
		t.Run("Records"+statusName(st), func(t *testing.T) {
			s := newStore(t)
			created := create(t, s, newRequest("r", "r"))
			o := outcome(st, fixedTime.Add(time.Hour).In(otherZone), "amy")
			got, err := s.DecideApproval(t.Context(), orgA, "r", o)
			must(t, err, "DecideApproval")
			want := asDecided(created, o)
			checkSame(t, got, want, "DecideApproval result")
			stored := get(t, s, orgA, "r")
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
			if _, err := s.DecideApproval(t.Context(), orgA, "r", o); err == nil {
				t.Errorf("DecideApproval with status %q succeeded, want an error", st)
			}
		}
		checkSame(t, get(t, s, orgA, "r"), created, "stored request")
	})
	t.Run("UnknownIDIsErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.DecideApproval(t.Context(), orgA, "no-such-request", outcome(approval.StatusApproved, fixedTime, "amy"))
		wantErr(t, err, approval.ErrNotFound, "DecideApproval of an unknown ID")
	})
	t.Run("SecondDecisionIsErrNotPendingWithCurrentRequest", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newRequest("r", "r"))
		first, err := s.DecideApproval(t.Context(), orgA, "r", outcome(approval.StatusApproved, fixedTime, "amy"))
		must(t, err, "first DecideApproval")
		for _, o := range []approval.Outcome{
			outcome(approval.StatusDenied, fixedTime.Add(time.Second), "bob"),
			outcome(approval.StatusApproved, fixedTime.Add(time.Second), "bob"),
			outcome(approval.StatusExpired, deadline.Add(time.Second), ""),
		} {
			cur, err := s.DecideApproval(t.Context(), orgA, "r", o)
			wantErr(t, err, approval.ErrNotPending, "DecideApproval("+string(o.Status)+") of a decided request")
			checkSame(t, cur, first, "request returned with ErrNotPending")
		}
		checkSame(t, get(t, s, orgA, "r"), first, "stored request")
	})
	t.Run("ExpiredRequestIsErrNotPending", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newRequest("r", "r"))
		expired, err := s.DecideApproval(t.Context(), orgA, "r", outcome(approval.StatusExpired, deadline.Add(time.Second), ""))
		must(t, err, "DecideApproval(expired)")
		cur, err := s.DecideApproval(t.Context(), orgA, "r", outcome(approval.StatusApproved, fixedTime, "amy"))
		wantErr(t, err, approval.ErrNotPending, "approving an expired request")
		if cur.Status != approval.StatusExpired {
			t.Errorf("returned Status = %q, want %q", cur.Status, approval.StatusExpired)
		}
		checkSame(t, get(t, s, orgA, "r"), expired, "stored request")
	})
}

// exerciseDeadline checks DecideApproval's deadline rule: a decision
// succeeds only while the request has not expired at o.At; an expiry may
// be recorded at any time.
func exerciseDeadline(t *testing.T, newStore approvalFactory) {
	for _, st := range []approval.Status{approval.StatusApproved, approval.StatusDenied} {
		for _, c := range []struct {
			name string
			at   time.Time
		}{{"AtDeadline", deadline}, {"AfterDeadline", deadline.Add(time.Second)}} {
			t.Run(statusName(st)+c.name+"IsErrExpiredAndChangesNothing", func(t *testing.T) {
				s := newStore(t)
				created := create(t, s, newRequest("r", "r"))
				cur, err := s.DecideApproval(t.Context(), orgA, "r", outcome(st, c.at, "amy"))
				wantErr(t, err, approval.ErrExpired, "DecideApproval past the deadline")
				checkSame(t, cur, created, "request returned with ErrExpired")
				checkSame(t, get(t, s, orgA, "r"), created, "stored request")
			})
		}
	}
	t.Run("JustBeforeDeadlineSucceeds", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newRequest("r", "r"))
		_, err := s.DecideApproval(t.Context(), orgA, "r", outcome(approval.StatusApproved, deadline.Add(-time.Microsecond), "amy"))
		must(t, err, "DecideApproval one microsecond before the deadline")
	})
	t.Run("ExpiryIsRecordedAfterDeadline", func(t *testing.T) {
		s := newStore(t)
		created := create(t, s, newRequest("r", "r"))
		o := outcome(approval.StatusExpired, deadline.Add(time.Minute), "")
		got, err := s.DecideApproval(t.Context(), orgA, "r", o)
		must(t, err, "DecideApproval(expired) after the deadline")
		want := asDecided(created, o)
		checkSame(t, got, want, "DecideApproval result")
		checkSame(t, get(t, s, orgA, "r"), want, "stored request")
	})
	t.Run("NoDeadlineNeverExpires", func(t *testing.T) {
		s := newStore(t)
		in := newRequest("r", "r")
		in.ExpiresAt = time.Time{}
		create(t, s, in)
		_, err := s.DecideApproval(t.Context(), orgA, "r", outcome(approval.StatusDenied, fixedTime.AddDate(100, 0, 0), "amy"))
		must(t, err, "DecideApproval of a request without deadline")
	})
}
