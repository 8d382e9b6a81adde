package memstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/chatnotify/chatnotify/notify"
)

var _ notify.DeliveryStore = (*deliveryLog)(nil)

// Deliveries returns the store's deliveries log, a [notify.DeliveryStore]
// kept in memory with the rest, to pass as DispatcherOptions.Deliveries
// and SettingsOptions.Deliveries. Every call returns the same log.
func (s *Store) Deliveries() notify.DeliveryStore { return s.deliveries }

// deliveryLog is the deliveries log of a Store.
type deliveryLog struct {
	now func() time.Time

	mu   sync.RWMutex
	byID map[key]*notify.Delivery
	// byChannel indexes byID by (organisation, channel ID).
	byChannel map[key]map[string]struct{}
}

// SaveDelivery implements [notify.DeliveryStore].
func (l *deliveryLog) SaveDelivery(ctx context.Context, d notify.Delivery) error {
	if d.OrgID == "" || d.ID == "" || d.ChannelID == "" {
		return errors.New("memstore: SaveDelivery: the delivery needs an OrgID, an ID and a ChannelID")
	}
	now := utc(l.now())
	d = cloneDelivery(d)
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = now
	}
	d.UpdatedAt = utc(d.UpdatedAt)
	d.DeliveredAt = utcPtr(d.DeliveredAt)
	d.FirstFailedAt = utcPtr(d.FirstFailedAt)

	l.mu.Lock()
	defer l.mu.Unlock()
	k := key{d.OrgID, d.ID}
	if old, ok := l.byID[k]; ok {
		d.CreatedAt = old.CreatedAt
		if old.ChannelID != d.ChannelID {
			delete(l.byChannel[key{d.OrgID, old.ChannelID}], d.ID)
		}
	} else if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	d.CreatedAt = utc(d.CreatedAt)
	l.byID[k] = &d
	ck := key{d.OrgID, d.ChannelID}
	if l.byChannel[ck] == nil {
		l.byChannel[ck] = make(map[string]struct{})
	}
	l.byChannel[ck][d.ID] = struct{}{}
	return nil
}

// GetDelivery implements [notify.DeliveryStore].
func (l *deliveryLog) GetDelivery(ctx context.Context, orgID, id string) (notify.Delivery, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	d, ok := l.byID[key{orgID, id}]
	if !ok {
		return notify.Delivery{}, notify.ErrNotFound
	}
	return cloneDelivery(*d), nil
}

// ListDeliveries implements [notify.DeliveryStore] by sorting the
// channel's deliveries.
func (l *deliveryLog) ListDeliveries(ctx context.Context, orgID, channelID string, before notify.Delivery, limit int) ([]notify.Delivery, error) {
	out := []notify.Delivery{}
	if limit <= 0 {
		return out, nil
	}
	all := l.channelDeliveries(orgID, channelID)
	slices.SortFunc(all, func(a, b notify.Delivery) int { return newestFirst(a, b) })
	for _, d := range all {
		if before.ID != "" && newestFirst(d, before) <= 0 {
			continue
		}
		out = append(out, d)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// newestFirst orders deliveries by CreatedAt, then ID, both descending.
func newestFirst(a, b notify.Delivery) int {
	return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
}

// ChannelHealth implements [notify.DeliveryStore].
func (l *deliveryLog) ChannelHealth(ctx context.Context, orgID, channelID string) (notify.Health, error) {
	return health(l.channelDeliveries(orgID, channelID)), nil
}

// channelDeliveries returns copies of the deliveries of one channel.
func (l *deliveryLog) channelDeliveries(orgID, channelID string) []notify.Delivery {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ids := l.byChannel[key{orgID, channelID}]
	out := make([]notify.Delivery, 0, len(ids))
	for id := range ids {
		out = append(out, cloneDelivery(*l.byID[key{orgID, id}]))
	}
	return out
}

// failing reports whether d counts as a failure in [notify.Health].
func failing(d notify.Delivery) bool {
	return d.Status == "failed" || (d.Status == "pending" && d.Reason != "")
}

// health computes the [notify.Health] of the deliveries ds of one
// channel, as its documentation describes.
func health(ds []notify.Delivery) notify.Health {
	var h notify.Health
	var last *notify.Delivery // the latest failing one
	for i, d := range ds {
		switch d.Status {
		case "pending":
			h.Pending++
		case "failed":
			h.Failed++
		}
		if d.DeliveredAt != nil && (h.LastDeliveredAt == nil || d.DeliveredAt.After(*h.LastDeliveredAt)) {
			h.LastDeliveredAt = utcPtr(d.DeliveredAt)
		}
		if failing(d) && (last == nil || cmp.Or(d.UpdatedAt.Compare(last.UpdatedAt), cmp.Compare(d.ID, last.ID)) > 0) {
			last = &ds[i]
		}
	}
	if last != nil {
		h.LastError = last.Reason
	}
	for _, d := range ds {
		if !failing(d) || (h.LastDeliveredAt != nil && !d.UpdatedAt.After(*h.LastDeliveredAt)) {
			continue
		}
		since := d.UpdatedAt
		if d.FirstFailedAt != nil {
			since = *d.FirstFailedAt
		}
		if h.LastDeliveredAt != nil && since.Before(*h.LastDeliveredAt) {
			since = *h.LastDeliveredAt
		}
		if h.FailingSince == nil || since.Before(*h.FailingSince) {
			h.FailingSince = &since
		}
	}
	return h
}

func cloneDelivery(d notify.Delivery) notify.Delivery {
	d.DeliveredAt = utcPtr(d.DeliveredAt)
	d.FirstFailedAt = utcPtr(d.FirstFailedAt)
	d.Retry = slices.Clone(d.Retry)
	return d
}

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// utcPtr returns a copy of *t in UTC, or nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := utc(*t)
	return &c
}
