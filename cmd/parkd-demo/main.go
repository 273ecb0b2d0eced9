// Command parkd-demo runs a narrated hospital scenario: parkd against the
// built-in FreeSWITCH simulator, from the receptionist's park to the
// recall she misses and the one she answers.
package main

import (
	"github.com/parkd/parkd/cli"
)

func main() { cli.Main(runDemo) }
