package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify/notifytest"
)

// On SQLite and PostgreSQL the example runs the durable queue: an
// approval request is handed over in Create's transaction (no Enqueue),
// its delivery is logged by the queue, and the settings API's retry
// endpoint makes a failed one again.
func TestDurableDeliveriesLogAndRetry(t *testing.T) {
	for _, st := range testStores {
		if st.name == "memory" {
			continue // TestDeliveriesLogAndRetry
		}
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHost(t, map[string]string{"DATABASE_URL": st.dsn(t)})
			require.True(t, h.app.durable, "the durable queue is the default on %s", st.name)
			bot := h.botChannel(t, "Ops Slack", "C0DURABLE1")
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

			h.fake.FailNext(1, notifytest.Fault{Method: "chat.postMessage", Error: "channel_not_found"})
			r := h.admin(t, "POST", "/v1/approvals", map[string]any{"title": "Rotate the signing key", "risk_score": 70})
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
			assert.Empty(t, r.Header.Get("X-Delivery-Error"), "handed over in the store's transaction")

			var failed deliveryJSON
			eventually(t, "the failed delivery in the log", func() bool {
				ds := deliveries(t)
				if len(ds) == 1 && ds[0].Status == "failed" {
					failed = ds[0]
					return true
				}
				return false
			})
			assert.Equal(t, "post", failed.Op)
			assert.Equal(t, "channel_not_found", failed.Code)
			assert.Equal(t, 1, failed.Attempts)
			require.NotNil(t, failed.FirstFailedAt)
			hl := h.channelHealth(t, base)
			require.NotNil(t, hl.FailingSince)
			assert.Equal(t, 1, hl.Failed)

			r = h.admin(t, "POST", base+"/deliveries/"+failed.ID+"/retry", nil)
			require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
			eventually(t, "the retried delivery delivered", func() bool {
				ds := deliveries(t)
				return len(ds) == 1 && ds[0].Status == "delivered"
			})
			done := deliveries(t)[0]
			assert.Equal(t, failed.ID, done.ID)
			assert.Equal(t, 2, done.Attempts)
			assert.Empty(t, done.Reason)
			require.NotNil(t, done.FirstFailedAt, "kept after the success")
			assert.Len(t, h.requests("chat.postMessage"), 2)
			hl = h.channelHealth(t, base)
			assert.Nil(t, hl.FailingSince, "the channel recovered")
			assert.Zero(t, hl.Failed)

			r = h.admin(t, "POST", base+"/deliveries/"+failed.ID+"/retry", nil)
			assert.Equal(t, http.StatusConflict, r.Status, "delivered: nothing to retry: %s", r.Body)
		})
	}
}
