//go:build race

package daemon

// raceEnabled: the race detector slows parkd and the simulator about
// tenfold, so the biggest tests scale down under it; make test also runs
// them at full size without it.
const raceEnabled = true
