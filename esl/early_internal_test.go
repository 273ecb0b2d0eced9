package esl

import "testing"

// Ensure the channel's events that reach the leg before it knows its
// channel (the setup goes out with connect, so they can overtake the
// connect reply's handling) are followed once it does: a hangup then is
// still the call gone.
func TestCallLeg_EventsBeforeBind(t *testing.T) {
	const call = "5e7c0a00-0000-4000-8000-0000000000a1"
	l := newCallLeg("vm")
	l.onEvent(Event{Headers: Headers{{Name: "Event-Name", Value: "CHANNEL_ANSWER"}, {Name: "Unique-ID", Value: call}}})
	l.onEvent(Event{Headers: Headers{{Name: "Event-Name", Value: "CHANNEL_HANGUP"}, {Name: "Unique-ID", Value: call}}})
	l.onEvent(Event{Headers: Headers{{Name: "Event-Name", Value: "CHANNEL_HANGUP"}, {Name: "Unique-ID", Value: "5e7c0a00-0000-4000-8000-0000000000b2"}}})
	select {
	case <-l.goneCh:
		t.Fatal("gone before the leg knew its channel")
	default:
	}
	l.bind(nil, Request{Call: call}, l.log)
	if !l.answered {
		t.Error("the early CHANNEL_ANSWER was lost")
	}
	select {
	case <-l.goneCh:
	default:
		t.Fatal("the early CHANNEL_HANGUP was lost")
	}
	l.mu.Lock()
	gone := l.gone
	l.mu.Unlock()
	if !gone {
		t.Fatal("not gone")
	}
}
