package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/parkd/parkd/internal/pgtest"
)

// Ensure the proxy forwards, then cuts its client off as a dead link
// would (statements hang until their deadline, new connections too), and
// forwards new connections again once restored.
func TestProxy_CutAndRestore(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, pgtest.DSN(t))
	db := open(t, dsn)
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		var one int
		return db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
	}
	if err := ping(); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	proxy.Cut()
	if err := ping(); err == nil {
		t.Fatal("a statement went through a cut proxy")
	}
	db.SetMaxIdleConns(0) // drop the connection the cut left dead
	if err := ping(); err == nil {
		t.Fatal("a new connection went through a cut proxy")
	}
	proxy.Restore()
	deadline := time.Now().Add(5 * time.Second)
	for ping() != nil {
		if time.Now().After(deadline) {
			t.Fatal("no statement went through the restored proxy")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
