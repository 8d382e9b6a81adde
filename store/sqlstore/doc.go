// Package sqlstore implements chatnotify's store interfaces on a SQL
// database: [notify.ChannelStore], [notify.PostStore],
// [approval.ApprovalStore], [approval.AuditLogger], [approval.AuditLister]
// and [approval.ExpiryLister]. One implementation serves two databases:
//
//   - SQLite, the embedded default: one file, no server, pure Go
//     (modernc.org/sqlite, no cgo). For a single process, or a few on one
//     machine.
//   - PostgreSQL (13 or later, through github.com/jackc/pgx/v5), for hosts
//     running several replicas against one database.
//
// # Opening
//
// [Open] takes a DSN: sqlite:PATH (sqlite::memory: for a private
// in-memory database) or postgres://… / postgresql://…. It connects,
// applies the schema migrations the database lacks and returns a [Store];
// close it with [Store.Close]. Errors never contain the DSN's password.
//
// Hosts that manage their own *sql.DB pass it to [New] with its [Dialect]
// instead. For SQLite, open it with a busy timeout and immediate
// transactions, for example
// "app.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate".
//
// # Schema and migrations
//
// Every table is prefixed chatnotify_, so the store can share a database
// with the host's own tables. Migrations are embedded in the binary,
// numbered, and applied in one transaction at open; the applied versions
// are recorded in chatnotify_schema_migrations (prefixed like the rest,
// so as not to collide with the schema_migrations table of a host's own
// migration tool). Opening is idempotent. On PostgreSQL the migration
// transaction holds an advisory lock, so replicas starting together
// apply each migration exactly once; on SQLite the transaction takes the
// write lock when it begins. A database migrated by a newer release is
// refused rather than used. On PostgreSQL the tables go to the first
// schema of the connection's search_path, so a DSN with
// ?search_path=chatnotify keeps them in a schema of their own.
//
// # Concurrency
//
// A Store is safe for concurrent use, and several Stores, in one process
// or several, may share a database. [Store.DecideApproval] is a single
// conditional UPDATE … WHERE id = ? AND status = 'pending' …, so exactly
// one of any number of concurrent decisions wins, on either database. For
// a SQLite file, Open keeps one writing connection, so that writers queue
// in the process instead of contending for the file lock, and a few
// read-only connections, which WAL mode lets run beside the writer;
// writers in other processes wait on SQLite's busy timeout.
//
// # Secrets at rest
//
// With [Options.SecretKey] set, channels' bot tokens and webhook URLs are
// encrypted with AES-256-GCM before they are written (a random nonce per
// value, bound to the channel and column) and decrypted when read, so a
// copy of the database alone does not reveal them. Without a key they are
// stored as given: protect the database file or server accordingly.
//
// # Times
//
// Times are stored in UTC with microsecond precision (PostgreSQL's), and
// come back in UTC.
package sqlstore
