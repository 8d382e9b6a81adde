package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/notify"
)

const (
	orgA = "org-a"
	orgB = "org-b"
)

// newChannel returns a channel of org with every field set, to be created.
func newChannel(org, name string) notify.Channel {
	ch := notify.Channel{
		ID:     "caller-chosen-id",
		Type:   notify.Slack,
		Name:   name,
		OrgID:  org,
		Events: []notify.EventType{notify.EventApprovalRequest, notify.EventDriftAlert},
		Config: notify.ChannelConfig{
			BotToken:   "xoxb-1234-5678-" + name,
			ChannelID:  "C0123456789",
			WebhookURL: "https://hooks.slack.com/services/T000/B000/" + name,
			// A store keeps whatever config it is given: the settings API
			// validates, not the store.
			ServiceURL:     "https://smba.trafficmanager.net/emea/",
			ConversationID: "19:" + name + "@thread.tacv2",
			TenantID:       "72f988bf-86f1-41af-91ab-2d7cd011db47",
		},
		Enabled:   true,
		CreatedAt: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(2002, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	fill(&ch, name)
	return ch
}

// channelFactory returns a new, empty store for the subtest t.
type channelFactory = func(t *testing.T) notify.ChannelStore

// TestChannelStore checks a [notify.ChannelStore] against its documented
// contract: every verb, organisation isolation on each of them, and
// concurrent use. newStore is called for every subtest and must return an
// empty store.
func TestChannelStore(t *testing.T, newStore func(t *testing.T) notify.ChannelStore) {
	t.Helper()
	t.Run("ListChannels", func(t *testing.T) { exerciseListChannels(t, newStore) })
	t.Run("GetChannel", func(t *testing.T) { exerciseGetChannel(t, newStore) })
	t.Run("CreateChannel", func(t *testing.T) { exerciseCreateChannel(t, newStore) })
	t.Run("UpdateChannel", func(t *testing.T) { exerciseUpdateChannel(t, newStore) })
	t.Run("DeleteChannel", func(t *testing.T) { exerciseDeleteChannel(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { exerciseChannelConcurrency(t, newStore) })
}

func createChannel(t *testing.T, s notify.ChannelStore, org, name string) notify.Channel {
	t.Helper()
	ch, err := s.CreateChannel(t.Context(), newChannel(org, name))
	must(t, err, "CreateChannel")
	return ch
}

func exerciseListChannels(t *testing.T, newStore channelFactory) {
	t.Run("EmptyOrgGivesEmptyNonNilSlice", func(t *testing.T) {
		s := newStore(t)
		createChannel(t, s, orgB, "other org")
		got, err := s.ListChannels(t.Context(), orgA)
		must(t, err, "ListChannels")
		if got == nil || len(got) != 0 {
			t.Fatalf("ListChannels of an org without channels = %#v, want an empty non-nil slice", got)
		}
	})
	t.Run("OldestFirstByCreatedAtThenID", func(t *testing.T) {
		s := newStore(t)
		var want []string
		for i := range 6 {
			want = append(want, createChannel(t, s, orgA, fmt.Sprintf("ch-%d", i)).ID)
		}
		got, err := s.ListChannels(t.Context(), orgA)
		must(t, err, "ListChannels")
		if !slices.IsSortedFunc(got, func(a, b notify.Channel) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
		}) {
			t.Errorf("ListChannels is not ordered by CreatedAt, then ID: %v", channelKeys(got))
		}
		gotIDs := channelIDs(got)
		slices.Sort(gotIDs)
		slices.Sort(want)
		if !slices.Equal(gotIDs, want) {
			t.Errorf("ListChannels IDs = %v, want %v", gotIDs, want)
		}
	})
	t.Run("ReturnsChannelsAsStored", func(t *testing.T) {
		s := newStore(t)
		created := createChannel(t, s, orgA, "stored")
		got, err := s.ListChannels(t.Context(), orgA)
		must(t, err, "ListChannels")
		if len(got) != 1 {
			t.Fatalf("ListChannels returned %d channels, want 1", len(got))
		}
		checkSame(t, got[0], created, "listed channel")
	})
	t.Run("NeverListsAnotherOrgsChannels", func(t *testing.T) {
		s := newStore(t)
		mine := createChannel(t, s, orgA, "shared name")
		theirs := createChannel(t, s, orgB, "shared name")
		createChannel(t, s, orgB, "theirs only")
		got, err := s.ListChannels(t.Context(), orgA)
		must(t, err, "ListChannels")
		if ids := channelIDs(got); !slices.Equal(ids, []string{mine.ID}) {
			t.Errorf("ListChannels(orgA) = %v, want only %v (never %v)", ids, mine.ID, theirs.ID)
		}
		for _, ch := range got {
			if ch.OrgID != orgA {
				t.Errorf("ListChannels(orgA) returned a channel of %q", ch.OrgID)
			}
		}
	})
}

func exerciseGetChannel(t *testing.T, newStore channelFactory) {
	t.Run("ReturnsTheChannel", func(t *testing.T) {
		s := newStore(t)
		created := createChannel(t, s, orgA, "get me")
		got, err := s.GetChannel(t.Context(), orgA, created.ID)
		must(t, err, "GetChannel")
		checkSame(t, got, created, "GetChannel result")
	})
	t.Run("UnknownIDIsErrNotFound", func(t *testing.T) {
		s := newStore(t)
		createChannel(t, s, orgA, "exists")
		_, err := s.GetChannel(t.Context(), orgA, "no-such-channel")
		wantErr(t, err, notify.ErrNotFound, "GetChannel of an unknown ID")
	})
	t.Run("AnotherOrgsChannelIsErrNotFound", func(t *testing.T) {
		s := newStore(t)
		theirs := createChannel(t, s, orgB, "theirs")
		_, err := s.GetChannel(t.Context(), orgA, theirs.ID)
		wantErr(t, err, notify.ErrNotFound, "GetChannel of another org's channel")
	})
	t.Run("ResultDoesNotAliasTheStore", func(t *testing.T) {
		s := newStore(t)
		created := createChannel(t, s, orgA, "alias")
		got, err := s.GetChannel(t.Context(), orgA, created.ID)
		must(t, err, "GetChannel")
		got.Events[0] = "mutated"
		created.Events[0] = "mutated too"
		again, err := s.GetChannel(t.Context(), orgA, created.ID)
		must(t, err, "GetChannel")
		if again.Events[0] != notify.EventApprovalRequest {
			t.Errorf("changing a returned channel's Events changed the store: Events[0] = %q", again.Events[0])
		}
	})
}

func exerciseCreateChannel(t *testing.T, newStore channelFactory) {
	t.Run("AssignsNewUniqueIDIgnoringGivenOne", func(t *testing.T) {
		s := newStore(t)
		a := createChannel(t, s, orgA, "one")
		b := createChannel(t, s, orgA, "two")
		c := createChannel(t, s, orgB, "three")
		for _, ch := range []notify.Channel{a, b, c} {
			if ch.ID == "" || ch.ID == "caller-chosen-id" {
				t.Errorf("CreateChannel returned ID %q, want a new one", ch.ID)
			}
		}
		if a.ID == b.ID || a.ID == c.ID || b.ID == c.ID {
			t.Errorf("CreateChannel returned duplicate IDs %q, %q, %q", a.ID, b.ID, c.ID)
		}
	})
	t.Run("SetsCreatedAtAndUpdatedAtToNowInUTC", func(t *testing.T) {
		s := newStore(t)
		clk := startClock()
		ch := createChannel(t, s, orgA, "timestamps")
		clk.check(t, ch.CreatedAt, "CreatedAt")
		clk.check(t, ch.UpdatedAt, "UpdatedAt")
		if !ch.CreatedAt.Equal(ch.UpdatedAt) {
			t.Errorf("CreatedAt %v != UpdatedAt %v on a new channel", ch.CreatedAt, ch.UpdatedAt)
		}
	})
	t.Run("StoresEveryField", func(t *testing.T) {
		s := newStore(t)
		in := newChannel(orgA, "every field")
		created, err := s.CreateChannel(t.Context(), in)
		must(t, err, "CreateChannel")
		want := in
		want.ID, want.CreatedAt, want.UpdatedAt = created.ID, created.CreatedAt, created.UpdatedAt
		checkSame(t, created, want, "CreateChannel result")
		got, err := s.GetChannel(t.Context(), orgA, created.ID)
		must(t, err, "GetChannel")
		checkSame(t, got, want, "stored channel")
	})
	t.Run("StoresDisabledChannel", func(t *testing.T) {
		s := newStore(t)
		in := newChannel(orgA, "disabled")
		in.Enabled = false
		created, err := s.CreateChannel(t.Context(), in)
		must(t, err, "CreateChannel")
		got, err := s.GetChannel(t.Context(), orgA, created.ID)
		must(t, err, "GetChannel")
		if got.Enabled {
			t.Error("a channel created disabled is stored enabled")
		}
	})
	t.Run("DuplicateNameInOrgIsErrConflict", func(t *testing.T) {
		s := newStore(t)
		first := createChannel(t, s, orgA, "dup")
		_, err := s.CreateChannel(t.Context(), newChannel(orgA, "dup"))
		wantErr(t, err, notify.ErrConflict, "CreateChannel with a taken name")
		got, err := s.ListChannels(t.Context(), orgA)
		must(t, err, "ListChannels")
		if ids := channelIDs(got); !slices.Equal(ids, []string{first.ID}) {
			t.Errorf("after a conflict, ListChannels = %v, want only %v", ids, first.ID)
		}
	})
	t.Run("SameNameInAnotherOrgIsAllowed", func(t *testing.T) {
		s := newStore(t)
		createChannel(t, s, orgA, "same")
		createChannel(t, s, orgB, "same")
	})
}

func exerciseUpdateChannel(t *testing.T, newStore channelFactory) {
	t.Run("ReplacesTypeNameConfigEventsEnabled", func(t *testing.T) {
		s := newStore(t)
		created := createChannel(t, s, orgA, "before")
		upd := created
		upd.Type = notify.Teams
		upd.Name = "after"
		upd.Config = notify.ChannelConfig{WebhookURL: "https://hooks.slack.com/services/T1/B1/new"}
		upd.Events = []notify.EventType{notify.EventAgentStatus}
		upd.Enabled = false
		got, err := s.UpdateChannel(t.Context(), upd)
		must(t, err, "UpdateChannel")
		want := upd
		want.UpdatedAt = got.UpdatedAt
		checkSame(t, got, want, "UpdateChannel result")
		stored, err := s.GetChannel(t.Context(), orgA, created.ID)
		must(t, err, "GetChannel")
		checkSame(t, stored, got, "stored channel after update")
	})
	t.Run("KeepsCreatedAt", func(t *testing.T) {
		s := newStore(t)
		created := createChannel(t, s, orgA, "keep")
		upd := created
		upd.CreatedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
		got, err := s.UpdateChannel(t.Context(), upd)
		must(t, err, "UpdateChannel")
		if !got.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("UpdateChannel changed CreatedAt to %v, want %v kept", got.CreatedAt, created.CreatedAt)
		}
		stored, err := s.GetChannel(t.Context(), orgA, created.ID)
		must(t, err, "GetChannel")
		if !stored.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("stored CreatedAt = %v, want %v", stored.CreatedAt, created.CreatedAt)
		}
	})
	t.Run("SetsUpdatedAtToNowInUTC", func(t *testing.T) {
		s := newStore(t)
		created := createChannel(t, s, orgA, "bump")
		upd := created
		upd.UpdatedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
		clk := startClock()
		got, err := s.UpdateChannel(t.Context(), upd)
		must(t, err, "UpdateChannel")
		clk.check(t, got.UpdatedAt, "UpdatedAt")
		if got.UpdatedAt.Before(created.UpdatedAt) {
			t.Errorf("UpdatedAt went back from %v to %v", created.UpdatedAt, got.UpdatedAt)
		}
	})
	t.Run("UnknownIDIsErrNotFound", func(t *testing.T) {
		s := newStore(t)
		ch := newChannel(orgA, "ghost")
		ch.ID = "no-such-channel"
		_, err := s.UpdateChannel(t.Context(), ch)
		wantErr(t, err, notify.ErrNotFound, "UpdateChannel of an unknown ID")
	})
	t.Run("AnotherOrgsChannelIsErrNotFoundAndUnchanged", func(t *testing.T) {
		s := newStore(t)
		theirs := createChannel(t, s, orgB, "theirs")
		upd := theirs
		upd.OrgID = orgA
		upd.Name = "hijacked"
		_, err := s.UpdateChannel(t.Context(), upd)
		wantErr(t, err, notify.ErrNotFound, "UpdateChannel of another org's channel")
		got, err := s.GetChannel(t.Context(), orgB, theirs.ID)
		must(t, err, "GetChannel")
		checkSame(t, got, theirs, "the other org's channel")
	})
	t.Run("NameOfAnotherChannelIsErrConflict", func(t *testing.T) {
		s := newStore(t)
		createChannel(t, s, orgA, "taken")
		mine := createChannel(t, s, orgA, "mine")
		upd := mine
		upd.Name = "taken"
		_, err := s.UpdateChannel(t.Context(), upd)
		wantErr(t, err, notify.ErrConflict, "UpdateChannel to a taken name")
		got, err := s.GetChannel(t.Context(), orgA, mine.ID)
		must(t, err, "GetChannel")
		if got.Name != "mine" {
			t.Errorf("after a conflict the channel is named %q, want %q", got.Name, "mine")
		}
	})
	t.Run("OwnNameOrAnotherOrgsNameIsNoConflict", func(t *testing.T) {
		s := newStore(t)
		createChannel(t, s, orgB, "theirs")
		mine := createChannel(t, s, orgA, "mine")
		_, err := s.UpdateChannel(t.Context(), mine)
		must(t, err, "UpdateChannel keeping its own name")
		mine.Name = "theirs"
		_, err = s.UpdateChannel(t.Context(), mine)
		must(t, err, "UpdateChannel to a name used in another org")
	})
}

func exerciseDeleteChannel(t *testing.T, newStore channelFactory) {
	t.Run("RemovesTheChannel", func(t *testing.T) {
		s := newStore(t)
		gone := createChannel(t, s, orgA, "gone")
		kept := createChannel(t, s, orgA, "kept")
		must(t, s.DeleteChannel(t.Context(), orgA, gone.ID), "DeleteChannel")
		_, err := s.GetChannel(t.Context(), orgA, gone.ID)
		wantErr(t, err, notify.ErrNotFound, "GetChannel after delete")
		got, err := s.ListChannels(t.Context(), orgA)
		must(t, err, "ListChannels")
		if ids := channelIDs(got); !slices.Equal(ids, []string{kept.ID}) {
			t.Errorf("after delete, ListChannels = %v, want %v", ids, []string{kept.ID})
		}
		// The name is free again.
		createChannel(t, s, orgA, "gone")
	})
	t.Run("UnknownIDIsErrNotFound", func(t *testing.T) {
		s := newStore(t)
		ch := createChannel(t, s, orgA, "once")
		err := s.DeleteChannel(t.Context(), orgA, "no-such-channel")
		wantErr(t, err, notify.ErrNotFound, "DeleteChannel of an unknown ID")
		must(t, s.DeleteChannel(t.Context(), orgA, ch.ID), "DeleteChannel")
		err = s.DeleteChannel(t.Context(), orgA, ch.ID)
		wantErr(t, err, notify.ErrNotFound, "DeleteChannel twice")
	})
	t.Run("AnotherOrgsChannelIsErrNotFoundAndKept", func(t *testing.T) {
		s := newStore(t)
		theirs := createChannel(t, s, orgB, "theirs")
		err := s.DeleteChannel(t.Context(), orgA, theirs.ID)
		wantErr(t, err, notify.ErrNotFound, "DeleteChannel of another org's channel")
		_, err = s.GetChannel(t.Context(), orgB, theirs.ID)
		must(t, err, "GetChannel of the other org's channel after the refused delete")
	})
}

func exerciseChannelConcurrency(t *testing.T, newStore channelFactory) {
	t.Run("SameNameCreatedOnce", func(t *testing.T) {
		s := newStore(t)
		errs := make([]error, concurrency)
		race(concurrency, func(i int) {
			_, errs[i] = s.CreateChannel(t.Context(), newChannel(orgA, "contended"))
		})
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, notify.ErrConflict):
				t.Errorf("goroutine %d: got %v, want nil or ErrConflict", i, err)
			}
		}
		if ok != 1 {
			t.Errorf("%d concurrent creates of one name succeeded %d times, want exactly 1", concurrency, ok)
		}
		got, err := s.ListChannels(t.Context(), orgA)
		must(t, err, "ListChannels")
		if len(got) != 1 {
			t.Errorf("ListChannels has %d channels, want 1", len(got))
		}
	})
	t.Run("MixedOperations", func(t *testing.T) {
		s := newStore(t)
		const n = 20
		errs := make([]error, n)
		race(n, func(i int) {
			errs[i] = channelLifecycle(t, s, i)
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		for _, org := range []string{orgA, orgB} {
			got, err := s.ListChannels(t.Context(), org)
			must(t, err, "ListChannels")
			// Half of each org's goroutines delete their channel.
			if len(got) != n/4 {
				t.Errorf("ListChannels(%s) has %d channels, want %d", org, len(got), n/4)
			}
		}
	})
}

// channelLifecycle creates, reads, lists, updates and (for odd i) deletes
// a channel of its own, checking every answer.
func channelLifecycle(t *testing.T, s notify.ChannelStore, i int) error {
	ctx := t.Context()
	org := []string{orgA, orgB}[i%2]
	name := fmt.Sprintf("worker-%d", i)
	ch, err := s.CreateChannel(ctx, newChannel(org, name))
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := s.GetChannel(ctx, org, ch.ID); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	list, err := s.ListChannels(ctx, org)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	if !slices.Contains(channelIDs(list), ch.ID) {
		return fmt.Errorf("list of %s lacks the channel just created", org)
	}
	for _, other := range list {
		if other.OrgID != org {
			return fmt.Errorf("list of %s has a channel of %s", org, other.OrgID)
		}
	}
	ch.Name = name + "-renamed"
	if _, err := s.UpdateChannel(ctx, ch); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if i/2%2 == 1 {
		if err := s.DeleteChannel(ctx, org, ch.ID); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
	}
	return nil
}

func channelIDs(chs []notify.Channel) []string {
	ids := make([]string, len(chs))
	for i, ch := range chs {
		ids[i] = ch.ID
	}
	return ids
}

func channelKeys(chs []notify.Channel) []string {
	keys := make([]string, len(chs))
	for i, ch := range chs {
		keys[i] = ch.CreatedAt.Format(time.RFC3339Nano) + "/" + ch.ID
	}
	return keys
}
