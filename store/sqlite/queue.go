package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/chatnotify/chatnotify/internal/riverqueue"
)

// RiverMigrations returns the SQL of River's migrations for SQLite, for a
// host that applies migrations itself; chatnotify's own are in this
// package's migrations directory. Open and New apply both.
func RiverMigrations() string {
	s, err := riverqueue.MigrationSQL(riversqlite.New(nil), "")
	if err != nil {
		panic(err) // cannot happen: the migrations are embedded in River
	}
	return s
}

// resetRunning puts back to available the jobs a killed process left
// running, so they run again at once rather than after River's rescuer
// (RescueStuckJobsAfter plus up to 30 s). Only the process holding the
// file's queue lock does it: a second process on the file may be working
// those jobs. The lock is kept for the life of the process.
func resetRunning(ctx context.Context, w *sql.DB, path string) error {
	if !lockFile(path + ".queue.lock") {
		return nil
	}
	if _, err := w.ExecContext(ctx, `UPDATE river_job SET state = 'available', attempt = max(attempt - 1, 0)
		WHERE state = 'running'`); err != nil {
		return fmt.Errorf("sqlite: resetting jobs left running: %w", err)
	}
	if _, err := w.ExecContext(ctx, `DELETE FROM river_leader`); err != nil {
		return fmt.Errorf("sqlite: resetting River's leader: %w", err)
	}
	return nil
}

// held keeps the lock files open (and so locked) for the process's life.
var held []*os.File
