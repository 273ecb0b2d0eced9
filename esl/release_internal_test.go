package esl

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
)

// fakeSwitch reads commands from the socket's far end, answers each api
// command "+OK" and exit "+OK bye", and reports each command's first line.
func fakeSwitch(t *testing.T, nc net.Conn) <-chan string {
	t.Helper()
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		r := bufio.NewReader(nc)
		for {
			var first string
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				l = strings.TrimRight(l, "\r\n")
				if l == "" {
					break
				}
				if first == "" {
					first = l
				}
			}
			lines <- first
			reply := "Content-Type: api/response\nContent-Length: 3\n\n+OK"
			if first == "exit" {
				reply = "Content-Type: command/reply\nReply-Text: +OK bye\n\n"
			}
			if _, err := nc.Write([]byte(reply)); err != nil {
				return
			}
		}
	}()
	return lines
}

// Ensure Hold and Bridge on a sync socket (Socket-Mode: static) say exit
// before they return, right behind the command that starts the music or
// the bridge, so that the channel's thread, which reads the socket, goes
// on before parkd records anything; on an async socket they do not.
func TestCallLeg_SyncReleasesAtHoldAndBridge(t *testing.T) {
	const call = "5e7c0a00-0000-4000-8000-0000000000a1"
	const other = "5e7c0a00-0000-4000-8000-0000000000b2"
	for _, tc := range []struct {
		name   string
		sync   bool
		bridge bool
	}{
		{"hold sync", true, false}, {"hold async", false, false},
		{"bridge sync", true, true}, {"bridge async", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			lines := fakeSwitch(t, b)
			conn := NewConn(a, nil, ConnOptions{Timeout: 2 * time.Second})
			l := newCallLeg("vm")
			l.bind(conn, Request{Call: call, Answered: true, Sync: tc.sync}, l.log)
			ctx := context.Background()
			var err error
			if tc.bridge {
				err = l.Bridge(ctx, parking.CallID(other))
			} else {
				err = l.Hold(ctx, parking.Hold{Lot: "main", Slot: 201, ParkedAt: time.Now(), Music: "local_stream://moh"})
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				select {
				case line := <-lines:
					f := strings.Fields(line)
					got = append(got, strings.Join(f[:min(2, len(f))], " "))
					continue
				case <-time.After(200 * time.Millisecond):
				}
				break
			}
			want := "api uuid_transfer"
			if tc.bridge {
				want = "api uuid_bridge"
			}
			if !slices.Contains(got, want) {
				t.Fatalf("commands %q, want %s", got, want)
			}
			exited := got[len(got)-1] == "exit"
			if exited != tc.sync || l.isReleased() != tc.sync {
				t.Fatalf("sync=%v: commands %q (released %v)", tc.sync, got, l.isReleased())
			}
			if tc.sync && got[len(got)-2] != want {
				t.Fatalf("exit does not follow %s at once: %q", want, got)
			}
		})
	}
}
