package parking

import (
	"crypto/rand"
	"fmt"
)

// newUUID returns a random version 4 UUID, the form FreeSWITCH uses for
// channel UUIDs.
func newUUID() CallID {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return CallID(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]))
}
