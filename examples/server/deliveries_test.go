package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
)

type deliveryJSON struct {
	ID            string     `json:"id"`
	ChannelID     string     `json:"channel_id"`
	Op            string     `json:"op"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	Reason        string     `json:"reason"`
	Code          string     `json:"code"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	FirstFailedAt *time.Time `json:"first_failed_at"`
}

type healthJSON struct {
	LastDeliveredAt *time.Time `json:"last_delivered_at"`
	LastError       string     `json:"last_error"`
	FailingSince    *time.Time `json:"failing_since"`
	Pending         int        `json:"pending"`
	Failed          int        `json:"failed"`
}

// channelHealth reads the health of the channel at path.
func (h *testHost) channelHealth(t *testing.T, path string) healthJSON {
	t.Helper()
	r := h.admin(t, "GET", path, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var ch struct {
		Health *healthJSON `json:"health"`
	}
	r.decode(t, &ch)
	require.NotNil(t, ch.Health, "the channel carries its health")
	return *ch.Health
}

// The dispatcher writes the deliveries log; admins see a failing channel
// in the settings API, fix it and retry the failed delivery.
func TestDeliveriesLogAndRetry(t *testing.T) {
	h := newTestHost(t, nil)
	bot := h.botChannel(t, "Ops Slack", "C0DELIVER1")
	base := "/v1/settings/notifications/" + bot

	deliveries := func(t *testing.T) []deliveryJSON {
		t.Helper()
		r := h.admin(t, "GET", base+"/deliveries", nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.NotContains(t, string(r.Body), testBotToken)
		var page struct{ Deliveries []deliveryJSON }
		r.decode(t, &page)
		return page.Deliveries
	}

	// The bot is not in the channel: Slack answers channel_not_found, a
	// permanent error.
	h.fake.FailNext(1, notifytest.Fault{Method: "chat.postMessage", Error: "channel_not_found"})
	r := h.send(t, "POST", "/v1/events", testAdminToken, "application/json",
		strings.NewReader(`{"type":"drift_alert","resource":"s3://prod-logs","expected":"versioning on","actual":"versioning off","severity":"high"}`))
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)

	var failed deliveryJSON
	eventually(t, "the failed delivery in the log", func() bool {
		ds := deliveries(t)
		if len(ds) == 1 && ds[0].Status == "failed" {
			failed = ds[0]
			return true
		}
		return false
	})
	assert.Equal(t, bot, failed.ChannelID)
	assert.Equal(t, "post", failed.Op)
	assert.Equal(t, "channel_not_found", failed.Code)
	assert.NotEmpty(t, failed.Reason)
	assert.Equal(t, 1, failed.Attempts)
	require.NotNil(t, failed.FirstFailedAt)

	hl := h.channelHealth(t, base)
	require.NotNil(t, hl.FailingSince, "the channel is failing")
	assert.Equal(t, failed.Reason, hl.LastError)
	assert.Equal(t, 1, hl.Failed)
	assert.Nil(t, hl.LastDeliveredAt)

	// The admin fixes the channel (the fake now answers normally) and
	// retries.
	r = h.admin(t, "POST", base+"/deliveries/"+failed.ID+"/retry", nil)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var queued deliveryJSON
	r.decode(t, &queued)
	assert.Equal(t, failed.ID, queued.ID)
	assert.Contains(t, []string{"pending", "delivered"}, queued.Status)

	eventually(t, "the retried delivery delivered", func() bool {
		ds := deliveries(t)
		return len(ds) == 1 && ds[0].Status == "delivered"
	})
	done := deliveries(t)[0]
	assert.Equal(t, 2, done.Attempts)
	assert.Empty(t, done.Reason)
	require.NotNil(t, done.DeliveredAt)
	require.NotNil(t, done.FirstFailedAt, "kept after the success")
	assert.Len(t, h.requests("chat.postMessage"), 2)

	hl = h.channelHealth(t, base)
	require.NotNil(t, hl.LastDeliveredAt)
	assert.Nil(t, hl.FailingSince, "the channel recovered")
	assert.Zero(t, hl.Failed)

	// Delivered: nothing to retry.
	r = h.admin(t, "POST", base+"/deliveries/"+failed.ID+"/retry", nil)
	assert.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)

	// A failed delivery of another organisation, even under this
	// channel's ID, is neither shown nor retried.
	other := notify.Delivery{ID: "other-org-delivery", OrgID: "other-org", ChannelID: bot, Event: notify.EventDriftAlert,
		Op: "post", Status: "failed", Attempts: 1, Reason: "elsewhere", Retry: []byte(`{}`)}
	require.NoError(t, h.app.store.Deliveries().SaveDelivery(t.Context(), other))
	r = h.admin(t, "POST", base+"/deliveries/"+other.ID+"/retry", nil)
	assert.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
	for _, d := range deliveries(t) {
		assert.NotEqual(t, other.ID, d.ID)
	}
	assert.Len(t, h.requests("chat.postMessage"), 2, "nothing more was sent")
}
