package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/notify"
)

// postFactory returns a new, empty store for the subtest t.
type postFactory = func(t *testing.T) notify.PostStore

// TestPostStore checks a [notify.PostStore] against its documented
// contract: recording, listing in order, organisation isolation and
// concurrent use. newStore is called for every subtest and must return an
// empty store.
func TestPostStore(t *testing.T, newStore func(t *testing.T) notify.PostStore) {
	t.Helper()
	t.Run("RecordPost", func(t *testing.T) { exerciseRecordPost(t, newStore) })
	t.Run("ListPosts", func(t *testing.T) { exerciseListPosts(t, newStore) })
	t.Run("OrgIsolation", func(t *testing.T) { exercisePostIsolation(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { exercisePostConcurrency(t, newStore) })
}

// newPost returns a post of the request approvalID of org with every
// field set.
func newPost(org, approvalID, seed string, at time.Time) notify.Post {
	p := notify.Post{
		ApprovalID:  approvalID,
		OrgID:       org,
		ChannelType: notify.Slack,
		PostedAt:    at,
	}
	fill(&p, seed)
	return p
}

func recordPost(t *testing.T, s notify.PostStore, p notify.Post) {
	t.Helper()
	must(t, s.RecordPost(t.Context(), p), "RecordPost")
}

func listPosts(t *testing.T, s notify.PostStore, org, approvalID string) []notify.Post {
	t.Helper()
	got, err := s.ListPosts(t.Context(), org, approvalID)
	must(t, err, "ListPosts")
	return got
}

// onePost returns the one post of the request approvalID of org.
func onePost(t *testing.T, s notify.PostStore, org, approvalID string) notify.Post {
	t.Helper()
	got := listPosts(t, s, org, approvalID)
	if len(got) != 1 {
		t.Fatalf("ListPosts(%s, %s) returned %d posts, want 1", org, approvalID, len(got))
	}
	return got[0]
}

func exerciseRecordPost(t *testing.T, newStore postFactory) {
	t.Run("StoresEveryField", func(t *testing.T) {
		s := newStore(t)
		p := newPost(orgA, "appr-1", "every-field", fixedTime)
		recordPost(t, s, p)
		got := onePost(t, s, orgA, "appr-1")
		checkSame(t, got, p, "stored post")
		checkUTC(t, got.PostedAt, "PostedAt")
	})
	t.Run("ZeroPostedAtBecomesNowInUTC", func(t *testing.T) {
		s := newStore(t)
		p := newPost(orgA, "appr-1", "now", time.Time{})
		p.PostedAt = time.Time{}
		clk := startClock()
		recordPost(t, s, p)
		clk.check(t, onePost(t, s, orgA, "appr-1").PostedAt, "PostedAt")
	})
	t.Run("GivenPostedAtIsKeptInUTC", func(t *testing.T) {
		s := newStore(t)
		recordPost(t, s, newPost(orgA, "appr-1", "zone", fixedTime.In(otherZone)))
		got := onePost(t, s, orgA, "appr-1")
		if !got.PostedAt.Equal(fixedTime) {
			t.Errorf("PostedAt = %v, want %v", got.PostedAt, fixedTime)
		}
		checkUTC(t, got.PostedAt, "PostedAt")
	})
}

func exerciseListPosts(t *testing.T, newStore postFactory) {
	t.Run("NoPostsGivesEmptyNonNilSlice", func(t *testing.T) {
		s := newStore(t)
		recordPost(t, s, newPost(orgA, "other", "other", fixedTime))
		if got := listPosts(t, s, orgA, "appr-1"); got == nil || len(got) != 0 {
			t.Fatalf("ListPosts without posts = %#v, want an empty non-nil slice", got)
		}
	})
	t.Run("OldestFirstThenInsertionOrder", func(t *testing.T) {
		s := newStore(t)
		t1, t2, t3 := fixedTime, fixedTime.Add(time.Second), fixedTime.Add(time.Hour)
		for _, p := range []struct {
			seed string
			at   time.Time
		}{{"c", t2}, {"a", t1}, {"d", t3}, {"b", t1}, {"b2", t1}} {
			recordPost(t, s, newPost(orgA, "appr-1", p.seed, p.at))
		}
		want := []string{"a-ChannelID", "b-ChannelID", "b2-ChannelID", "c-ChannelID", "d-ChannelID"}
		if order := postChannels(listPosts(t, s, orgA, "appr-1")); !slices.Equal(order, want) {
			t.Errorf("ListPosts order = %v, want %v", order, want)
		}
	})
	t.Run("OnlyPostsOfTheApproval", func(t *testing.T) {
		s := newStore(t)
		recordPost(t, s, newPost(orgA, "appr-1", "mine-1", fixedTime))
		recordPost(t, s, newPost(orgA, "appr-2", "theirs", fixedTime))
		recordPost(t, s, newPost(orgA, "appr-1", "mine-2", fixedTime.Add(time.Second)))
		want := []string{"mine-1-ChannelID", "mine-2-ChannelID"}
		if got := postChannels(listPosts(t, s, orgA, "appr-1")); !slices.Equal(got, want) {
			t.Errorf("ListPosts(appr-1) = %v, want %v", got, want)
		}
	})
}

// exercisePostIsolation checks that posts are scoped to their
// organisation: the same request ID in another organisation names
// another request, whose posts are never listed.
func exercisePostIsolation(t *testing.T, newStore postFactory) {
	t.Run("NeverListsAnotherOrgsPostsOfTheSameRequestID", func(t *testing.T) {
		s := newStore(t)
		mine := newPost(orgA, "shared", "mine", fixedTime)
		theirs := newPost(orgB, "shared", "theirs", fixedTime)
		recordPost(t, s, mine)
		recordPost(t, s, theirs)
		checkSame(t, onePost(t, s, orgA, "shared"), mine, "orgA's post")
		checkSame(t, onePost(t, s, orgB, "shared"), theirs, "orgB's post")
	})
	t.Run("AnotherOrgsRequestHasNoPosts", func(t *testing.T) {
		s := newStore(t)
		recordPost(t, s, newPost(orgB, "theirs", "theirs", fixedTime))
		if got := listPosts(t, s, orgA, "theirs"); len(got) != 0 {
			t.Errorf("ListPosts(orgA) of orgB's request = %v, want none", postChannels(got))
		}
	})
}

func exercisePostConcurrency(t *testing.T, newStore postFactory) {
	t.Run("ConcurrentRecordsAreAllKept", func(t *testing.T) {
		s := newStore(t)
		errs := make([]error, concurrency)
		race(concurrency, func(i int) {
			org, id := []string{orgA, orgB}[i%2], fmt.Sprintf("appr-%d", i%4)
			if errs[i] = s.RecordPost(t.Context(), newPost(org, id, fmt.Sprintf("p%d", i), time.Time{})); errs[i] != nil {
				return
			}
			_, errs[i] = s.ListPosts(t.Context(), org, id)
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		total := 0
		for i := range 4 {
			total += len(listPosts(t, s, []string{orgA, orgB}[i%2], fmt.Sprintf("appr-%d", i)))
		}
		if total != concurrency {
			t.Errorf("%d concurrent RecordPost calls left %d posts", concurrency, total)
		}
	})
}

func postChannels(ps []notify.Post) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ChannelID
	}
	return out
}
