//go:build !(linux && cgo)

package web

import "github.com/rs/zerolog"

// newBurstWriter: without Linux and cgo the Hub's goroutine writes its
// bursts itself.
func newBurstWriter(zerolog.Logger) burstWriter { return pollerWriter{pace: burstPacing} }
