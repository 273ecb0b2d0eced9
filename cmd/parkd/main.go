// Command parkd is call park for FreeSWITCH: the daemon (parkd serve) and
// the operator commands around it. The load tool is cmd/parkd-bench and
// the narrated demo cmd/parkd-demo; neither is linked into this binary.
package main

import (
	"github.com/parkd/parkd/cli"
)

func main() { cli.Main(cli.Run) }
