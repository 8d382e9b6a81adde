package postgres

import (
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/chatnotify/chatnotify/internal/riverqueue"
)

// RiverMigrations returns the SQL of River's migrations, with its tables
// in the schema chatnotify_river, for a host that applies migrations
// itself (create the schema first); chatnotify's own are in this package's migrations
// directory. Open and New apply both.
func RiverMigrations() string {
	s, err := riverqueue.MigrationSQL(riverdatabasesql.New(nil), riverSchema)
	if err != nil {
		panic(err) // cannot happen: the migrations are embedded in River
	}
	return s
}
