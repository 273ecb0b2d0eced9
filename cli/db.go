package cli

import (
	"flag"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/daemon"
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
		cfg: fs.String("c", "", "configuration `FILE` whose [store] is the database (default: $"+conf.EnvPath+", else "+conf.DefaultPath+")"),
		db: fs.String("db", "", "the database, with no configuration read: a SQLite `PATH` (or sqlite:PATH), or postgres:DSN\n"+
			"(leave a password out of it: it would show in the process list; use PGPASSWORD or ~/.pgpass)"),
	}
}

// location is the database: --db, else the configuration's [store]. With
// no configuration file found there is no default database: the built-in
// default (parkd.db in the working directory) is rarely the one meant, so
// the error asks for -c or --db.
func (f dbFlags) location() (store.Location, error) {
	if *f.db != "" {
		loc, err := store.ParseLocation(*f.db)
		if err != nil {
			return store.Location{}, Usagef(f.fs, "--db: %v", err)
		}
		return loc, nil
	}
	c, _, err := locateConfig(f.fs, *f.cfg, false, "give one with -c FILE, or the database with --db PATH")
	if err != nil {
		return store.Location{}, err
	}
	return daemon.StoreLocation(c), nil
}

// openForReading opens the store the way the CLI reads it while the daemon
// runs: read-only, never creating or migrating the database.
func (f dbFlags) openForReading() (*store.DB, error) {
	loc, err := f.location()
	if err != nil {
		return nil, err
	}
	return loc.OpenReadOnly()
}

// openExisting opens the store for a command that writes beside the
// running daemon (note, unlock): never creating or migrating it.
func (f dbFlags) openExisting() (*store.DB, error) {
	loc, err := f.location()
	if err != nil {
		return nil, err
	}
	return loc.OpenExisting()
}
