package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/notify"
)

// deliveryFactory returns a new, empty deliveries log for the subtest t.
type deliveryFactory = func(t *testing.T) notify.DeliveryStore

// TestDeliveryStore checks a [notify.DeliveryStore] against its
// documented contract: saving and replacing, reading, the newest-first
// list and its pagination edges, every rule of [notify.Health],
// organisation isolation and concurrent use. newStore is called for
// every subtest and must return an empty log.
func TestDeliveryStore(t *testing.T, newStore func(t *testing.T) notify.DeliveryStore) {
	t.Helper()
	t.Run("SaveDelivery", func(t *testing.T) { exerciseSaveDelivery(t, newStore) })
	t.Run("GetDelivery", func(t *testing.T) { exerciseGetDelivery(t, newStore) })
	t.Run("ListDeliveries", func(t *testing.T) { exerciseListDeliveries(t, newStore) })
	t.Run("ChannelHealth", func(t *testing.T) { exerciseChannelHealth(t, newStore) })
	t.Run("OrgIsolation", func(t *testing.T) { exerciseDeliveryIsolation(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { exerciseDeliveryConcurrency(t, newStore) })
}

// newDelivery returns a delivery id of the channel chID of org with every
// field set.
func newDelivery(org, chID, id string, created time.Time) notify.Delivery {
	delivered := created.Add(2 * time.Second)
	failed := created.Add(time.Second)
	d := notify.Delivery{
		ID:            id,
		OrgID:         org,
		ChannelID:     chID,
		Event:         notify.EventApprovalRequest,
		Op:            "post",
		Status:        "delivered",
		Attempts:      2,
		CreatedAt:     created,
		UpdatedAt:     delivered,
		DeliveredAt:   &delivered,
		FirstFailedAt: &failed,
		Retry:         json.RawMessage(`{"kind": "post", "ids": [1, 2]}`),
	}
	fill(&d, id)
	return d
}

// at returns fixedTime plus n seconds.
func at(n int) time.Time { return fixedTime.Add(time.Duration(n) * time.Second) }

func ptr(t time.Time) *time.Time { return &t }

func save(t *testing.T, s notify.DeliveryStore, d notify.Delivery) {
	t.Helper()
	must(t, s.SaveDelivery(t.Context(), d), "SaveDelivery("+d.ID+")")
}

func getDelivery(t *testing.T, s notify.DeliveryStore, org, id string) notify.Delivery {
	t.Helper()
	d, err := s.GetDelivery(t.Context(), org, id)
	must(t, err, "GetDelivery("+id+")")
	return d
}

func listDeliveries(t *testing.T, s notify.DeliveryStore, org, ch string, before notify.Delivery, limit int) []notify.Delivery {
	t.Helper()
	got, err := s.ListDeliveries(t.Context(), org, ch, before, limit)
	must(t, err, "ListDeliveries")
	if got == nil {
		t.Fatalf("ListDeliveries returned a nil slice, want a non-nil one")
	}
	return got
}

func health(t *testing.T, s notify.DeliveryStore, org, ch string) notify.Health {
	t.Helper()
	h, err := s.ChannelHealth(t.Context(), org, ch)
	must(t, err, "ChannelHealth")
	return h
}

func deliveryIDs(ds []notify.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func exerciseSaveDelivery(t *testing.T, newStore deliveryFactory) {
	t.Run("StoresEveryField", func(t *testing.T) {
		s := newStore(t)
		d := newDelivery(orgA, "ch-1", "d-1", fixedTime)
		save(t, s, d)
		got := getDelivery(t, s, orgA, "d-1")
		checkSame(t, got, d, "stored delivery")
		if string(got.Retry) != string(d.Retry) {
			t.Errorf("Retry = %s, want %s exactly as given", got.Retry, d.Retry)
		}
	})
	t.Run("NilRetryAndTimesStayNil", func(t *testing.T) {
		s := newStore(t)
		d := newDelivery(orgA, "ch-1", "d-1", fixedTime)
		d.Status, d.DeliveredAt, d.FirstFailedAt, d.Retry = "pending", nil, nil, nil
		save(t, s, d)
		got := getDelivery(t, s, orgA, "d-1")
		checkSame(t, got, d, "stored delivery")
		if got.Retry != nil {
			t.Errorf("Retry = %q, want nil", got.Retry)
		}
	})
	t.Run("ReplacesEveryFieldButCreatedAt", func(t *testing.T) {
		s := newStore(t)
		first := newDelivery(orgA, "ch-1", "d-1", fixedTime)
		save(t, s, first)
		second := newDelivery(orgA, "ch-2", "d-1", fixedTime.Add(time.Hour))
		second.ID, second.Status, second.Reason, second.Attempts = "d-1", "failed", "the bot was removed", 9
		second.Retry = json.RawMessage(`{"kind":"update"}`)
		save(t, s, second)
		want := second
		want.CreatedAt = first.CreatedAt
		checkSame(t, getDelivery(t, s, orgA, "d-1"), want, "replaced delivery")
		if got := getDelivery(t, s, orgA, "d-1").Retry; string(got) != `{"kind":"update"}` {
			t.Errorf("Retry = %s after the replace, want the new one", got)
		}
		if got := listDeliveries(t, s, orgA, "ch-1", notify.Delivery{}, 10); len(got) != 0 {
			t.Errorf("the old channel still lists %v after the delivery moved", deliveryIDs(got))
		}
		if got := deliveryIDs(listDeliveries(t, s, orgA, "ch-2", notify.Delivery{}, 10)); !slices.Equal(got, []string{"d-1"}) {
			t.Errorf("the new channel lists %v, want [d-1]", got)
		}
	})
	t.Run("ZeroCreatedAtBecomesNowOnTheFirstSave", func(t *testing.T) {
		s := newStore(t)
		d := newDelivery(orgA, "ch-1", "d-1", fixedTime)
		d.CreatedAt = time.Time{}
		clk := startClock()
		save(t, s, d)
		created := getDelivery(t, s, orgA, "d-1").CreatedAt
		clk.check(t, created, "CreatedAt")
		d.CreatedAt = time.Time{}
		save(t, s, d)
		if got := getDelivery(t, s, orgA, "d-1").CreatedAt; !got.Equal(created) {
			t.Errorf("CreatedAt = %v after a second save with a zero CreatedAt, want the first save's %v", got, created)
		}
	})
	t.Run("ZeroUpdatedAtBecomesNow", func(t *testing.T) {
		s := newStore(t)
		d := newDelivery(orgA, "ch-1", "d-1", fixedTime)
		d.UpdatedAt = time.Time{}
		clk := startClock()
		save(t, s, d)
		clk.check(t, getDelivery(t, s, orgA, "d-1").UpdatedAt, "UpdatedAt")
	})
	t.Run("TimesAreKeptInUTC", func(t *testing.T) {
		s := newStore(t)
		d := newDelivery(orgA, "ch-1", "d-1", fixedTime.In(otherZone))
		d.UpdatedAt = d.UpdatedAt.In(otherZone)
		d.DeliveredAt = ptr(d.DeliveredAt.In(otherZone))
		d.FirstFailedAt = ptr(d.FirstFailedAt.In(otherZone))
		save(t, s, d)
		got := getDelivery(t, s, orgA, "d-1")
		checkSame(t, got, d, "stored delivery")
		checkUTC(t, got.CreatedAt, "CreatedAt")
		checkUTC(t, got.UpdatedAt, "UpdatedAt")
		checkUTC(t, *got.DeliveredAt, "DeliveredAt")
		checkUTC(t, *got.FirstFailedAt, "FirstFailedAt")
	})
	t.Run("MissingKeyIsAnErrorAndStoresNothing", func(t *testing.T) {
		s := newStore(t)
		for field, clear := range map[string]func(*notify.Delivery){
			"OrgID":     func(d *notify.Delivery) { d.OrgID = "" },
			"ID":        func(d *notify.Delivery) { d.ID = "" },
			"ChannelID": func(d *notify.Delivery) { d.ChannelID = "" },
		} {
			d := newDelivery(orgA, "ch-1", "d-1", fixedTime)
			clear(&d)
			if err := s.SaveDelivery(t.Context(), d); err == nil {
				t.Errorf("SaveDelivery without %s succeeded, want an error", field)
			}
		}
		if _, err := s.GetDelivery(t.Context(), orgA, "d-1"); err == nil {
			t.Errorf("a delivery saved without its key can be read")
		}
		if got := listDeliveries(t, s, orgA, "ch-1", notify.Delivery{}, 10); len(got) != 0 {
			t.Errorf("deliveries saved without their key are listed: %v", deliveryIDs(got))
		}
	})
}

func exerciseGetDelivery(t *testing.T, newStore deliveryFactory) {
	t.Run("UnknownIDIsErrNotFound", func(t *testing.T) {
		s := newStore(t)
		save(t, s, newDelivery(orgA, "ch-1", "d-1", fixedTime))
		_, err := s.GetDelivery(t.Context(), orgA, "d-2")
		wantErr(t, err, notify.ErrNotFound, "GetDelivery of an unknown ID")
	})
}

// saveAll saves, for each ID, a delivery of the channel ch-1 of orgA
// created at the given second.
func saveAll(t *testing.T, s notify.DeliveryStore, created map[string]int) {
	t.Helper()
	for id, sec := range created {
		save(t, s, newDelivery(orgA, "ch-1", id, at(sec)))
	}
}

func exerciseListDeliveries(t *testing.T, newStore deliveryFactory) {
	// Seven deliveries, with ties on CreatedAt broken by ID.
	created := map[string]int{"a": 1, "b": 3, "c": 3, "d": 2, "e": 5, "f": 3, "g": 0}
	newestFirst := []string{"e", "f", "c", "b", "d", "a", "g"}

	t.Run("NoDeliveriesGivesEmptyNonNilSlice", func(t *testing.T) {
		s := newStore(t)
		save(t, s, newDelivery(orgA, "ch-2", "other", fixedTime))
		if got := listDeliveries(t, s, orgA, "ch-1", notify.Delivery{}, 10); len(got) != 0 {
			t.Errorf("ListDeliveries of a channel without deliveries = %v, want none", deliveryIDs(got))
		}
	})
	t.Run("NewestFirstByCreatedAtThenID", func(t *testing.T) {
		s := newStore(t)
		saveAll(t, s, created)
		got := listDeliveries(t, s, orgA, "ch-1", notify.Delivery{}, 100)
		if ids := deliveryIDs(got); !slices.Equal(ids, newestFirst) {
			t.Errorf("ListDeliveries order = %v, want %v", ids, newestFirst)
		}
		for _, d := range got {
			checkSame(t, d, newDelivery(orgA, "ch-1", d.ID, at(created[d.ID])), "listed delivery "+d.ID)
		}
	})
	t.Run("OnlyTheChannelsDeliveries", func(t *testing.T) {
		s := newStore(t)
		save(t, s, newDelivery(orgA, "ch-1", "mine", at(1)))
		save(t, s, newDelivery(orgA, "ch-2", "theirs", at(2)))
		if got := deliveryIDs(listDeliveries(t, s, orgA, "ch-1", notify.Delivery{}, 10)); !slices.Equal(got, []string{"mine"}) {
			t.Errorf("ListDeliveries(ch-1) = %v, want [mine]", got)
		}
	})
	t.Run("LimitBoundsThePage", func(t *testing.T) {
		s := newStore(t)
		saveAll(t, s, created)
		if got := deliveryIDs(listDeliveries(t, s, orgA, "ch-1", notify.Delivery{}, 3)); !slices.Equal(got, newestFirst[:3]) {
			t.Errorf("ListDeliveries(limit 3) = %v, want %v", got, newestFirst[:3])
		}
	})
	t.Run("NonPositiveLimitGivesEmptyNonNilSlice", func(t *testing.T) {
		s := newStore(t)
		saveAll(t, s, created)
		for _, limit := range []int{0, -1} {
			if got := listDeliveries(t, s, orgA, "ch-1", notify.Delivery{}, limit); len(got) != 0 {
				t.Errorf("ListDeliveries(limit %d) = %v, want none", limit, deliveryIDs(got))
			}
		}
	})
	t.Run("BeforeGivesEveryDeliveryOnceAcrossPages", func(t *testing.T) {
		s := newStore(t)
		saveAll(t, s, created)
		for _, size := range []int{1, 2, 3, 7, 8} {
			var all []string
			var before notify.Delivery
			for range len(newestFirst) + 1 {
				page := listDeliveries(t, s, orgA, "ch-1", before, size)
				if len(page) == 0 {
					break
				}
				all = append(all, deliveryIDs(page)...)
				before = page[len(page)-1]
			}
			if !slices.Equal(all, newestFirst) {
				t.Errorf("pages of %d gave %v, want %v", size, all, newestFirst)
			}
		}
	})
	t.Run("BeforeNeedNotBeStored", func(t *testing.T) {
		s := newStore(t)
		saveAll(t, s, created)
		// Between f and c (both at second 3): IDs below "d" at second 3 come next.
		got := listDeliveries(t, s, orgA, "ch-1", notify.Delivery{ID: "d", CreatedAt: at(3)}, 3)
		if want := []string{"c", "b", "d"}; !slices.Equal(deliveryIDs(got), want) {
			t.Errorf("ListDeliveries before a position no delivery holds = %v, want %v", deliveryIDs(got), want)
		}
	})
	t.Run("BeforeTheOldestGivesEmpty", func(t *testing.T) {
		s := newStore(t)
		saveAll(t, s, created)
		last := getDelivery(t, s, orgA, "g")
		if got := listDeliveries(t, s, orgA, "ch-1", last, 10); len(got) != 0 {
			t.Errorf("ListDeliveries before the oldest = %v, want none", deliveryIDs(got))
		}
	})
	t.Run("ASaveAgainKeepsThePosition", func(t *testing.T) {
		s := newStore(t)
		saveAll(t, s, created)
		d := newDelivery(orgA, "ch-1", "g", at(100))
		d.Status = "failed"
		save(t, s, d)
		if got := deliveryIDs(listDeliveries(t, s, orgA, "ch-1", notify.Delivery{}, 100)); !slices.Equal(got, newestFirst) {
			t.Errorf("ListDeliveries after saving g again = %v, want %v", got, newestFirst)
		}
	})
}

// hd is a delivery of the channel ch-1 of orgA for the health subtests:
// status, reason, updated at second upd, delivered at second dlv (none
// when negative), first failed at second ff (none when negative).
func hd(id, status, reason string, upd, dlv, ff int) notify.Delivery {
	d := notify.Delivery{ID: id, OrgID: orgA, ChannelID: "ch-1", Event: notify.EventDriftAlert, Op: "post",
		Status: status, Reason: reason, CreatedAt: at(0), UpdatedAt: at(upd)}
	if dlv >= 0 {
		d.DeliveredAt = ptr(at(dlv))
	}
	if ff >= 0 {
		d.FirstFailedAt = ptr(at(ff))
	}
	return d
}

func checkTime(t *testing.T, got *time.Time, want int, what string) {
	t.Helper()
	switch {
	case want < 0 && got != nil:
		t.Errorf("%s = %v, want nil", what, *got)
	case want >= 0 && got == nil:
		t.Errorf("%s = nil, want %v", what, at(want))
	case want >= 0 && !got.Equal(at(want)):
		t.Errorf("%s = %v, want %v", what, *got, at(want))
	case got != nil:
		checkUTC(t, *got, what)
	}
}

func exerciseChannelHealth(t *testing.T, newStore deliveryFactory) {
	t.Run("NoDeliveriesGivesZeroHealth", func(t *testing.T) {
		s := newStore(t)
		save(t, s, newDelivery(orgA, "ch-2", "other", fixedTime))
		checkSame(t, health(t, s, orgA, "ch-1"), notify.Health{}, "health of a channel without deliveries")
	})
	t.Run("CountsPendingAndFailed", func(t *testing.T) {
		s := newStore(t)
		for i, st := range []string{"pending", "failed", "delivered", "pending", "failed", "pending", "other"} {
			save(t, s, hd(fmt.Sprint(i), st, "", i, -1, -1))
		}
		h := health(t, s, orgA, "ch-1")
		if h.Pending != 3 || h.Failed != 2 {
			t.Errorf("Pending, Failed = %d, %d, want 3, 2", h.Pending, h.Failed)
		}
	})
	t.Run("LastDeliveredAtIsTheLatestDeliveredAt", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("a", "delivered", "", 20, 20, -1))
		save(t, s, hd("b", "delivered", "", 30, 10, -1)) // updated later, delivered earlier
		save(t, s, hd("c", "pending", "", 40, -1, -1))
		checkTime(t, health(t, s, orgA, "ch-1").LastDeliveredAt, 20, "LastDeliveredAt")
	})
	t.Run("LastErrorIsTheLatestFailingReason", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("a", "failed", "older failure", 10, -1, 10))
		save(t, s, hd("b", "pending", "retrying after a timeout", 20, -1, 15))
		save(t, s, hd("c", "delivered", "a stale reason", 30, 30, 5)) // delivered: not failing
		save(t, s, hd("d", "pending", "", 40, -1, -1))                // not attempted: not failing
		if got := health(t, s, orgA, "ch-1").LastError; got != "retrying after a timeout" {
			t.Errorf("LastError = %q, want the reason of the latest failing delivery", got)
		}
	})
	t.Run("LastErrorTieOnUpdatedAtTakesTheLatestID", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("b", "failed", "from b", 10, -1, 10))
		save(t, s, hd("a", "failed", "from a", 10, -1, 10))
		if got := health(t, s, orgA, "ch-1").LastError; got != "from b" {
			t.Errorf("LastError = %q, want %q", got, "from b")
		}
	})
	t.Run("LastErrorStaysAfterRecoveryWithoutFailingSince", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("a", "failed", "the channel was archived", 10, -1, 10))
		save(t, s, hd("b", "delivered", "", 20, 20, -1))
		h := health(t, s, orgA, "ch-1")
		if h.LastError != "the channel was archived" {
			t.Errorf("LastError = %q after recovery, want the last failure's reason", h.LastError)
		}
		checkTime(t, h.FailingSince, -1, "FailingSince after recovery")
	})
	t.Run("FailingSinceIsTheEarliestFirstFailureAfterTheLastSuccess", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("ok", "delivered", "", 10, 10, -1))
		save(t, s, hd("a", "failed", "x", 30, -1, 25))
		save(t, s, hd("b", "pending", "y", 40, -1, 15))
		save(t, s, hd("c", "failed", "z", 50, -1, 45))
		checkTime(t, health(t, s, orgA, "ch-1").FailingSince, 15, "FailingSince")
	})
	t.Run("FailingSinceUsesUpdatedAtWithoutFirstFailedAt", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("ok", "delivered", "", 10, 10, -1))
		save(t, s, hd("a", "failed", "x", 30, -1, -1))
		save(t, s, hd("b", "failed", "y", 40, -1, 35))
		checkTime(t, health(t, s, orgA, "ch-1").FailingSince, 30, "FailingSince")
	})
	t.Run("FailingSinceIsNeverBeforeTheLastSuccess", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("a", "pending", "still retrying", 30, -1, 5)) // first failed before the success
		save(t, s, hd("ok", "delivered", "", 20, 20, -1))
		checkTime(t, health(t, s, orgA, "ch-1").FailingSince, 20, "FailingSince")
	})
	t.Run("FailuresBeforeTheLastSuccessDoNotCount", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("a", "failed", "x", 10, -1, 10))
		save(t, s, hd("b", "failed", "y", 20, -1, 20)) // updated at the success: not after it
		save(t, s, hd("ok", "delivered", "", 20, 20, -1))
		checkTime(t, health(t, s, orgA, "ch-1").FailingSince, -1, "FailingSince")
	})
	t.Run("FailingSinceWithoutAnySuccess", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("a", "failed", "x", 30, -1, 12))
		save(t, s, hd("b", "pending", "", 5, -1, -1)) // not attempted: not failing
		h := health(t, s, orgA, "ch-1")
		checkTime(t, h.FailingSince, 12, "FailingSince")
		checkTime(t, h.LastDeliveredAt, -1, "LastDeliveredAt")
	})
	t.Run("PendingWithoutReasonIsNotFailing", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("a", "pending", "", 30, -1, -1))
		h := health(t, s, orgA, "ch-1")
		checkTime(t, h.FailingSince, -1, "FailingSince")
		if h.LastError != "" || h.Pending != 1 {
			t.Errorf("health = %+v, want one pending delivery, no error", h)
		}
	})
}

// exerciseDeliveryIsolation checks that the deliveries log is scoped to
// organisations.
func exerciseDeliveryIsolation(t *testing.T, newStore deliveryFactory) {
	t.Run("AnotherOrgsDeliveryIsErrNotFound", func(t *testing.T) {
		s := newStore(t)
		save(t, s, newDelivery(orgB, "ch-1", "theirs", fixedTime))
		_, err := s.GetDelivery(t.Context(), orgA, "theirs")
		wantErr(t, err, notify.ErrNotFound, "GetDelivery of another org's delivery")
	})
	t.Run("SameIDInTwoOrgsIsTwoDeliveries", func(t *testing.T) {
		s := newStore(t)
		mine := newDelivery(orgA, "ch-1", "shared", fixedTime)
		theirs := newDelivery(orgB, "ch-1", "shared", fixedTime.Add(time.Hour))
		theirs.Reason = "theirs"
		save(t, s, mine)
		save(t, s, theirs)
		checkSame(t, getDelivery(t, s, orgA, "shared"), mine, "orgA's delivery")
		checkSame(t, getDelivery(t, s, orgB, "shared"), theirs, "orgB's delivery")
	})
	t.Run("AnotherOrgsChannelHasNoDeliveriesAndZeroHealth", func(t *testing.T) {
		s := newStore(t)
		save(t, s, hd("theirs-ok", "delivered", "", 10, 10, -1))
		for _, d := range []notify.Delivery{hd("t1", "failed", "x", 20, -1, 20), hd("t2", "pending", "y", 30, -1, 30)} {
			d.OrgID = orgB
			save(t, s, d)
		}
		// orgA's delivery on ch-1 above; orgB's deliveries on its own ch-1.
		if got := deliveryIDs(listDeliveries(t, s, orgA, "ch-1", notify.Delivery{}, 10)); !slices.Equal(got, []string{"theirs-ok"}) {
			t.Errorf("ListDeliveries(orgA, ch-1) = %v, want only orgA's", got)
		}
		h := health(t, s, orgA, "ch-1")
		if h.Pending != 0 || h.Failed != 0 || h.LastError != "" || h.FailingSince != nil {
			t.Errorf("orgA's health counts orgB's deliveries: %+v", h)
		}
		if got := listDeliveries(t, s, "org-c", "ch-1", notify.Delivery{}, 10); len(got) != 0 {
			t.Errorf("a third org lists %v", deliveryIDs(got))
		}
		checkSame(t, health(t, s, "org-c", "ch-1"), notify.Health{}, "a third org's health of the channel ID")
	})
	t.Run("SavingInOneOrgLeavesTheOtherOrgsSameID", func(t *testing.T) {
		s := newStore(t)
		theirs := newDelivery(orgB, "ch-1", "shared", fixedTime)
		save(t, s, theirs)
		mine := newDelivery(orgA, "ch-9", "shared", fixedTime.Add(time.Hour))
		mine.Status = "failed"
		save(t, s, mine)
		checkSame(t, getDelivery(t, s, orgB, "shared"), theirs, "orgB's delivery after orgA saved the same ID")
	})
}

func exerciseDeliveryConcurrency(t *testing.T, newStore deliveryFactory) {
	t.Run("ConcurrentSavesAndReads", func(t *testing.T) {
		s := newStore(t)
		errs := make([]error, concurrency)
		race(concurrency, func(i int) {
			// Every goroutine saves its own delivery twice, and one shared
			// delivery, then reads.
			d := hd(fmt.Sprintf("d-%03d", i), "pending", "", i, -1, -1)
			if errs[i] = s.SaveDelivery(t.Context(), d); errs[i] != nil {
				return
			}
			d.Status, d.Reason = "failed", "gave up"
			if errs[i] = s.SaveDelivery(t.Context(), d); errs[i] != nil {
				return
			}
			if errs[i] = s.SaveDelivery(t.Context(), hd("shared", "pending", fmt.Sprint(i), i, -1, -1)); errs[i] != nil {
				return
			}
			if _, errs[i] = s.ListDeliveries(t.Context(), orgA, "ch-1", notify.Delivery{}, 10); errs[i] != nil {
				return
			}
			_, errs[i] = s.ChannelHealth(t.Context(), orgA, "ch-1")
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		if got := listDeliveries(t, s, orgA, "ch-1", notify.Delivery{}, 1000); len(got) != concurrency+1 {
			t.Errorf("%d goroutines left %d deliveries, want %d", concurrency, len(got), concurrency+1)
		}
		if h := health(t, s, orgA, "ch-1"); h.Failed != concurrency || h.Pending != 1 {
			t.Errorf("health after the race = %+v, want %d failed and 1 pending", h, concurrency)
		}
	})
}
