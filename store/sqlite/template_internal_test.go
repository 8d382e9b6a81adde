package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Migrating a new file takes about 0.35 s under -race, most of it River's
// migrations, and the suites open hundreds of stores. So each test binary
// migrates one template file, and tests start from a copy of it: Open
// then finds every migration applied, as on a restart.
var template struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if template.dir != "" {
		os.RemoveAll(template.dir)
	}
	os.Exit(code)
}

// migratedPath returns the path of a new database file in t's temporary
// directory, with every migration applied.
func migratedPath(t *testing.T, name string) string {
	t.Helper()
	template.once.Do(func() {
		if template.dir, template.err = os.MkdirTemp("", "chatnotify-sqlite-template-"); template.err != nil {
			return
		}
		template.path = filepath.Join(template.dir, "template.db")
		s, err := Open(context.Background(), template.path, nil)
		if err != nil {
			template.err = err
			return
		}
		template.err = s.Close()
	})
	if template.err != nil {
		t.Fatal(template.err)
	}
	path := filepath.Join(t.TempDir(), name)
	// Close checkpoints the WAL into the file and removes it; copy it too
	// should it remain.
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(template.path + suffix)
		if suffix != "" && os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}
