// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// The server comes from the environment variable CHATNOTIFY_TEST_POSTGRES,
// a postgres:// DSN whose user may CREATE DATABASE (.ci/run starts a
// throw-away server and sets it). When the variable is unset a test is
// skipped, except under CI=true, where it fails: CI must never skip the
// PostgreSQL tests silently.
//
// This package is for tests only; it is the one place, besides
// examples/, that reads the environment.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// EnvDSN is the environment variable holding the server's DSN.
const EnvDSN = "CHATNOTIFY_TEST_POSTGRES"

// ServerDSN returns the DSN in [EnvDSN]. When it is unset it skips t, or
// fails t when the environment variable CI is "true".
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn != "" {
		return dsn
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: %s is not set, but CI=true: PostgreSQL tests must run in CI", EnvDSN)
	}
	t.Skipf("pgtest: %s is not set; skipping PostgreSQL test", EnvDSN)
	return ""
}

// NewDatabase creates an empty database with a random name on the server
// of [ServerDSN] and returns a DSN for it. The database is dropped when t
// and its subtests finish. Each call gives a separate database, so tests
// using it can run in parallel.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := ServerDSN(t)
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Never print the DSN: it may hold a password.
		t.Fatalf("pgtest: %s must be a postgres:// URL", EnvDSN)
	}

	name := "chatnotify_test_" + randomHex()

	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatalf("pgtest: opening the server: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// name is [a-z0-9_] only, so it needs no quoting beyond this.
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", server)
		if err != nil {
			t.Errorf("pgtest: opening the server to drop %s: %v", name, err)
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}

// NewSchema creates an empty schema with a random name in the database of
// dsn (typically one from [NewDatabase]) and returns dsn with its
// search_path set to that schema, so that everything a client creates
// lands there. The schema is dropped when t finishes. A schema is much
// cheaper than a database, for suites that want a fresh store per
// subtest.
func NewSchema(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal("pgtest: NewSchema needs a postgres:// URL")
	}
	name := "s_" + randomHex()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("pgtest: opening the database: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA "`+name+`"`); err != nil {
		t.Fatalf("pgtest: creating schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Errorf("pgtest: opening the database to drop %s: %v", name, err)
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+name+`" CASCADE`); err != nil {
			t.Errorf("pgtest: dropping schema %s: %v", name, err)
		}
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
