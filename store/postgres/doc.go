// Package postgres keeps chatnotify's channels, posts, approval requests
// and audit trail in a PostgreSQL database (13 or later), through pgx
// (github.com/jackc/pgx/v5), for hosts running several replicas against
// one database. It is the same [Store] as store/sqlite's, on another
// database. A host importing this package links no SQLite.
//
// [Store] implements [notify.ChannelStore], [notify.PostStore],
// [approval.ApprovalStore], [approval.AuditLogger], [approval.AuditLister],
// [approval.ExpiryLister] and [teams.ConversationStore]; store/storetest
// checks it.
//
// # Opening
//
// [Open] takes a postgres:// or postgresql:// URL. It connects, applies
// the schema migrations the database lacks and returns a [Store]; close
// it with Store.Close. Errors never contain the DSN's password. Hosts
// that manage their own *sql.DB, opened with pgx's database/sql driver
// (github.com/jackc/pgx/v5/stdlib), pass it to [New] instead.
//
// # Schema and migrations
//
// Every table is prefixed chatnotify_, so the store can share a database
// with the host's own tables. The tables go to the first schema of the
// connection's search_path: a DSN with ?search_path=chatnotify keeps them
// in a schema of their own. Migrations are embedded in the binary,
// numbered, and applied in one transaction at open that holds an advisory
// lock, so replicas starting together apply each migration exactly once;
// the applied versions are recorded in chatnotify_schema_migrations.
// Opening is idempotent. A database
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
// A Store is safe for concurrent use, and any number of replicas may
// share a database. [approval.ApprovalStore.DecideApproval] is a single
// conditional UPDATE … WHERE org_id = $1 AND id = $2 AND status =
// 'pending' …, so exactly one of any number of concurrent decisions, from
// any replica, wins.
//
// # Secrets at rest
//
// With [Options.SecretKey] set, channels' bot tokens and webhook URLs are
// encrypted with AES-256-GCM before they are written (a random nonce per
// value, bound to the channel and column) and decrypted when read, so a
// copy of the database alone does not reveal them. Without a key they
// are stored as given: protect the database accordingly.
//
// # Times
//
// Times are TIMESTAMPTZ with microsecond precision, and come back in UTC.
package postgres
