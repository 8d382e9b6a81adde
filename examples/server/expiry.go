package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// expiryBatch is how many requests one sweep expires at most. Each
// expiry queues the update of the request's chat copies on the
// dispatcher, whose queue is bounded (notify.DispatcherOptions.QueueSize),
// so a sweep leaves a backlog for the next tick rather than filling it.
const expiryBatch = 100

// parseSweepInterval reads EXPIRY_SWEEP_INTERVAL: a Go duration, 0 to
// disable the sweep.
func parseSweepInterval(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("EXPIRY_SWEEP_INTERVAL must be a Go duration such as 30s, or 0 to disable the sweep; got %q", s)
	}
	return d, nil
}

// sweeper is the background expiry sweep of an app.
type sweeper struct {
	stop   chan struct{}      // closed to ask the loop to stop
	cancel context.CancelFunc // aborts a sweep in progress
	done   chan struct{}      // closed when the loop has returned
}

// startExpirySweeper starts marking pending approval requests past their
// deadline as expired, every a.sweepEvery, so that their chat copies are
// rewritten without waiting for a click (approval.Service.ExpireDue; safe
// with several replicas on one database). It does nothing when the
// interval is 0 or the sweep already runs. [app.Close] stops it.
//
// On the durable queue the sweep is the dispatcher's periodic job
// (notify.DispatcherOptions.Sweep), which River's elected leader inserts
// once per tick across the replicas; this only lets it start working
// (sweepDurable), once the server serves.
func (a *app) startExpirySweeper() {
	if a.durable {
		a.sweepOn.Store(a.sweepEvery > 0)
		return
	}
	if a.sweepEvery <= 0 || a.sweeper != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	sw := &sweeper{stop: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	a.sweeper = sw
	go func() {
		defer close(sw.done)
		tick := time.NewTicker(a.sweepEvery)
		defer tick.Stop()
		for {
			select {
			case <-sw.stop:
				return
			case <-tick.C:
				a.sweepOnce(ctx)
			}
		}
	}()
}

// sweepOnce expires one batch of due requests and logs what it did.
func (a *app) sweepOnce(ctx context.Context) {
	n, err := a.svc.ExpireDue(ctx, expiryBatch)
	if n > 0 {
		a.logger.Info("expired approval requests past their deadline", "count", n)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		a.logger.Error("expiry sweep failed; the next one tries again", "err", err)
	}
}

// sweepDurable is the dispatcher's Sweep on the durable queue: one
// batch, as sweepOnce, once startExpirySweeper has run. The expiries'
// chat updates are handed over in their own transactions.
func (a *app) sweepDurable(ctx context.Context) error {
	if a.sweepOn.Load() {
		a.sweepOnce(ctx)
	}
	return nil
}

// stopExpirySweeper stops the sweep: it lets a sweep in progress finish
// until ctx is done, then aborts it, and waits for the loop to return.
// The expiries it made have queued their chat updates by then, for the
// dispatcher to drain. (On the durable queue, the dispatcher's Close
// stops the periodic job; this only keeps it from starting another run.)
func (a *app) stopExpirySweeper(ctx context.Context) {
	a.sweepOn.Store(false)
	sw := a.sweeper
	if sw == nil {
		return
	}
	a.sweeper = nil
	close(sw.stop)
	select {
	case <-sw.done:
	case <-ctx.Done():
		sw.cancel()
		<-sw.done
	}
	sw.cancel()
}
