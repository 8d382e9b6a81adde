package sqlite_test

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/sqlite"
	"github.com/chatnotify/chatnotify/store/storetest"
)

func TestOpenRejectsBadPathsWithoutEchoingThem(t *testing.T) {
	const secret = "hunter2secret"
	for _, path := range []string{
		"",
		"sqlite:chatnotify.db",
		"chatnotify.db?_pragma=foo",
		"chatnotify.db#x",
		"postgres://user:" + secret + "@db/app",
	} {
		t.Run(strings.ReplaceAll(path, "/", "|"), func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), path, nil)
			if s != nil {
				s.Close()
			}
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "sqlite: "), "error %q lacks the package prefix", err)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

// An in-memory database is a complete store, private to its Store.
func TestInMemory(t *testing.T) {
	open := func(t *testing.T) *sqlite.Store {
		s, err := sqlite.Open(t.Context(), ":memory:", nil)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.TestChannelStore(t, func(t *testing.T) notify.ChannelStore { return open(t) })
	storetest.TestPostStore(t, func(t *testing.T) notify.PostStore { return open(t) })
	storetest.TestApprovalStore(t, func(t *testing.T) storetest.ApprovalStores { return open(t) })
}

// With a SecretKey, channels round-trip through encryption unchanged.
func TestChannelStoreEncrypted(t *testing.T) {
	opts := &sqlite.Options{SecretKey: bytes.Repeat([]byte{7}, 32)}
	storetest.TestChannelStore(t, func(t *testing.T) notify.ChannelStore {
		s, err := sqlite.Open(t.Context(), sqlite.MigratedPath(t, "enc.db"), opts)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestNewUsesCallersDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.db")
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_txlock=immediate")
	require.NoError(t, err)
	defer db.Close()

	_, err = sqlite.New(t.Context(), nil, nil)
	require.Error(t, err)

	s, err := sqlite.New(t.Context(), db, nil)
	require.NoError(t, err)
	_, err = s.CreateChannel(t.Context(), notify.Channel{OrgID: "o", Type: notify.Teams, Name: "n"})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, db.PingContext(t.Context()), "Close closed the caller's database")

	// The schema is there for a Store opened on the same file later.
	again, err := sqlite.Open(t.Context(), path, nil)
	require.NoError(t, err)
	defer again.Close()
	list, err := again.ListChannels(t.Context(), "o")
	require.NoError(t, err)
	assert.Len(t, list, 1)
}
