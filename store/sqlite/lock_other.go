//go:build !unix

package sqlite

// lockFile cannot lock here: no startup reset; River's rescuer retries
// the jobs a killed process left running.
func lockFile(string) bool { return false }
