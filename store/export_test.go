package store

import "database/sql"

// WritePool exposes the writer pool to tests.
func (db *DB) WritePool() *sql.DB { return db.w }

// ReadPool exposes the read pool to tests.
func (db *DB) ReadPool() *sql.DB { return db.r }
