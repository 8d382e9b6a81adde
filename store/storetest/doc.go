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
//	func TestDeliveryStore(t *testing.T) {
//		storetest.TestDeliveryStore(t, func(t *testing.T) notify.DeliveryStore { return newTestStore(t).Deliveries() })
//	}
//
// # What is checked
//
// Every "should" and "returns" sentence in the documentation of
// [notify.ChannelStore], [notify.PostStore], [notify.DeliveryStore],
// [approval.ApprovalStore], [approval.AuditLogger],
// [approval.AuditLister], [approval.ExpiryLister] and
// [teams.ConversationStore] has a named
// subtest, grouped by topic (one small function per topic, run as a
// subtest of its name): each verb, ordering, empty results, generated IDs
// and timestamps, conflicts, every outcome of
// [approval.ApprovalStore.DecideApproval] including its deadline rule,
// the audit trail's order, filter and limit, the expiry sweep's listing,
// the deliveries log's pagination edges (ties on CreatedAt, a cursor no
// delivery holds, the last page) and each rule of [notify.Health]. Round-trip subtests fill every exported field
// of the stored types, found by reflection, so a field added to a type
// later is checked without changing this package.
//
// # Organisations
//
// Each suite has an OrgIsolation topic (channels check it on every
// verb): request IDs are unique per organisation, so the same ID in two
// organisations is two requests and never [approval.ErrConflict]; a
// request of another organisation is [approval.ErrNotFound] to read or
// decide, and stays unchanged; audit entries and posts are listed only
// for their organisation, also when two organisations use one request
// ID; a delivery of another organisation is [notify.ErrNotFound], and
// another organisation's channel lists no deliveries and has the zero
// [notify.Health], also when the IDs are the same.
//
// # Optional interfaces
//
// [ApprovalStores] is what an [approval.Service] requires: an
// [approval.ApprovalStore] and an [approval.AuditLogger]. The rules of
// [approval.AuditLister] (reading the trail back) and
// [approval.ExpiryLister] (the expiry sweep) run when the store
// implements them; otherwise each of those subtests is skipped with a
// message naming the missing interface (go test -v shows them as SKIP),
// and the rest of the suite still runs.
//
// # Concurrency
//
// Concurrency subtests run many goroutines against one store; run the
// suite with -race. The central one decides one approval request from 100
// goroutines through [approval.Service.Review] and requires exactly one
// success, 99 [approval.ErrNotPending] errors that [approval.Message]
// words "Already approved" or "Already denied", and exactly one
// [approval.AuditReviewed] entry. Another decides one ID in two
// organisations at once and requires one winner in each. With an
// [approval.ExpiryLister], ten [approval.Service.ExpireDue] sweeps run at
// once, as replicas would, and each due request must be expired, audited
// and counted once.
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
