package postgres_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/internal/pgtest"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/postgres"
)

func TestOpenRejectsBadDSNWithoutEchoingSecrets(t *testing.T) {
	const secret = "hunter2secret"
	for _, dsn := range []string{
		"",
		"chatnotify.db",
		"sqlite:chatnotify.db",
		"mysql://user:" + secret + "@db/app",
		"user:" + secret + "@db/app",
		"host=db user=app password=" + secret,
		"postgres://user:" + secret + "@[::1/app",
		"postgres://user:" + secret + "@127.0.0.1:notaport/app",
		"postgres://user@127.0.0.1/app?sslmode=bogus&password=" + secret,
		// Nothing listens on port 1: the connection is refused.
		"postgres://user:" + secret + "@127.0.0.1:1/app?connect_timeout=5",
		"postgresql://127.0.0.1:1/app?connect_timeout=5&password=" + secret,
	} {
		t.Run(strings.ReplaceAll(dsn, "/", "|"), func(t *testing.T) {
			s, err := postgres.Open(t.Context(), dsn, nil)
			if s != nil {
				s.Close()
			}
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "postgres: "), "error %q lacks the package prefix", err)
			assert.NotContains(t, err.Error(), secret)
			for e := error(err); e != nil; e = errors.Unwrap(e) {
				assert.NotContains(t, fmt.Sprintf("%+v", e), secret)
			}
		})
	}
}

// otherDriver is a database/sql driver that is not pgx's.
type otherDriver struct{}

func (otherDriver) Open(string) (driver.Conn, error) { return nil, errors.New("not a real driver") }

func (d otherDriver) Connect(context.Context) (driver.Conn, error) { return d.Open("") }
func (d otherDriver) Driver() driver.Driver                        { return d }

// New refuses a database of another driver: unique violations (and so
// ErrConflict) are recognised through pgx's error type only.
func TestNewRefusesAnotherDriver(t *testing.T) {
	db := sql.OpenDB(otherDriver{})
	defer db.Close()
	_, err := postgres.New(context.Background(), db, nil)
	require.ErrorContains(t, err, "pgx")

	_, err = postgres.New(t.Context(), nil, nil)
	require.Error(t, err)
}

func TestNewUsesCallersDatabase(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	t.Parallel()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()

	s, err := postgres.New(t.Context(), db, nil)
	require.NoError(t, err)
	_, err = s.CreateChannel(t.Context(), notify.Channel{OrgID: "o", Type: notify.Teams, Name: "n"})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, db.PingContext(t.Context()), "Close closed the caller's database")

	again, err := postgres.Open(t.Context(), dsn, nil)
	require.NoError(t, err)
	defer again.Close()
	list, err := again.ListChannels(t.Context(), "o")
	require.NoError(t, err)
	assert.Len(t, list, 1)
}
