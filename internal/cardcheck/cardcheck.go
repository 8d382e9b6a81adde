// Package cardcheck runs tools/cards/validate.js, the offline check of the
// Teams bot route's Adaptive Cards (Microsoft's adaptivecards parser, the
// route's rules and, when AC_SCHEMA names the Adaptive Cards 1.5 schema
// file, the schema; see tools/cards/README.md), for the tests of the
// packages that render those cards (notify posts and replaces them,
// approval answers clicks with them).
package cardcheck

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// File is one file for validate.js: a card, a message activity or an
// invoke response, and the kind of card it is (an argument of
// validate.js without its dashes: approval, alert, result=approved, …).
type File struct {
	Name string
	Kind string
	Body []byte
}

// Result is a run of validate.js.
type Result struct {
	Out      string
	Exit     int
	Schema   bool              // the schema check ran (AC_SCHEMA set)
	Sections map[string]string // the output per file name
}

// Run writes files to a temporary directory and runs validate.js on them.
// Without Node.js or tools/cards/node_modules the test is skipped, or
// fails under CI=true.
func Run(t *testing.T, files []File) Result {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	require.True(t, ok, "cardcheck: cannot find its own source file")
	dir := filepath.Join(filepath.Dir(self), "..", "..", "tools", "cards")
	script := filepath.Join(dir, "validate.js")
	require.FileExists(t, script)
	node, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "Node.js (node) is not on PATH: install Node.js, then run `npm ci --prefix tools/cards` in the repository"
	default:
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "adaptivecards", "package.json")); err != nil {
			missing = "tools/cards/node_modules is not installed: run `npm ci --prefix tools/cards` in the repository"
		}
	}
	if missing != "" {
		msg := "the Teams bot cards are checked by tools/cards/validate.js; " + missing
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	tmp := t.TempDir()
	args := []string{script}
	for _, f := range files {
		p := filepath.Join(tmp, f.Name)
		require.NoError(t, os.WriteFile(p, f.Body, 0o644))
		args = append(args, "--"+f.Kind, p)
	}
	cmd := exec.CommandContext(t.Context(), node, args...)
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	run := Result{Out: string(b), Sections: map[string]string{}}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		run.Exit = ee.ExitCode()
	} else {
		require.NoError(t, err, run.Out)
	}
	require.NotEqual(t, 2, run.Exit, "validate.js usage or setup error:\n%s", run.Out)
	head, _, _ := strings.Cut(run.Out, "\n")
	run.Schema = strings.Contains(head, "schema: ") && !strings.Contains(head, "SKIPPED")
	for _, s := range strings.Split(run.Out, "\n## ")[1:] {
		name, _, _ := strings.Cut(s, " (")
		run.Sections[name] = s
	}
	for _, f := range files {
		require.Contains(t, run.Sections, f.Name, "validate.js reported no result for %s:\n%s", f.Name, run.Out)
	}
	return run
}
