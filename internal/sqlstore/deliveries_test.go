package sqlstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify"
)

// Every query of the deliveries log is answered from an index, in index
// order: no full scan of the table (SQLite "SCAN chatnotify_deliveries",
// PostgreSQL "Seq Scan") and no sort of the rows ("TEMP B-TREE", "Sort").
func TestDeliveryQueriesUseIndexes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := b.openStore(t, b.newDB(t), nil)
		at := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
		for i := range 400 {
			d := notify.Delivery{OrgID: fmt.Sprint("org-", i%2), ID: fmt.Sprint("d-", i), ChannelID: fmt.Sprint("c-", i%20),
				Op: "post", Status: []string{"delivered", "delivered", "delivered", "pending", "failed"}[i%5],
				CreatedAt: at.Add(time.Duration(i) * time.Second)}
			if d.Status == "delivered" {
				d.DeliveredAt = &d.CreatedAt
			} else if i%3 == 0 {
				d.Reason = "timeout"
			}
			require.NoError(t, s.SaveDelivery(t.Context(), d))
		}
		plans, err := s.ExplainDeliveries(t.Context(), "org-1", "c-1")
		require.NoError(t, err)
		require.Len(t, plans, 4)
		for name, plan := range plans {
			text := strings.Join(plan, "\n")
			for _, bad := range []string{"SCAN chatnotify_deliveries\n", "Seq Scan", "TEMP B-TREE", "Sort"} {
				assert.NotContains(t, text+"\n", bad, "plan of %s:\n%s", name, text)
			}
			want := map[string]string{"get": "pkey", "list": "chatnotify_deliveries_channel", "list before": "chatnotify_deliveries_channel"}[name]
			if want == "pkey" && !b.numbered {
				want = "sqlite_autoindex_chatnotify_deliveries_1"
			}
			assert.Contains(t, text, want, "plan of %s:\n%s", name, text)
			assert.Contains(t, text, "chatnotify_deliveries_", "plan of %s uses none of the deliveries indexes:\n%s", name, text)
			t.Logf("%s:\n%s", name, text)
		}
	})
}
