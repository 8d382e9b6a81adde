package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/notify"
)

// newPost returns a post of approvalID with every field set.
func newPost(approvalID, seed string, at time.Time) notify.Post {
	p := notify.Post{
		ApprovalID:  approvalID,
		OrgID:       orgA,
		ChannelType: notify.Slack,
		PostedAt:    at,
	}
	fill(&p, seed)
	return p
}

// TestPostStore checks a [notify.PostStore] against its documented
// contract. newStore is called for every subtest and must return an empty
// store.
func TestPostStore(t *testing.T, newStore func(t *testing.T) notify.PostStore) {
	t.Helper()
	record := func(t *testing.T, s notify.PostStore, p notify.Post) {
		t.Helper()
		must(t, s.RecordPost(t.Context(), p), "RecordPost")
	}
	list := func(t *testing.T, s notify.PostStore, approvalID string) []notify.Post {
		t.Helper()
		got, err := s.ListPosts(t.Context(), approvalID)
		must(t, err, "ListPosts")
		return got
	}

	t.Run("RecordPost", func(t *testing.T) {
		t.Run("StoresEveryField", func(t *testing.T) {
			s := newStore(t)
			p := newPost("appr-1", "every-field", fixedTime)
			record(t, s, p)
			got := list(t, s, "appr-1")
			if len(got) != 1 {
				t.Fatalf("ListPosts returned %d posts, want 1", len(got))
			}
			checkSame(t, got[0], p, "stored post")
			checkUTC(t, got[0].PostedAt, "PostedAt")
		})
		t.Run("ZeroPostedAtBecomesNowInUTC", func(t *testing.T) {
			s := newStore(t)
			p := newPost("appr-1", "now", time.Time{})
			p.PostedAt = time.Time{}
			clk := startClock()
			record(t, s, p)
			got := list(t, s, "appr-1")
			if len(got) != 1 {
				t.Fatalf("ListPosts returned %d posts, want 1", len(got))
			}
			clk.check(t, got[0].PostedAt, "PostedAt")
		})
		t.Run("GivenPostedAtIsKeptInUTC", func(t *testing.T) {
			s := newStore(t)
			record(t, s, newPost("appr-1", "zone", fixedTime.In(otherZone)))
			got := list(t, s, "appr-1")
			if len(got) != 1 {
				t.Fatalf("ListPosts returned %d posts, want 1", len(got))
			}
			if !got[0].PostedAt.Equal(fixedTime) {
				t.Errorf("PostedAt = %v, want %v", got[0].PostedAt, fixedTime)
			}
			checkUTC(t, got[0].PostedAt, "PostedAt")
		})
	})

	t.Run("ListPosts", func(t *testing.T) {
		t.Run("NoPostsGivesEmptyNonNilSlice", func(t *testing.T) {
			s := newStore(t)
			record(t, s, newPost("other", "other", fixedTime))
			got := list(t, s, "appr-1")
			if got == nil || len(got) != 0 {
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
				record(t, s, newPost("appr-1", p.seed, p.at))
			}
			var order []string
			for _, p := range list(t, s, "appr-1") {
				order = append(order, p.ChannelID)
			}
			want := []string{"a-ChannelID", "b-ChannelID", "b2-ChannelID", "c-ChannelID", "d-ChannelID"}
			if !slices.Equal(order, want) {
				t.Errorf("ListPosts order = %v, want %v", order, want)
			}
		})
		t.Run("OnlyPostsOfTheApproval", func(t *testing.T) {
			s := newStore(t)
			record(t, s, newPost("appr-1", "mine-1", fixedTime))
			record(t, s, newPost("appr-2", "theirs", fixedTime))
			record(t, s, newPost("appr-1", "mine-2", fixedTime.Add(time.Second)))
			got := list(t, s, "appr-1")
			if len(got) != 2 {
				t.Fatalf("ListPosts returned %d posts, want 2", len(got))
			}
			for _, p := range got {
				if p.ApprovalID != "appr-1" {
					t.Errorf("ListPosts(appr-1) returned a post of %q", p.ApprovalID)
				}
			}
		})
	})

	t.Run("Concurrency", func(t *testing.T) {
		t.Run("ConcurrentRecordsAreAllKept", func(t *testing.T) {
			s := newStore(t)
			errs := make([]error, concurrency)
			race(concurrency, func(i int) {
				id := fmt.Sprintf("appr-%d", i%4)
				if errs[i] = s.RecordPost(t.Context(), newPost(id, fmt.Sprintf("p%d", i), time.Time{})); errs[i] != nil {
					return
				}
				_, errs[i] = s.ListPosts(t.Context(), id)
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
				}
			}
			total := 0
			for i := range 4 {
				total += len(list(t, s, fmt.Sprintf("appr-%d", i)))
			}
			if total != concurrency {
				t.Errorf("%d concurrent RecordPost calls left %d posts", concurrency, total)
			}
		})
	})
}
