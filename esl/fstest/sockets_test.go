package fstest

import (
	"net"
	"slices"
	"testing"
	"time"
)

// Ensure a dialplan with a socket action per parkd (an active/standby
// pair) goes on to the next one when a connection is refused, and to the
// actions after the last when every one is.
func TestCall_NextSocket(t *testing.T) {
	s := Start(t, Options{PlaybackTime: 5 * time.Millisecond})
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()

	ch, err := s.Call(CallSpec{SocketAddr: refused(), AfterSocket: []string{"socket " + ln.Addr().String() + " async full", "playback tone_stream://%(200,0,500)"}})
	if err == nil {
		t.Fatal("the first socket connected")
	}
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the second socket was never dialled")
	}
	if _, err := ch.WaitFor(5*time.Second, func(st ChannelState) bool { return st.SocketConnected }); err != nil {
		t.Fatal(err)
	}

	ch, _ = s.Call(CallSpec{SocketAddr: refused(), AfterSocket: []string{"socket " + refused() + " async full", "playback tone_stream://%(200,0,500)"}})
	st, err := ch.WaitFor(5*time.Second, func(st ChannelState) bool { return !st.Alive })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(st.Played, "tone_stream://%(200,0,500)") {
		t.Fatalf("both sockets refused: played %v, want the fallback's tone", st.Played)
	}
}
