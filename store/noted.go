package store

// OnNote registers f to be told every note AddNote writes through this DB,
// after its commit (the board's live events show it). Notes written by
// another process on the same file (parkd note) are not told.
//
// f runs on the caller's goroutine of AddNote: it must not block or call
// back into db. Register every f before Open; the list is not guarded.
func (db *DB) OnNote(f func(Note)) {
	db.noted = append(db.noted, f)
}

// tellNoted passes n to the OnNote functions.
func (db *DB) tellNoted(n Note) {
	for _, f := range db.noted {
		f(n)
	}
}
