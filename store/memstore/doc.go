// Package memstore is an in-memory implementation of chatnotify's store
// interfaces: [notify.ChannelStore], [notify.PostStore],
// [approval.ApprovalStore], [approval.AuditLogger],
// [approval.AuditLister], [approval.ExpiryLister] and
// [teams.ConversationStore], and, through [Store.Deliveries],
// [notify.DeliveryStore].
//
// It is meant for tests, demos and single-process hosts that do not need
// their data to survive a restart: everything is lost when the process
// exits. Hosts that need durability, or run several replicas, use
// store/sqlite or store/postgres, or their own implementation checked
// with store/storetest, which this package passes too.
//
// # Organisations
//
// Like the SQL stores, a Store keeps every organisation apart: approval
// requests are keyed by organisation and ID (the same client-chosen ID in
// two organisations is two requests), and a request, audit entry, post,
// delivery or Teams conversation of another organisation is never
// returned.
//
// A [Store] is safe for concurrent use. Its zero value is not usable; call
// [New].
package memstore
