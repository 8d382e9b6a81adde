package notify_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// fanOutSetup seeds n Slack webhook channels of one org, all on a fake
// Slack answering after latency, and returns a dispatcher with workers
// and the count of its successful deliveries.
func fanOutSetup(tb testing.TB, n, workers int, latency time.Duration) (*notify.Dispatcher, *notifytest.Server, *atomic.Int64) {
	fake := notifytest.New()
	fake.SetLatency(latency)
	st := memstore.New()
	for i := range n {
		seedChannel(tb, st, "org-1", notify.Channel{
			Type: notify.Slack, Name: fmt.Sprintf("ch-%04d", i), Enabled: true,
			Config: notify.ChannelConfig{WebhookURL: fake.SlackWebhookURL(fmt.Sprintf("hook%04d", i))},
		})
	}
	s, err := notify.NewSender(&notify.SenderOptions{AllowLoopbackURLs: true})
	require.NoError(tb, err)
	var ok atomic.Int64
	d, err := notify.NewDispatcher(st, s, &notify.DispatcherOptions{Workers: workers, DisableRateLimit: true, OnDelivery: func(r notify.Result) {
		if r.OK {
			ok.Add(1)
		}
	}})
	require.NoError(tb, err)
	return d, fake, &ok
}

// BenchmarkFanOut1000 sends one event to 1,000 channels through the
// queue, on a fake server answering after 5 ms. The ideal wall time is
// 1,000 / workers × 5 ms; x_ideal reports the measured time per event
// over it.
func BenchmarkFanOut1000(b *testing.B) {
	const channels, latency = 1000, 5 * time.Millisecond
	for _, workers := range []int{8, 50} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			d, fake, ok := fanOutSetup(b, channels, workers, latency)
			defer fake.Close()
			defer d.Close(context.Background())
			ev := notify.DriftAlert{Resource: "aws_security_group.web", Severity: notify.SeverityHigh, Expected: "443", Actual: "0-65535"}
			ideal := time.Duration(channels/workers) * latency
			n := 0
			b.ResetTimer()
			for b.Loop() {
				if err := d.Enqueue("org-1", ev); err != nil {
					b.Fatal(err)
				}
				notify.WaitIdle(d)
				n++
			}
			if got := ok.Load(); got != int64(n*channels) {
				b.Fatalf("%d deliveries, want %d", got, n*channels)
			}
			b.ReportMetric(float64(b.Elapsed())/float64(n)/float64(ideal), "x_ideal")
		})
	}
}

// BenchmarkFanOut1000Dispatcher measures the dispatcher alone: the same
// fan-out to a sender that only waits 5 ms, without HTTP, so the ratio
// shows the queue's own overhead rather than the in-process fake
// server's.
func BenchmarkFanOut1000Dispatcher(b *testing.B) {
	const channels, workers, latency = 1000, 50, 5 * time.Millisecond
	st := memstore.New()
	for i := range channels {
		seedChannel(b, st, "org-1", notify.Channel{
			Type: notify.Slack, Name: fmt.Sprintf("ch-%04d", i), Enabled: true,
			Config: notify.ChannelConfig{WebhookURL: fmt.Sprintf("https://hooks.slack.com/services/T0/B0/%04d", i)},
		})
	}
	sender := notify.TestSender{Post: func(ctx context.Context, ch notify.Channel, ev notify.Event) (notify.Receipt, error) {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
			return notify.Receipt{}, nil
		case <-ctx.Done():
			return notify.Receipt{}, ctx.Err()
		}
	}}
	d, err := notify.NewTestDispatcher(st, sender, &notify.DispatcherOptions{Workers: workers, DisableRateLimit: true})
	require.NoError(b, err)
	defer d.Close(context.Background())
	ideal := time.Duration(channels/workers) * latency
	n := 0
	for b.Loop() {
		if err := d.Enqueue("org-1", notify.DriftAlert{Resource: "x"}); err != nil {
			b.Fatal(err)
		}
		notify.WaitIdle(d)
		n++
	}
	b.ReportMetric(float64(b.Elapsed())/float64(n)/float64(ideal), "x_ideal")
}

func TestFanOutLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	d, fake, ok := fanOutSetup(t, 200, 20, 0)
	require.NoError(t, d.Enqueue("org-1", notify.DriftAlert{Resource: "x"}))
	require.NoError(t, d.Close(t.Context()))
	require.Equal(t, int64(200), ok.Load())
	fake.Close() // closes the kept-alive connections
	settle(t, func() bool { return runtime.NumGoroutine() <= before })
}
