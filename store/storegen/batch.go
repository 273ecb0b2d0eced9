package storegen

import (
	"database/sql"
	"fmt"
	"strings"
)

// batchRows is how many rows one multi-row INSERT carries.
const batchRows = 256

// batcher inserts rows into a table batchRows at a time.
type batcher struct {
	tx    *sql.Tx
	table string
	cols  string
	ncol  int
	args  []any
	full  *sql.Stmt
}

func newBatcher(tx *sql.Tx, table, cols string, ncol int) *batcher {
	return &batcher{tx: tx, table: table, cols: cols, ncol: ncol}
}

// insertSQL returns an INSERT of rows rows into b's table.
func (b *batcher) insertSQL(rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", b.ncol), ", ") + ")"
	return "INSERT INTO " + b.table + " (" + b.cols + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

func (b *batcher) add(vals ...any) error {
	b.args = append(b.args, vals...)
	if len(b.args) < batchRows*b.ncol {
		return nil
	}
	if b.full == nil {
		var err error
		if b.full, err = b.tx.Prepare(b.insertSQL(batchRows)); err != nil {
			return fmt.Errorf("%s: %w", b.table, err)
		}
	}
	if _, err := b.full.Exec(b.args...); err != nil {
		return fmt.Errorf("%s: %w", b.table, err)
	}
	b.args = b.args[:0]
	return nil
}

// close writes the rows left and closes the statements.
func (b *batcher) close() error {
	defer func() {
		if b.full != nil {
			b.full.Close()
		}
	}()
	if len(b.args) == 0 {
		return nil
	}
	if _, err := b.tx.Exec(b.insertSQL(len(b.args)/b.ncol), b.args...); err != nil {
		return fmt.Errorf("%s: %w", b.table, err)
	}
	b.args = b.args[:0]
	return nil
}
