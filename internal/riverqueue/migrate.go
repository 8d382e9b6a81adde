package riverqueue

import (
	"context"
	"fmt"
	"strings"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

// Migrate applies River's migrations (its tables: river_job,
// river_leader, …) in schema (PostgreSQL; empty on SQLite, where they sit
// beside the store's tables in the same file). On PostgreSQL the schema
// must exist.
func Migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], schema string) error {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema})
	if err != nil {
		return fmt.Errorf("riverqueue: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("riverqueue: applying River's migrations: %w", err)
	}
	return nil
}

// MigrateTx is Migrate inside tx (the store's migration transaction,
// which on PostgreSQL holds the advisory lock that serialises replicas
// starting together).
func MigrateTx[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], tx TTx, schema string) error {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema})
	if err != nil {
		return fmt.Errorf("riverqueue: %w", err)
	}
	if _, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("riverqueue: applying River's migrations: %w", err)
	}
	return nil
}

// MigrationSQL returns River's up migrations for driver (built on a nil
// pool: no database is needed), in order, with their tables in schema
// (empty: unqualified), for hosts that apply migrations themselves.
func MigrationSQL[TTx any](driver riverdriver.Driver[TTx], schema string) (string, error) {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return "", fmt.Errorf("riverqueue: %w", err)
	}
	prefix := ""
	if schema != "" {
		prefix = schema + "."
	}
	var b strings.Builder
	for _, v := range m.AllVersions() {
		fmt.Fprintf(&b, "-- River migration %03d %s\n", v.Version, v.Name)
		b.WriteString(strings.ReplaceAll(v.SQLUp, "/* TEMPLATE: schema */", prefix))
		b.WriteString("\n")
	}
	return b.String(), nil
}
