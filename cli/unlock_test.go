package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
)

// Ensure parkd unlock lifts a number's outside lockout in the database a
// running daemon would read, and leaves other numbers' alone.
func TestUnlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parkd.db")
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	for _, n := range []string{"+15550100", "+15550111"} {
		if err := db.LockOutside(ctx, "", "main", n, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "unlock", "--db", path, "main", "+15550100")
	if code != 0 || !strings.Contains(out, "1 lockout(s) lifted") {
		t.Fatalf("code=%d out=%q err=%q", code, out, errOut)
	}
	db = store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if u, _ := db.OutsideLockedUntil(ctx, "", "main", "+15550100", now); !u.IsZero() {
		t.Fatal("still locked")
	}
	if u, _ := db.OutsideLockedUntil(ctx, "", "main", "+15550111", now); u.IsZero() {
		t.Fatal("another number's lockout was lifted")
	}
	if code, _, _ := runCLI(t, "unlock", "--db", path); code == 0 {
		t.Fatal("unlock without a lot succeeded")
	}
}
