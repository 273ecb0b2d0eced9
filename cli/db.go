package cli

import (
	"flag"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/store"
)

// dbFlags are -c and --db of the commands that open parkd's database.
type dbFlags struct {
	fs      *flag.FlagSet
	cfg, db *string
}

func addDBFlags(fs *flag.FlagSet) dbFlags {
	return dbFlags{
		fs:  fs,
		cfg: fs.String("c", "", "configuration `FILE` whose store.path is the database (default: $"+conf.EnvPath+", else "+conf.DefaultPath+")"),
		db:  fs.String("db", "", "SQLite `PATH` of the database (no configuration is read)"),
	}
}

// path is the database's path: --db, else the configuration's store.path.
// With no configuration file found there is no default database: the
// built-in default (parkd.db in the working directory) is rarely the one
// meant, so the error asks for -c or --db.
func (f dbFlags) path() (string, error) {
	if *f.db != "" {
		return *f.db, nil
	}
	c, _, err := locateConfig(f.fs, *f.cfg, false, "give one with -c FILE, or the database with --db PATH")
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
