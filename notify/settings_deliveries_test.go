package notify_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify"
)

// retryRecorder is a SettingsOptions.Retry that records its calls and
// answers err.
type retryRecorder struct {
	mu    sync.Mutex
	calls []notify.Delivery
	err   error
}

func (r *retryRecorder) retry(ctx context.Context, d notify.Delivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, d)
	return r.err
}

func (r *retryRecorder) Calls() []notify.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Delivery(nil), r.calls...)
}

var deliveryEpoch = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// saveDelivery stores a delivery of ch directly. Its reason quotes the
// channel's secrets, as a careless sender might, so that every response
// shows whether the handler scrubs them (serve checks each response).
func (f *fixture) saveDelivery(ch notify.Channel, id, status string, createdSec int) notify.Delivery {
	f.t.Helper()
	created := deliveryEpoch.Add(time.Duration(createdSec) * time.Second)
	d := notify.Delivery{
		ID: id, OrgID: ch.OrgID, ChannelID: ch.ID, Event: notify.EventApprovalRequest, ApprovalID: "appr-" + id,
		Op: "post", Status: status, Attempts: 1, CreatedAt: created, UpdatedAt: created.Add(time.Second),
		Retry: json.RawMessage(`{"kind":"post","token":"not a secret, but never shown"}`),
	}
	switch status {
	case "delivered":
		d.DeliveredAt = &d.UpdatedAt
	case "failed":
		d.Reason = "the webhook " + ch.Config.WebhookURL + " refused token " + ch.Config.BotToken
		d.Code = "channel_not_found"
		d.FirstFailedAt = &d.UpdatedAt
	}
	require.NoError(f.t, f.mem.Deliveries().SaveDelivery(f.t.Context(), d))
	return d
}

type deliveryPage struct {
	Deliveries []map[string]any `json:"deliveries"`
	Next       *string          `json:"next"`
}

func pageIDs(p deliveryPage) []string {
	ids := make([]string, len(p.Deliveries))
	for i, d := range p.Deliveries {
		ids[i], _ = d["id"].(string)
	}
	return ids
}

func secretChannel() notify.Channel {
	return with(slackBot(), func(c *notify.Channel) { c.Config.WebhookURL = testSlackHook })
}

// ---------------------------------------------------------------------
// Health

func TestSettingsHealth(t *testing.T) {
	f := newFixture(t)
	ch := f.seed(orgA, secretChannel())
	quiet := f.seed(orgA, teamsHook())
	f.saveDelivery(ch, "d1", "delivered", 1)
	f.saveDelivery(ch, "d2", "failed", 2)
	f.saveDelivery(ch, "d3", "pending", 3)
	f.saveDelivery(ch, "d4", "failed", 4)

	check := func(t *testing.T, got map[string]any) {
		t.Helper()
		h, ok := got["health"].(map[string]any)
		require.True(t, ok, "no health object in %v", got)
		assert.Equal(t, deliveryEpoch.Add(2*time.Second).Format(time.RFC3339Nano), h["last_delivered_at"])
		assert.Equal(t, deliveryEpoch.Add(3*time.Second).Format(time.RFC3339Nano), h["failing_since"])
		assert.Equal(t, "the webhook [REDACTED] refused token [REDACTED]", h["last_error"], "scrubbed of the channel's secrets")
		assert.EqualValues(t, 1, h["pending"])
		assert.EqualValues(t, 2, h["failed"])
	}

	w := f.do(http.MethodGet, base, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	list := decode[struct{ Channels []map[string]any }](t, w)
	require.Len(t, list.Channels, 2)
	check(t, list.Channels[0])
	assert.Equal(t, map[string]any{"pending": 0.0, "failed": 0.0}, list.Channels[1]["health"], "a channel without deliveries")
	assert.Equal(t, quiet.ID, list.Channels[1]["id"])

	w = f.do(http.MethodGet, base+"/"+ch.ID, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	check(t, decode[map[string]any](t, w))
	assert.Equal(t, ch.ID, decode[notify.Channel](t, w).ID)
	assert.NotContains(t, w.Body.String(), "org_id")
}

// A channel read back with its health can be sent back as it is.
func TestSettingsHealthIsReadOnly(t *testing.T) {
	f := newFixture(t)
	ch := f.seed(orgA, slackHook())
	f.saveDelivery(ch, "d1", "failed", 1)
	w := f.do(http.MethodGet, base+"/"+ch.ID, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code)
	w = f.do(http.MethodPut, base+"/"+ch.ID, tokenAdminA, w.Body.String())
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
}

// A health that cannot be read leaves the channel without one, and is
// logged without the store's secrets.
func TestSettingsHealthStoreFailure(t *testing.T) {
	f := newFixture(t, withOptions(func(o *notify.SettingsOptions) {
		o.Deliveries = brokenDeliveries{o.Deliveries, errors.New("db says: " + testSlackHook)}
	}))
	f.seed(orgA, slackHook())
	w := f.do(http.MethodGet, base, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.NotContains(t, w.Body.String(), "health")
	assert.Contains(t, f.logs.String(), "reading a channel's health failed")
}

// brokenDeliveries is a deliveries log whose reads fail with err.
type brokenDeliveries struct {
	notify.DeliveryStore
	err error
}

func (s brokenDeliveries) ChannelHealth(context.Context, string, string) (notify.Health, error) {
	return notify.Health{}, s.err
}

func (s brokenDeliveries) ListDeliveries(context.Context, string, string, notify.Delivery, int) ([]notify.Delivery, error) {
	return nil, s.err
}

func (s brokenDeliveries) GetDelivery(context.Context, string, string) (notify.Delivery, error) {
	return notify.Delivery{}, s.err
}

// Without SettingsOptions.Deliveries the channels have no health and the
// deliveries paths do not exist.
func TestSettingsWithoutDeliveryStore(t *testing.T) {
	rec := &retryRecorder{}
	f := newFixture(t, withOptions(func(o *notify.SettingsOptions) { o.Deliveries, o.Retry = nil, rec.retry }))
	ch := f.seed(orgA, slackHook())
	f.saveDelivery(ch, "d1", "failed", 1)

	for _, path := range []string{base, base + "/" + ch.ID} {
		w := f.do(http.MethodGet, path, tokenAdminA, "")
		require.Equal(t, http.StatusOK, w.Code)
		assert.NotContains(t, w.Body.String(), "health")
	}
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, base + "/" + ch.ID + "/deliveries"},
		{http.MethodPost, base + "/" + ch.ID + "/deliveries/d1/retry"},
	} {
		w := f.do(req.method, req.path, tokenAdminA, "")
		assert.Equal(t, http.StatusNotFound, w.Code)
		assert.Equal(t, "not found", errorBody(t, w))
	}
	assert.Empty(t, rec.Calls())
}

// ---------------------------------------------------------------------
// Deliveries list

func TestSettingsDeliveriesPages(t *testing.T) {
	f := newFixture(t)
	ch := f.seed(orgA, secretChannel())
	other := f.seed(orgA, teamsHook())
	statuses := []string{"pending", "delivered", "failed"}
	var want []string // newest first
	for i := range 45 {
		d := f.saveDelivery(ch, fmt.Sprintf("d-%02d", i), statuses[i%3], i/2) // pairs share a CreatedAt
		want = append([]string{d.ID}, want...)
	}
	f.saveDelivery(other, "elsewhere", "failed", 100)

	// The default page is 20; next leads through every delivery once.
	var got []string
	path := base + "/" + ch.ID + "/deliveries"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 3)
		w := f.do(http.MethodGet, path, tokenAdminA, "")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		p := decode[deliveryPage](t, w)
		got = append(got, pageIDs(p)...)
		if p.Next == nil {
			assert.Len(t, p.Deliveries, 5, "the last page")
			assert.NotContains(t, w.Body.String(), `"next"`)
			break
		}
		assert.Len(t, p.Deliveries, 20)
		path = base + "/" + ch.ID + "/deliveries?before=" + url.QueryEscape(*p.Next)
	}
	assert.Equal(t, want, got)

	// ?limit bounds the page; a page ending exactly at the last delivery
	// has no next.
	for _, limit := range []int{1, 7, 44, 45, 100} {
		w := f.do(http.MethodGet, fmt.Sprintf("%s/%s/deliveries?limit=%d", base, ch.ID, limit), tokenAdminA, "")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		p := decode[deliveryPage](t, w)
		assert.Equal(t, want[:min(limit, 45)], pageIDs(p), "limit %d", limit)
		assert.Equal(t, limit < 45, p.Next != nil, "next with limit %d", limit)
	}
}

func TestSettingsDeliveryJSON(t *testing.T) {
	f := newFixture(t)
	ch := f.seed(orgA, secretChannel())
	d := f.saveDelivery(ch, "d-1", "failed", 1)
	w := f.do(http.MethodGet, base+"/"+ch.ID+"/deliveries", tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	at := d.UpdatedAt.Format(time.RFC3339Nano)
	assert.JSONEq(t, `{"deliveries":[{
		"id": "d-1", "channel_id": "`+ch.ID+`", "event": "approval_request", "approval_id": "appr-d-1",
		"op": "post", "status": "failed", "attempts": 1,
		"reason": "the webhook [REDACTED] refused token [REDACTED]", "code": "channel_not_found",
		"created_at": "`+d.CreatedAt.Format(time.RFC3339Nano)+`", "updated_at": "`+at+`", "first_failed_at": "`+at+`"
	}]}`, w.Body.String(), "no org, no retry data, no secret")
}

func TestSettingsDeliveriesRefusals(t *testing.T) {
	f := newFixture(t)
	mine := f.seed(orgA, slackHook())
	theirs := f.seed(orgB, with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = otherBotToken }))
	f.saveDelivery(theirs, "theirs", "failed", 1)
	// A delivery of orgB filed under orgA's channel ID is still orgB's.
	f.saveDelivery(with(mine, func(c *notify.Channel) { c.OrgID = orgB }), "misfiled", "failed", 2)

	cursor := func(s string) string { return url.QueryEscape(base64.RawURLEncoding.EncodeToString([]byte(s))) }
	tests := []struct {
		name, path string
		status     int
		msg        string
	}{
		{"foreign channel", "/" + theirs.ID + "/deliveries", 404, "notification channel not found"},
		{"unknown channel", "/00000000-0000-7000-8000-000000000000/deliveries", 404, "notification channel not found"},
		{"limit 0", "/" + mine.ID + "/deliveries?limit=0", 400, "limit must be an integer from 1 to 100"},
		{"limit 101", "/" + mine.ID + "/deliveries?limit=101", 400, "limit must be an integer from 1 to 100"},
		{"negative limit", "/" + mine.ID + "/deliveries?limit=-5", 400, "limit must be an integer from 1 to 100"},
		{"limit not a number", "/" + mine.ID + "/deliveries?limit=ten", 400, "limit must be an integer from 1 to 100"},
		{"empty limit", "/" + mine.ID + "/deliveries?limit=", 400, "limit must be an integer from 1 to 100"},
		{"two limits", "/" + mine.ID + "/deliveries?limit=5&limit=6", 400, "limit must be an integer from 1 to 100"},
		{"before not base64", "/" + mine.ID + "/deliveries?before=%21%21", 400, "before must be the next cursor of a previous page"},
		{"empty before", "/" + mine.ID + "/deliveries?before=", 400, "before must be the next cursor of a previous page"},
		{"before without a time", "/" + mine.ID + "/deliveries?before=" + cursor("d-1"), 400, "before must be the next cursor of a previous page"},
		{"before without an ID", "/" + mine.ID + "/deliveries?before=" + cursor("1234:"), 400, "before must be the next cursor of a previous page"},
		{"before with a bad time", "/" + mine.ID + "/deliveries?before=" + cursor("x:d-1"), 400, "before must be the next cursor of a previous page"},
		{"before with a control character", "/" + mine.ID + "/deliveries?before=" + cursor("1234:d\n1"), 400, "before must be the next cursor of a previous page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(http.MethodGet, base+tt.path, tokenAdminA, "")
			assert.Equal(t, tt.status, w.Code, w.Body.String())
			assert.Equal(t, tt.msg, errorBody(t, w))
			assert.NotContains(t, w.Body.String(), "theirs")
		})
	}

	w := f.do(http.MethodGet, base+"/"+mine.ID+"/deliveries", tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"deliveries":[]}`, w.Body.String(), "orgB's delivery under orgA's channel ID is not listed")

	// The owner sees its own.
	w = f.do(http.MethodGet, base+"/"+theirs.ID+"/deliveries", tokenAdminB, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, []string{"theirs"}, pageIDs(decode[deliveryPage](t, w)))
}

func TestSettingsDeliveriesStoreFailure(t *testing.T) {
	f := newFixture(t, withOptions(func(o *notify.SettingsOptions) {
		o.Deliveries = brokenDeliveries{o.Deliveries, errors.New("db says: " + testBotToken)}
		o.Retry = (&retryRecorder{}).retry
	}))
	ch := f.seed(orgA, slackBot())
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, base + "/" + ch.ID + "/deliveries"},
		{http.MethodPost, base + "/" + ch.ID + "/deliveries/d-1/retry"},
	} {
		w := f.do(req.method, req.path, tokenAdminA, "")
		assert.Equal(t, http.StatusInternalServerError, w.Code)
		assert.Equal(t, "internal error", errorBody(t, w))
	}
}

// ---------------------------------------------------------------------
// Retry

func TestSettingsRetry(t *testing.T) {
	rec := &retryRecorder{}
	f := newFixture(t, withOptions(func(o *notify.SettingsOptions) { o.Retry = rec.retry }))
	ch := f.seed(orgA, secretChannel())
	sibling := f.seed(orgA, teamsHook())
	theirs := f.seed(orgB, with(slackBot(), func(c *notify.Channel) { c.Config.BotToken = otherBotToken }))
	failed := f.saveDelivery(ch, "failed", "failed", 1)
	f.saveDelivery(ch, "pending", "pending", 2)
	f.saveDelivery(ch, "delivered", "delivered", 3)
	f.saveDelivery(sibling, "sibling", "failed", 4)
	f.saveDelivery(theirs, "theirs", "failed", 5)
	retry := func(chID, id string) string { return base + "/" + chID + "/deliveries/" + id + "/retry" }

	tests := []struct {
		name, path string
		status     int
		msg        string
	}{
		{"pending", retry(ch.ID, "pending"), 409, `only a failed delivery can be retried; this one is "pending"`},
		{"delivered", retry(ch.ID, "delivered"), 409, `only a failed delivery can be retried; this one is "delivered"`},
		{"unknown delivery", retry(ch.ID, "nope"), 404, "delivery not found"},
		{"another channel's delivery", retry(ch.ID, "sibling"), 404, "delivery not found"},
		{"another org's delivery", retry(ch.ID, "theirs"), 404, "delivery not found"},
		{"another org's channel", retry(theirs.ID, "theirs"), 404, "notification channel not found"},
		{"unknown channel", retry("00000000-0000-7000-8000-000000000000", "failed"), 404, "notification channel not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(http.MethodPost, tt.path, tokenAdminA, "")
			assert.Equal(t, tt.status, w.Code, w.Body.String())
			assert.Equal(t, tt.msg, errorBody(t, w))
		})
	}
	require.Empty(t, rec.Calls(), "no refusal reached Retry")

	w := f.do(http.MethodPost, retry(ch.ID, "failed"), tokenAdminA, "")
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.Equal(t, "failed", decode[notify.Delivery](t, w).ID)
	calls := rec.Calls()
	require.Len(t, calls, 1)
	assert.Equal(t, failed, calls[0], "Retry gets the stored delivery, its org and retry data included")
	assert.Contains(t, f.logs.String(), "delivery queued again")
}

// The answer shows the delivery as Retry left it.
func TestSettingsRetryShowsTheQueuedDelivery(t *testing.T) {
	var f *fixture
	f = newFixture(t, withOptions(func(o *notify.SettingsOptions) {
		o.Retry = func(ctx context.Context, d notify.Delivery) error {
			d.Status, d.Reason = "pending", ""
			return f.mem.Deliveries().SaveDelivery(ctx, d)
		}
	}))
	ch := f.seed(orgA, slackHook())
	f.saveDelivery(ch, "d-1", "failed", 1)
	w := f.do(http.MethodPost, base+"/"+ch.ID+"/deliveries/d-1/retry", tokenAdminA, "")
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	got := decode[notify.Delivery](t, w)
	assert.Equal(t, "pending", got.Status)
	assert.Empty(t, got.Reason)
}

func TestSettingsRetryErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
	}{
		{"no longer failed", fmt.Errorf("queue: %w", notify.ErrConflict), 409, "the delivery is no longer failed"},
		{"gone", fmt.Errorf("queue: %w", notify.ErrNotFound), 404, "delivery not found"},
		{"anything else", errors.New("river: insert failed for " + testSlackHook), 500, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &retryRecorder{err: tt.err}
			f := newFixture(t, withOptions(func(o *notify.SettingsOptions) { o.Retry = rec.retry }))
			ch := f.seed(orgA, slackHook())
			f.saveDelivery(ch, "d-1", "failed", 1)
			w := f.do(http.MethodPost, base+"/"+ch.ID+"/deliveries/d-1/retry", tokenAdminA, "")
			assert.Equal(t, tt.status, w.Code, w.Body.String())
			assert.Equal(t, tt.msg, errorBody(t, w))
			assert.Len(t, rec.Calls(), 1)
		})
	}
}

// Without SettingsOptions.Retry the endpoint exists (the log is there)
// but answers 501, after authentication and after the channel check.
func TestSettingsRetryNotEnabled(t *testing.T) {
	f := newFixture(t)
	ch := f.seed(orgA, slackHook())
	theirs := f.seed(orgB, slackHook())
	f.saveDelivery(ch, "d-1", "failed", 1)
	w := f.do(http.MethodPost, base+"/"+ch.ID+"/deliveries/d-1/retry", tokenAdminA, "")
	assert.Equal(t, http.StatusNotImplemented, w.Code)
	assert.Equal(t, "retrying deliveries is not enabled on this server", errorBody(t, w))
	w = f.do(http.MethodPost, base+"/"+theirs.ID+"/deliveries/d-1/retry", tokenAdminA, "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	w = f.do(http.MethodPost, base+"/"+ch.ID+"/deliveries/d-1/retry", tokenViewer, "")
	assert.Equal(t, http.StatusForbidden, w.Code)
}
