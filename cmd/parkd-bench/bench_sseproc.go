package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/parkd/parkd/cli"
)

// sseTokenEnv passes the API token to the SSE client process: not on its
// command line, where any user of the host could read it.
const sseTokenEnv = "PARKD_BENCH_SSE_TOKEN"

// runSSEClients is `parkd-bench sse-clients --url URL --n N`: it opens N
// idle SSE clients on parkd's /api/events, prints "connected N" once they
// are all open, and keeps them open until its standard input closes. The
// board scenario runs it as a separate process, as browsers are: 1,000
// readers in the bench's own process would share its scheduler with the
// simulator and delay the very calls whose latency is measured.
func runSSEClients(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parkd-bench sse-clients", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "", "parkd's HTTP `URL`, e.g. http://127.0.0.1:8085")
	n := fs.Int("n", 0, "`N` clients to open")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	token := os.Getenv(sseTokenEnv)
	if *base == "" || *n <= 0 || token == "" {
		return cli.Usagef(fs, "want --url, --n > 0 and the token in $%s", sseTokenEnv)
	}
	failed := make(chan string, 1)
	fail := func(f string, a ...any) {
		select {
		case failed <- fmt.Sprintf(f, a...):
		default:
		}
	}
	closeAll := connectSSE(ctx, *base, token, *n, fail)
	defer closeAll()
	select {
	case msg := <-failed:
		return fmt.Errorf("sse-clients: %s", msg)
	default:
	}
	fmt.Fprintf(stdout, "connected %d\n", *n)
	_, _ = io.Copy(io.Discard, stdin) // until the bench closes the pipe
	return nil
}

// spawnSSE starts `parkd-bench sse-clients` for n clients and returns once
// they are connected; closeAll ends the process. It reports a failure to
// start through fail and returns a no-op.
func spawnSSE(ctx context.Context, base, token string, n int, fail func(string, ...any)) (closeAll func()) {
	self, err := os.Executable()
	if err != nil {
		fail("board: SSE client process: %v", err)
		return func() {}
	}
	cmd := exec.CommandContext(ctx, self, "sse-clients", "--url", base, "--n", strconv.Itoa(n))
	cmd.Env = append(os.Environ(), sseTokenEnv+"="+token)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		fail("board: SSE client process: %v", err)
		return func() {}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		fail("board: SSE client process: %v", err)
		return func() {}
	}
	if err := cmd.Start(); err != nil {
		fail("board: SSE client process: %v", err)
		return func() {}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "connected ") {
		fail("board: SSE client process did not connect its clients: %q %v", line, err)
	}
	return func() {
		_ = in.Close()
		_ = cmd.Wait()
	}
}
