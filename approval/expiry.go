package approval

import (
	"context"
	"errors"
	"fmt"
)

// defaultExpireBatch is the number of requests [Service.ExpireDue]
// handles when called with a limit below 1.
const defaultExpireBatch = 100

// ExpireDue expires up to limit pending requests, of every organisation,
// whose deadline has passed (oldest deadline first; a limit below 1 means
// 100) and returns how many this call expired. Each goes through
// [Service.Expire] with its own organisation: it is marked expired once,
// audited as [AuditExpired], and handed to [Options.FollowUp] as Decided,
// which is how a host rewrites the request's chat messages without
// waiting for someone to click them.
//
// Hosts call it from a periodic sweep (a ticker every 30 seconds or so).
// Sweeps running at the same time, in one process or in several replicas
// sharing a database, are safe: they rest on the store's atomic
// DecideApproval, so each request is expired, audited and reported once,
// and counted only by the call that expired it. A request decided or
// expired by someone else between the listing and its expiry is skipped.
//
// The store must implement [ExpiryLister]; otherwise ExpireDue returns an
// error matching [errors.ErrUnsupported]. Errors on single requests do not
// stop the sweep: they are joined and returned with the count. It stops
// early, returning the context's error, when ctx is done.
func (s *Service) ExpireDue(ctx context.Context, limit int) (int, error) {
	lister, ok := s.store.(ExpiryLister)
	if !ok {
		return 0, fmt.Errorf("approval: ExpireDue: the store does not implement ExpiryLister: %w", errors.ErrUnsupported)
	}
	if limit < 1 {
		limit = defaultExpireBatch
	}
	due, err := lister.ListExpired(ctx, s.opts.Now().UTC(), limit)
	if err != nil {
		return 0, fmt.Errorf("approval: listing expired requests: %w", err)
	}
	n := 0
	var errs []error
	for _, r := range due {
		if err := ctx.Err(); err != nil {
			return n, errors.Join(append(errs, err)...)
		}
		_, marked, err := s.expireID(ctx, r.OrgID, r.ID)
		switch {
		case marked:
			n++
		case err == nil, errors.Is(err, ErrNotPending), errors.Is(err, ErrExpired), errors.Is(err, ErrNotFound):
			// Decided, expired or removed by someone else since the
			// listing: nothing left to do.
		default:
			errs = append(errs, fmt.Errorf("approval: expiring %s of org %s: %w", r.ID, r.OrgID, err))
		}
	}
	return n, errors.Join(errs...)
}
