package cli

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Ensure parkd refuses to start on a file that is not its database, says
// so in one line, and leaves the file untouched.
func TestServe_ForeignDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	cfg := writeFile(t, "p.toml", fmt.Sprintf("[store]\npath = %q\n", path))
	code, _, errOut := runCLI(t, "serve", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, "not a parkd database") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the foreign database was modified")
	}
}
