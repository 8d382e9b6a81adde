package storetest

import (
	"testing"

	"github.com/chatnotify/chatnotify/approval"
)

// exerciseApprovalIsolation checks that approval requests are scoped to
// their organisation: IDs are unique per organisation, and a request of
// another organisation is never read, decided or revealed.
func exerciseApprovalIsolation(t *testing.T, newStore approvalFactory) {
	t.Run("SameIDInAnotherOrgIsANewRequestNotErrConflict", func(t *testing.T) {
		s := newStore(t)
		mine := create(t, s, newOrgRequest(orgA, "shared", "mine"))
		theirs, err := s.CreateApproval(t.Context(), newOrgRequest(orgB, "shared", "theirs"))
		must(t, err, "CreateApproval of an ID another org uses")
		checkSame(t, theirs, asCreated(newOrgRequest(orgB, "shared", "theirs")), "the other org's request")
		checkSame(t, get(t, s, orgA, "shared"), mine, "orgA's request")
		checkSame(t, get(t, s, orgB, "shared"), theirs, "orgB's request")
	})
	t.Run("AnotherOrgsIDIsErrNotFound", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newOrgRequest(orgB, "theirs", "theirs"))
		_, err := s.GetApproval(t.Context(), orgA, "theirs")
		wantErr(t, err, approval.ErrNotFound, "GetApproval of another org's request")
	})
	t.Run("DecidingAnotherOrgsIDIsErrNotFoundAndChangesNothing", func(t *testing.T) {
		s := newStore(t)
		theirs := create(t, s, newOrgRequest(orgB, "theirs", "theirs"))
		for _, o := range []approval.Outcome{
			outcome(approval.StatusApproved, fixedTime, "mallory"),
			outcome(approval.StatusDenied, fixedTime, "mallory"),
			outcome(approval.StatusExpired, deadline.Add(1), ""),
		} {
			cur, err := s.DecideApproval(t.Context(), orgA, "theirs", o)
			wantErr(t, err, approval.ErrNotFound, "DecideApproval("+string(o.Status)+") of another org's request")
			if cur.OrgID == orgB || (cur.Title != "" && cur.Title == theirs.Title) {
				t.Errorf("DecideApproval of another org's request returned it with ErrNotFound: %+v", cur)
			}
		}
		checkSame(t, get(t, s, orgB, "theirs"), theirs, "the other org's request")
	})
	t.Run("DecidingOneOrgsRequestLeavesTheOtherOrgsSameID", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newOrgRequest(orgA, "shared", "mine"))
		theirs := create(t, s, newOrgRequest(orgB, "shared", "theirs"))
		_, err := s.DecideApproval(t.Context(), orgA, "shared", outcome(approval.StatusApproved, fixedTime, "amy"))
		must(t, err, "DecideApproval in orgA")
		checkSame(t, get(t, s, orgB, "shared"), theirs, "orgB's request after orgA's was decided")
		o := outcome(approval.StatusDenied, fixedTime, "bob")
		got, err := s.DecideApproval(t.Context(), orgB, "shared", o)
		must(t, err, "DecideApproval in orgB of the ID orgA has decided")
		checkSame(t, got, asDecided(theirs, o), "orgB's decided request")
		if mine := get(t, s, orgA, "shared"); mine.Status != approval.StatusApproved || mine.ReviewedBy != "amy" {
			t.Errorf("orgA's request is %s by %q after orgB's decision, want approved by amy", mine.Status, mine.ReviewedBy)
		}
	})
}
