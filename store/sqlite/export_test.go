package sqlite

// MigratedPath is migratedPath, for the external tests.
var MigratedPath = migratedPath
