package parking

import "context"

// Switch is the part of FreeSWITCH the Service uses outside any one call's
// own connection. The esl package's Client implements it.
type Switch interface {
	// Exists reports whether the channel is still up.
	Exists(ctx context.Context, call CallID) (bool, error)
}
