// Package sqlite keeps chatnotify's channels, posts, approval requests and
// audit trail in a SQLite database: one file, no server, pure Go
// (modernc.org/sqlite, no cgo). It suits a single process, or a few on
// one machine; hosts running several replicas use store/postgres, which
// is the same [Store] on PostgreSQL. A host importing this package links
// no PostgreSQL driver.
//
// [Store] implements [notify.ChannelStore], [notify.PostStore],
// [approval.ApprovalStore], [approval.AuditLogger], [approval.AuditLister],
// [approval.ExpiryLister] and [teams.ConversationStore]; store/storetest
// checks it.
//
// # Opening
//
// [Open] takes a file path (created if missing) or ":memory:" for a
// private in-memory database. It applies the schema migrations the file
// lacks and returns a [Store]; close it with Store.Close. Hosts that
// manage their own *sql.DB pass it to [New] instead, opened with a busy
// timeout and immediate transactions, for example
// "app.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate".
//
// # Schema and migrations
//
// Every table is prefixed chatnotify_, so the store can share a file with
// the host's own tables. Migrations are embedded in the binary, numbered,
// and applied in one transaction at open, which takes the write lock when
// it begins; the applied versions are recorded in
// chatnotify_schema_migrations. Opening is idempotent. A database
// migrated by a newer release is opened when every newer migration is an
// expand step for this one (each records the oldest schema version it
// works with, compatible_from), and refused otherwise: replicas of two
// releases can run side by side during a rolling deploy.
//
// # Organisations
//
// Approval requests are keyed by organisation and ID: the same
// client-chosen ID in two organisations is two requests. Reads and
// decisions of another organisation's request answer
// [approval.ErrNotFound], and audit entries and posts are listed per
// organisation.
//
// # Concurrency
//
// A Store is safe for concurrent use, and several Stores, in one process
// or several, may share a file. [approval.ApprovalStore.DecideApproval] is
// a single conditional UPDATE … WHERE org_id = ? AND id = ? AND status =
// 'pending' …, so exactly one of any number of concurrent decisions wins.
// Open keeps one writing connection, so that writers queue in the process
// instead of contending for the file lock, and a few read-only
// connections, which WAL mode lets run beside the writer; writers in
// other processes wait on SQLite's busy timeout.
//
// # Secrets at rest
//
// With [Options.SecretKey] set, channels' bot tokens and webhook URLs are
// encrypted with AES-256-GCM before they are written (a random nonce per
// value, bound to the channel and column) and decrypted when read, so a
// copy of the file alone does not reveal them. Without a key they are
// stored as given: protect the file accordingly.
//
// # Times
//
// Times are stored in UTC as fixed-width text with microsecond
// precision, and come back in UTC.
package sqlite
