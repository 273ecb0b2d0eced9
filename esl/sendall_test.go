package esl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/percipia/eslgo/command"
)

// Ensure SendAll writes every command before any reply is needed (one
// round trip), and hands back each command's own reply, in order, even
// with other senders' commands going on.
func TestConn_SendAllPipelines(t *testing.T) {
	c, p := pipe(t, ConnOptions{})
	type result struct {
		fs  []Frame
		err error
	}
	done := make(chan result, 1)
	go func() {
		fs, err := c.SendAll(context.Background(),
			command.API{Command: "a"}, command.API{Command: "b"}, command.API{Command: "c"})
		done <- result{fs, err}
	}()
	// The peer reads all three before it replies to any: had SendAll
	// waited for a reply between commands, this would block.
	var lines []string
	for range 3 {
		lines = append(lines, strings.TrimSpace(p.read().Line))
	}
	if got := strings.Join(lines, ","); got != "api a,api b,api c" {
		t.Fatalf("peer read %q", got)
	}
	other := make(chan string, 1)
	go func() {
		f, err := c.Send(context.Background(), command.API{Command: "d"})
		other <- fmt.Sprint(f.Headers.Get("Reply-Text"), err)
	}()
	if got := strings.TrimSpace(p.read().Line); got != "api d" {
		t.Fatalf("peer read %q", got)
	}
	for _, r := range []string{"R-a", "R-b", "R-c", "R-d"} {
		p.reply(r)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	for i, want := range []string{"R-a", "R-b", "R-c"} {
		if got := r.fs[i].Headers.Get("Reply-Text"); got != want {
			t.Errorf("reply %d = %q, want %q", i, got, want)
		}
	}
	if got := <-other; got != "R-d<nil>" {
		t.Errorf("the other sender got %q, want R-d", got)
	}
}

// Ensure that when SendAll times out half way, the replies still owed are
// consumed by it, so the next command gets its own reply.
func TestConn_SendAllLateReplies(t *testing.T) {
	c, p := pipe(t, ConnOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	first := make(chan struct{})
	go func() {
		defer close(first)
		p.read()
		p.read()
		p.reply("R-1") // the second reply comes too late
	}()
	_, err := c.SendAll(ctx, command.API{Command: "one"}, command.API{Command: "two"})
	<-first
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "api two") {
		t.Fatalf("err = %v, want a deadline naming api two", err)
	}
	go func() {
		p.read()
		p.reply("R-2")
		p.reply("R-3")
	}()
	f, err := c.Send(context.Background(), command.API{Command: "three"})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Headers.Get("Reply-Text"); got != "R-3" {
		t.Fatalf("next command got %q, want R-3", got)
	}
}

func TestConn_SendAllClosed(t *testing.T) {
	c, p := pipe(t, ConnOptions{})
	go func() {
		p.read()
		p.read()
		p.reply("R-1")
		p.nc.Close()
	}()
	if _, err := c.SendAll(context.Background(), command.API{Command: "one"}, command.API{Command: "two"}); err == nil || !strings.Contains(err.Error(), "api two") {
		t.Fatalf("err = %v, want the connection's end, naming api two", err)
	}
	if _, err := c.SendAll(context.Background(), command.API{Command: "three"}); err == nil {
		t.Fatal("SendAll on a closed connection must fail")
	}
	if fs, err := c.SendAll(context.Background()); fs != nil || err != nil {
		t.Fatalf("SendAll of nothing = %v, %v; want nothing sent and no error", fs, err)
	}
}

// Ensure Post writes its commands and returns at once, the commands sent
// after it get their own replies, and Post's wait hands back its replies
// in order, even when its deadline has passed by the time it is asked:
// a reply already read is never lost to the clock.
func TestConn_Post(t *testing.T) {
	c, p := pipe(t, ConnOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	wait := c.Post(ctx, command.API{Command: "a"}, command.API{Command: "b"})
	for _, want := range []string{"api a", "api b"} {
		if got := strings.TrimSpace(p.read().Line); got != want {
			t.Fatalf("peer read %q, want %q", got, want)
		}
	}
	next := make(chan string, 1)
	go func() {
		f, err := c.Send(context.Background(), command.API{Command: "c"})
		next <- fmt.Sprint(f.Headers.Get("Reply-Text"), err)
	}()
	if got := strings.TrimSpace(p.read().Line); got != "api c" {
		t.Fatalf("peer read %q", got)
	}
	for _, r := range []string{"R-a", "R-b", "R-c"} {
		p.reply(r)
	}
	if got := <-next; got != "R-c<nil>" {
		t.Fatalf("the command after Post got %q, want R-c", got)
	}
	time.Sleep(60 * time.Millisecond) // Post's deadline passes
	fs, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].Headers.Get("Reply-Text") != "R-a" || fs[1].Headers.Get("Reply-Text") != "R-b" {
		t.Fatalf("Post's replies: %v", fs)
	}
}
