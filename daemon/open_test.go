package daemon

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl/fstest"
)

// Ensure a listen address already taken is refused with a message that
// names the address once (the net error names it already) and says what
// the listener is for.
func TestOpen_ListenAddressTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	sim := fstest.Start(t, fstest.Options{})
	c := startConfig(t, sim)
	c.ESL.Listen = taken.Addr().String()
	m := &Main{Config: c, Logger: zerolog.Nop()}
	err = m.Open(context.Background())
	if err == nil {
		m.Close()
		t.Fatal("Open succeeded on a taken address")
	}
	msg := err.Error()
	if n := strings.Count(msg, c.ESL.Listen); n != 1 || !strings.Contains(msg, "socket application") {
		t.Fatalf("error %q: want the address named once (%d times) and what listens there", msg, n)
	}
}
