// Package storetest checks a store against the contracts of chatnotify's
// store interfaces, as [testing/slogtest] does for slog handlers.
//
// A store implementation calls the suites from its own tests:
//
//	func TestChannelStore(t *testing.T) {
//		storetest.TestChannelStore(t, func(t *testing.T) notify.ChannelStore { return newTestStore(t) })
//	}
//
//	func TestPostStore(t *testing.T) {
//		storetest.TestPostStore(t, func(t *testing.T) notify.PostStore { return newTestStore(t) })
//	}
//
//	func TestApprovalStore(t *testing.T) {
//		storetest.TestApprovalStore(t, func(t *testing.T) storetest.ApprovalStores { return newTestStore(t) })
//	}
//
// # What is checked
//
// Every "should" and "returns" sentence in the documentation of
// [notify.ChannelStore], [notify.PostStore], [approval.ApprovalStore],
// [approval.AuditLogger] and [approval.AuditLister] has a named subtest:
// organisation isolation on every channel verb, ordering, empty results,
// generated IDs and timestamps, conflicts, every outcome of
// [approval.ApprovalStore.DecideApproval] including its deadline rule,
// and the audit trail's order, scoping and limit. The rules of the
// optional [approval.ExpiryLister] (only pending requests, due at now
// inclusive, never without a deadline, oldest deadline first, at most
// limit, across organisations) are checked when the store implements it
// and skipped otherwise. Round-trip subtests fill every exported field of
// the stored types, found by reflection, so a field added to a type later
// is checked without changing this package.
//
// # Concurrency
//
// Concurrency subtests run many goroutines against one store; run the
// suite with -race. The central one decides one approval request from 100
// goroutines through [approval.Service.Review] and requires exactly one
// success, 99 "already approved" or "already denied" errors, and exactly
// one [approval.AuditReviewed] entry. Another runs ten
// [approval.Service.ExpireDue] sweeps at once, as replicas would, and
// requires each due request to be expired, audited and counted once.
//
// # Factories
//
// The factory is called once per subtest and must return an empty store,
// independent of every other store it returned. It receives the subtest's
// *testing.T, so it can register cleanup (closing a database, dropping a
// schema) with t.Cleanup and fail with t.Fatal. Stores must accept any
// non-empty organisation and request IDs.
//
// The package uses only the standard library's testing package, so it adds
// no dependencies to a host's test binary.
package storetest
