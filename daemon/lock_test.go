package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Ensure the database lock is exclusive, names its holder's PID, and is
// free again once released.
func TestLockDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "parkd.db")
	first, err := lockDatabase(db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockDatabase(db)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "PID "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v, want ErrLocked naming PID %d", err, os.Getpid())
	}
	if err := first.release(); err != nil {
		t.Fatal(err)
	}
	again, err := lockDatabase(db)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.release()
}
