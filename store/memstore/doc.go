// Package memstore is an in-memory implementation of chatnotify's store
// interfaces: [notify.ChannelStore], [notify.PostStore],
// [approval.ApprovalStore], [approval.AuditLogger],
// [approval.AuditLister] and [approval.ExpiryLister].
//
// It is meant for tests, demos and single-process hosts that do not need
// their data to survive a restart: everything is lost when the process
// exits. Hosts that need durability, or run several replicas, use
// store/sqlstore (SQLite or PostgreSQL) or their own implementation
// checked with store/storetest, which this package passes too.
//
// A [Store] is safe for concurrent use. Its zero value is not usable; call
// [New].
package memstore
