package cli

import (
	"flag"

	"github.com/parkd/parkd/store"
)

// dbFlags are -c and --db of the commands that open parkd's database.
type dbFlags struct{ cfg, db *string }

func addDBFlags(fs *flag.FlagSet) dbFlags {
	return dbFlags{
		cfg: fs.String("c", "", "configuration `FILE` (for store.path)"),
		db:  fs.String("db", "", "SQLite `PATH` (overrides store.path)"),
	}
}

// path is the database's path: --db, else -c's store.path.
func (f dbFlags) path() (string, error) {
	if *f.db != "" {
		return *f.db, nil
	}
	c, err := LoadConfig(*f.cfg)
	if err != nil {
		return "", err
	}
	return c.Store.Path, nil
}

// openForReading opens the store the way the CLI reads it while the daemon
// runs: read-only, never creating or migrating the file.
func (f dbFlags) openForReading() (*store.DB, error) {
	path, err := f.path()
	if err != nil {
		return nil, err
	}
	return store.OpenReadOnly(path)
}
