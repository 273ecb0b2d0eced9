package parking

// LampState is what a phone's busy-lamp (BLF) key shows for a slot or a lot.
type LampState int

// The states a key shows.
const (
	// LampIdle: nothing is parked there; the key is dark.
	LampIdle LampState = iota
	// LampParked: a call waits there; the key is lit.
	LampParked
	// LampRinging: a recall rings the parker for the call there; the key
	// blinks.
	LampRinging
)

// String names the state for logs.
func (s LampState) String() string {
	switch s {
	case LampIdle:
		return "idle"
	case LampParked:
		return "parked"
	case LampRinging:
		return "ringing"
	}
	return "unknown"
}

// Lamp is the state of one key: a slot's (Slot > 0) or a whole lot's
// (Slot == 0).
type Lamp struct {
	Lot    string
	Domain string // the lot's domain: its keys are published there; "" for none
	Slot   int    // 0: the lot's key
	State  LampState
	// Caller is the call parked in the slot; zero for a lot's key or an
	// idle slot.
	Caller Caller
	// Parked is, on a lot's key, how many calls the lot holds.
	Parked int
}

// Lamps lights phone keys: the Service tells it every change of a slot's or
// a lot's lamp, in the order the changes happen. Light is called with the
// Service's lock held: it must return at once (queue the change) and must
// not call back into the Service.
type Lamps interface {
	Light(Lamp)
}
