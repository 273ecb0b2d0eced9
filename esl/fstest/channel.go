package fstest

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parkd/parkd/esl"
)

// Channel is one simulated FreeSWITCH channel. All fields are guarded by the
// switch's lock; read them through State.
type Channel struct {
	s         *Switch
	uuid      string
	name      string
	direction string // inbound | outbound
	user      string

	cidName, cidNum, dest string
	// showDest is the dest column of "show channels" once it differs from
	// dest: FreeSWITCH's channels table takes the destination of the
	// CS_ROUTING state change, so after "uuid_transfer <uuid>
	// endless_playback:<music> inline" it reads
	// "endless_playback:<music>" (interop suite), while initial_dest keeps
	// the number first dialled.
	showDest                        string
	calleeName, calleeNum, rdnis    string
	transferSource                  string
	profileIndex                    int
	created, profileCreated         time.Time
	answeredAt, hungupAt, bridgedAt time.Time

	vars        varList
	state       string // CS_*
	callState   string // DOWN RINGING EARLY ACTIVE HANGUP
	answerState string // ringing early answered hangup
	answered    bool
	media       bool
	alive       bool
	hangupCause string

	plan   []string // dialplan actions left
	inline bool     // plan is an inline dialplan
	stack  []*app   // running apps: stack[0] is the dialplan-level one
	msgs   []*app   // queued sendmsg executes
	curMsg *app     // sendmsg execute running now
	sync   bool     // the socket application runs without "async" (CallSpec.Sync)

	sock       *conn // connected outbound socket
	socketApp  *app  // the socket app while it runs
	uuidParked bool  // CS_PARK after uuid_park
	dormant    bool  // uuid_park + socket close (docs/freeswitch.md#uuid-park-goes-dormant)
	extern     bool  // transferred to an extension: out of our model
	routing    bool  // running the actions before socket (runBefore)

	bridge  *Channel
	bridgeA bool // this leg was the first argument of uuid_bridge

	appName, appData string // current_application for State and show channels

	played, ran []string
	changed     chan struct{}

	orig      *origination // ringing recall leg
	parkTimer *timer

	// trunk is the channel on a peer switch this one is bridged to over
	// SIP (peer.go); guarded by this switch's lock, the peer's own field
	// by the peer's.
	trunk *Channel
}

// app is one application run on a channel.
type app struct {
	name, data, uuid string
	media            string // what the caller hears while it runs, "" if nothing
	endless          bool   // never ends by itself
	parks            bool   // a park loop (socket app, park): CHANNEL_UNPARK when it ends
	controlled       bool   // park started while the socket was connected
	nested           bool   // runs on top of the dialplan app (sendmsg, broadcast)
	loops            int    // playback repetitions left after this one
	timer            *timer
	started          bool
	pagd             *pagd // a play_and_get_digits collecting digits
}

// ChannelState is a snapshot of a channel.
type ChannelState struct {
	UUID        string
	Alive       bool
	Answered    bool
	HangupCause string
	// State is the FreeSWITCH state: CS_EXECUTE, CS_PARK, CS_HANGUP, ...
	State string
	// Application and ApplicationData are what runs now: "socket",
	// "endless_playback", "playback", "park", "uuid_bridge", "transfer", ...
	Application, ApplicationData string
	// Hearing is what the caller hears now: "music:<path>", "tone:<path>",
	// "say:<text>", "bridge:<other uuid>" or "silence".
	Hearing         string
	BridgedTo       string
	Vars            map[string]string
	SocketConnected bool
	// Dormant: uuid_park, then the socket closed
	// (docs/freeswitch.md#uuid-park-goes-dormant): CS_PARK with
	// nothing servicing the channel.
	Dormant bool
	// Played lists every media path played to the channel, in order.
	Played []string
	// Ran lists dialplan apps run after the socket app returned or by
	// transfers, as "app data", in order.
	Ran []string
	// Destination is the current destination number.
	Destination string
	// Trunk is the UUID of the channel on a peer switch this one is
	// bridged to over SIP (Switch.Peer); "" for none.
	Trunk string
}

// UUID returns the channel's Unique-ID.
func (ch *Channel) UUID() string { return ch.uuid }

// State returns a snapshot of the channel.
func (ch *Channel) State() ChannelState {
	ch.s.mu.Lock()
	defer ch.s.mu.Unlock()
	return ch.snapshot()
}

func (ch *Channel) snapshot() ChannelState {
	st := ChannelState{
		UUID:            ch.uuid,
		Alive:           ch.alive,
		Answered:        ch.answered,
		HangupCause:     ch.hangupCause,
		State:           ch.state,
		Application:     ch.appName,
		ApplicationData: ch.appData,
		Hearing:         ch.hearing(),
		Vars:            make(map[string]string, len(ch.vars.m)),
		SocketConnected: ch.sock != nil && !ch.sock.gone,
		Dormant:         ch.dormant,
		Played:          append([]string(nil), ch.played...),
		Ran:             append([]string(nil), ch.ran...),
		Destination:     ch.dest,
	}
	if ch.bridge != nil {
		st.BridgedTo = ch.bridge.uuid
	}
	if ch.trunk != nil {
		st.Trunk = ch.trunk.uuid
	}
	for k, v := range ch.vars.m {
		st.Vars[k] = v
	}
	return st
}

// String is a short description for errors.
func (st ChannelState) String() string {
	return fmt.Sprintf("{%s alive=%v answered=%v state=%s app=%s(%s) hearing=%s bridged=%s cause=%s socket=%v dormant=%v ran=%q}",
		st.UUID, st.Alive, st.Answered, st.State, st.Application, st.ApplicationData, st.Hearing,
		st.BridgedTo, st.HangupCause, st.SocketConnected, st.Dormant, st.Ran)
}

// hearing is what the caller hears now.
func (ch *Channel) hearing() string {
	switch {
	case !ch.alive:
		return "silence"
	case ch.bridge != nil:
		return "bridge:" + ch.bridge.uuid
	case ch.dormant:
		return "silence"
	}
	for i := len(ch.stack) - 1; i >= 0; i-- {
		if a := ch.stack[i]; a.media != "" {
			return a.media
		}
	}
	return "silence"
}

// WaitFor waits until cond holds for the channel's state, or the timeout
// passes; the error then names the last state seen.
func (ch *Channel) WaitFor(timeout time.Duration, cond func(ChannelState) bool) (ChannelState, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ch.s.mu.Lock()
		st := ch.snapshot()
		changed := ch.changed
		ch.s.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return st, fmt.Errorf("fstest: channel %s: condition not met after %v; last state %v", ch.uuid, timeout, st)
		}
	}
}

// Hangup hangs the channel up from the far end (a SIP BYE from the caller):
// cause "" means NORMAL_CLEARING, and sip_hangup_disposition is recv_bye.
func (ch *Channel) Hangup(cause string) {
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	ch.s.mu.Lock()
	defer ch.s.mu.Unlock()
	ch.hangup(cause, "recv_bye")
}

// notify wakes WaitFor callers. Called with s.mu held.
func (ch *Channel) notify() {
	close(ch.changed)
	ch.changed = make(chan struct{})
}

// live returns the live channels in creation order. The slice is the
// Switch's own: a caller that hangs channels up while going through it
// takes a copy. Called with s.mu held.
func (s *Switch) live() []*Channel {
	if s.unlisted > 0 {
		s.compact()
	}
	return s.order
}

// unlist notes that a channel of s.order was destroyed; it stays there,
// skipped, until the next compaction. Removing it at once cost a copy of
// the whole list per hangup, which with 50,000 calls parked was most of
// the switch's time. Called with s.mu held.
func (s *Switch) unlist() {
	s.unlisted++
	if s.unlisted > 64 && s.unlisted > len(s.order)/2 {
		s.compact()
	}
}

// compact drops the destroyed channels from s.order. Called with s.mu held.
func (s *Switch) compact() {
	keep := s.order[:0]
	for _, ch := range s.order {
		if ch.alive {
			keep = append(keep, ch)
		}
	}
	clear(s.order[len(keep):])
	s.order, s.unlisted = keep, 0
}

// Channel returns the channel with this UUID, live or gone, or nil.
func (s *Switch) Channel(uuid string) *Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all[uuid]
}

// Channels returns snapshots of the live channels in creation order.
func (s *Switch) Channels() []ChannelState {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.live()
	out := make([]ChannelState, 0, len(live))
	for _, ch := range live {
		out = append(out, ch.snapshot())
	}
	return out
}

//go:embed channel_data.txt
var channelDataTemplate string

// templateSections is channel_data.txt parsed once: each section's
// variables, decoded, placeholders still in.
var templateSections = func() map[string][][2]string {
	out := map[string][][2]string{}
	section := ""
	for _, line := range strings.Split(channelDataTemplate, "\n") {
		switch {
		case strings.HasPrefix(line, "#") || line == "":
			continue
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			continue
		case section == "":
			continue
		}
		name, val, _ := strings.Cut(line, ": ")
		name = strings.TrimPrefix(name, "variable_")
		out[section] = append(out[section], [2]string{name, esl.URLDecode(val)})
	}
	return out
}()

// templateVars returns one section of channel_data.txt, decoded, with the
// placeholders replaced.
func templateVars(section string, r *strings.Replacer) [][2]string {
	src := templateSections[section]
	out := make([][2]string, len(src))
	for i, kv := range src {
		v := kv[1]
		if strings.Contains(v, "__") { // a placeholder: most values have none, and share the template's string
			v = r.Replace(v)
		}
		out[i] = [2]string{kv[0], v}
	}
	return out
}

// newChannel creates a channel and fires its creation events
// (CS_NEW ... CS_EXECUTE). Called with s.mu held.
func (s *Switch) newChannel(uuid, direction, user, cidName, cidNum, dest string) *Channel {
	s.sessions++
	now := time.Now()
	port := 5070 + s.sessions
	ch := &Channel{
		s: s, uuid: uuid, direction: direction, user: user,
		name:    fmt.Sprintf("sofia/internal/%s@127.0.0.1:%d", user, port),
		cidName: cidName, cidNum: cidNum, dest: dest,
		profileIndex: 1, created: now, profileCreated: now,
		state: "CS_NEW", callState: "DOWN", answerState: "ringing",
		alive: true, changed: make(chan struct{}),
	}
	if direction == "inbound" {
		r := strings.NewReplacer("__UUID__", uuid, "__USER__", user, "__NAME__", cidName, "__DEST__", dest,
			"__PORT__", strconv.Itoa(port), "__SESSION__", strconv.Itoa(s.sessions),
			"__USTAMP__", strconv.FormatInt(now.UnixMicro(), 10), "__TAG__", fmt.Sprintf("%dSIPpTag001", port),
			"__CALLID__", fmt.Sprintf("1-%d", port), "__DATE__", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 +0000"))
		// Room for what a parked call gathers: the template's sections
		// and the dialplan's and parkd's variables.
		ch.vars.grow(len(templateSections["base"]) + len(templateSections["answered"]) + len(templateSections["transfer"]) + 24)
		for _, kv := range templateVars("base", r) {
			ch.vars.set(kv[0], kv[1])
		}
	} else {
		ch.vars.set("direction", "outbound")
		ch.vars.set("uuid", uuid)
		ch.vars.set("session_id", strconv.Itoa(s.sessions))
		ch.vars.set("channel_name", ch.name)
	}
	s.channels[uuid] = ch
	s.all[uuid] = ch
	s.order = append(s.order, ch)

	ch.event("CHANNEL_STATE", evOpts{level: levelMinimal})
	ch.setState("CS_INIT")
	ch.fullEvent("CHANNEL_CREATE")
	return ch
}

// setState changes the state and fires CHANNEL_STATE.
func (ch *Channel) setState(state string) {
	ch.state = state
	ch.event("CHANNEL_STATE", evOpts{level: levelProfile})
	ch.notify()
}

// setCallState changes the call state and fires CHANNEL_CALLSTATE.
func (ch *Channel) setCallState(cs string) {
	if ch.callState == cs {
		return
	}
	old := ch.callState
	ch.callState = cs
	num := map[string]string{"DOWN": "0", "DIALING": "1", "RINGING": "2", "EARLY": "3", "ACTIVE": "4", "HANGUP": "10"}[cs]
	ch.event("CHANNEL_CALLSTATE", evOpts{level: levelProfile, pre: esl.Headers{
		hdr("Original-Channel-Call-State", old), hdr("Channel-Call-State-Number", num)}})
}

// addAnsweredVars adds the media variables FreeSWITCH sets at answer.
func (ch *Channel) addAnsweredVars() {
	for _, kv := range templateVars("answered", strings.NewReplacer()) {
		ch.vars.set(kv[0], kv[1])
	}
}

// markAnswered answers the channel with its events.
func (ch *Channel) markAnswered() {
	if ch.answered {
		return
	}
	if !ch.media {
		ch.media = true
		ch.answerState = "early"
		ch.event("CHANNEL_PROGRESS_MEDIA", evOpts{level: levelFull})
		ch.setCallState("EARLY")
	}
	ch.answered = true
	ch.answeredAt = time.Now()
	ch.answerState = "answered"
	ch.addAnsweredVars()
	ch.vars.set("answer_epoch", strconv.FormatInt(ch.answeredAt.Unix(), 10))
	ch.event("CHANNEL_ANSWER", evOpts{level: levelFull})
	ch.setCallState("ACTIVE")
	ch.notify()
}

// mediaOf tells what a playback of path sounds like and whether it ends.
func mediaOf(path string) (media string, endless bool) {
	switch {
	case strings.HasPrefix(path, "tone_stream://"):
		return "tone:" + path, false
	case strings.HasPrefix(path, "local_stream://"):
		return "music:" + path, true
	case strings.HasPrefix(path, "silence_stream://"):
		return "silence", false
	}
	return "music:" + path, false
}

// startApp runs an application on the channel: CHANNEL_EXECUTE, then its
// effect. Called with s.mu held.
func (ch *Channel) startApp(a *app) {
	if !ch.alive {
		return
	}
	if a.uuid == "" {
		a.uuid = esl.NewUUID()
	}
	ch.stack = append(ch.stack, a)
	ch.appName, ch.appData = a.name, a.data
	ch.vars.set("current_application_data", a.data)
	if a.data == "" {
		ch.vars.unset("current_application_data")
	}
	ch.vars.set("current_application", a.name)
	ch.execEvent("CHANNEL_EXECUTE", a, "")
	a.started = true
	d := ch.s.opts.PlaybackTime
	switch a.name {
	case "answer", "pre_answer":
		ch.markAnswered()
		ch.finishApp(a, "_none_")
	case "set", "export":
		if k, v, ok := strings.Cut(a.data, "="); ok {
			if v == "" {
				ch.vars.unset(k)
			} else {
				ch.vars.set(k, v)
			}
		}
		ch.finishApp(a, "_none_")
	case "playback", "endless_playback":
		a.media, a.endless = mediaOf(a.data)
		if a.name == "endless_playback" {
			a.endless = true
		}
		ch.played = append(ch.played, a.data)
		if !a.endless {
			a.timer = ch.s.after(d, func() { ch.finishApp(a, "FILE PLAYED") })
		}
		ch.notify()
	case "say", "speak":
		a.media = "say:" + a.data
		ch.played = append(ch.played, a.data)
		a.timer = ch.s.after(d, func() { ch.finishApp(a, "_none_") })
		ch.notify()
	case "play_and_get_digits":
		ch.startPAGD(a)
	case "sleep":
		ms, _ := strconv.Atoi(strings.TrimSpace(a.data))
		a.timer = ch.s.after(time.Duration(ms)*time.Millisecond, func() { ch.finishApp(a, "_none_") })
	case "park":
		a.endless, a.parks, a.controlled = true, true, ch.sock != nil && !ch.sock.gone
		ch.fullEvent("CHANNEL_PARK")
		ch.startParkTimeout()
		ch.notify()
	case "hangup":
		cause := strings.TrimSpace(a.data)
		if cause == "" {
			cause = "NORMAL_CLEARING"
		}
		ch.hangup(cause, "send_bye")
	case "transfer":
		ch.transferExtension(strings.Fields(a.data))
	case "intercept":
		target := ch.s.channels[strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(a.data), "-bleg"))]
		ch.finishApp(a, "_none_")
		if target != nil && target != ch {
			ch.markAnswered()
			ch.s.bridge(ch, target)
		}
	case "socket":
		a.endless = true // it parks (a.parks) once the client connects
	default: // log, info, ring_ready, ...: done at once
		ch.finishApp(a, "_none_")
	}
}

// execEvent fires CHANNEL_EXECUTE or CHANNEL_EXECUTE_COMPLETE for an app.
func (ch *Channel) execEvent(name string, a *app, resp string) {
	post := esl.Headers{hdr("Application", a.name)}
	if a.data != "" {
		post = append(post, hdr("Application-Data", a.data))
	}
	if name == "CHANNEL_EXECUTE_COMPLETE" {
		post = append(post, hdr("Application-Response", resp))
	}
	post = append(post, hdr("Application-UUID", a.uuid))
	ch.fullEvent(name, post...)
}

// stackIndex finds a running app.
func (ch *Channel) stackIndex(a *app) int {
	for i, x := range ch.stack {
		if x == a {
			return i
		}
	}
	return -1
}

// endApp removes a running app with its CHANNEL_UNPARK (park loops) and
// CHANNEL_EXECUTE_COMPLETE, without continuing anything.
func (ch *Channel) endApp(a *app, resp string) bool {
	i := ch.stackIndex(a)
	if i < 0 {
		return false
	}
	ch.s.cancel(a.timer)
	a.timer = nil
	ch.stack = append(ch.stack[:i:i], ch.stack[i+1:]...)
	if a.parks {
		ch.fullEvent("CHANNEL_UNPARK")
		ch.s.cancel(ch.parkTimer)
		ch.parkTimer = nil
	}
	if a == ch.socketApp {
		ch.socketApp = nil
	}
	ch.execEvent("CHANNEL_EXECUTE_COMPLETE", a, resp)
	ch.notify()
	return true
}

// finishApp ends an app that completed by itself (or was stopped) and lets
// the channel continue: the next loop, the next queued message, the socket
// app's return, or the next dialplan action.
func (ch *Channel) finishApp(a *app, resp string) {
	if !ch.alive {
		return
	}
	if a.loops > 0 && resp == "FILE PLAYED" {
		a.loops--
		ch.s.cancel(a.timer)
		ch.execEvent("CHANNEL_EXECUTE_COMPLETE", a, resp)
		ch.execEvent("CHANNEL_EXECUTE", a, "")
		ch.played = append(ch.played, a.data)
		a.timer = ch.s.after(ch.s.opts.PlaybackTime, func() { ch.finishApp(a, "FILE PLAYED") })
		return
	}
	if !ch.endApp(a, resp) {
		return
	}
	if a.nested {
		if a == ch.curMsg {
			ch.curMsg = nil
		}
		ch.afterNested(resp)
		return
	}
	if len(ch.stack) == 0 && ch.bridge == nil && !ch.uuidParked {
		ch.runNext()
	}
}

// afterNested continues once a nested app ended: the next queued message,
// or, on a socket app whose socket is gone, the socket app's return.
func (ch *Channel) afterNested(resp string) {
	if !ch.alive {
		return
	}
	ch.pumpMsgs()
	if ch.socketApp != nil && (ch.sock == nil || ch.sock.gone) && len(ch.stack) == 1 && ch.curMsg == nil {
		ch.endApp(ch.socketApp, resp)
		ch.runNext()
	}
}

// runNext runs the next dialplan action, or hangs up when none is left.
func (ch *Channel) runNext() {
	if !ch.alive || ch.extern || ch.routing {
		return
	}
	if len(ch.plan) == 0 {
		ch.hangup("NORMAL_CLEARING", "send_bye")
		return
	}
	action := ch.plan[0]
	ch.plan = ch.plan[1:]
	ch.ran = append(ch.ran, action)
	name, data, _ := strings.Cut(action, " ")
	if name == "socket" && !ch.s.closed {
		// A further `socket <addr> async full` (the next parkd of an
		// active/standby pair): dialled like the first; if that fails too
		// the dialplan goes on.
		addr, _, _ := strings.Cut(strings.TrimSpace(data), " ")
		sa := ch.startSocket(addr)
		ch.s.wg.Add(1)
		go func() {
			defer ch.s.wg.Done()
			_ = ch.s.dialSocket(ch, sa, addr)
		}()
		return
	}
	ch.startApp(&app{name: name, data: strings.TrimSpace(data)})
}

// queueMsg queues a sendmsg execute.
func (ch *Channel) queueMsg(a *app) {
	a.nested = true
	ch.msgs = append(ch.msgs, a)
	ch.pumpMsgs()
}

// pumpMsgs starts the next queued message when the one running is done, or
// runs it on top of one that never ends (playback of a stream parses new
// messages while it plays).
func (ch *Channel) pumpMsgs() {
	for ch.alive && len(ch.msgs) > 0 && (ch.curMsg == nil || ch.curMsg.endless) && ch.bridge == nil && !ch.dormant {
		a := ch.msgs[0]
		ch.msgs = ch.msgs[1:]
		ch.curMsg = a
		ch.startApp(a)
		if ch.curMsg == a && !a.endless {
			return // runs until its timer
		}
	}
}

// unwind ends every running app, top first, without continuing the
// dialplan: music ends with resp ("PLAYBACK ERROR" at a bridge).
func (ch *Channel) unwind(mediaResp string) {
	for len(ch.stack) > 0 {
		a := ch.stack[len(ch.stack)-1]
		resp := "_none_"
		if a.name == "playback" || a.name == "endless_playback" {
			resp = mediaResp
		}
		ch.endApp(a, resp)
	}
	ch.curMsg = nil
	ch.msgs = nil
}

// startParkTimeout honours park_timeout on a parked channel.
func (ch *Channel) startParkTimeout() {
	v, ok := ch.vars.get("park_timeout")
	if !ok {
		return
	}
	secs, err := strconv.ParseFloat(strings.SplitN(v, ":", 2)[0], 64)
	if err != nil || secs <= 0 {
		return
	}
	ch.s.cancel(ch.parkTimer)
	ch.parkTimer = ch.s.after(time.Duration(secs*float64(time.Second)), func() {
		ch.parkTimer = nil
		ch.hangup("NORMAL_CLEARING", "send_bye")
	})
}

// q850 maps hangup causes to Q.850 codes for hangup_cause_q850.
var q850 = map[string]string{
	"NORMAL_CLEARING": "16", "USER_BUSY": "17", "NO_USER_RESPONSE": "18", "NO_ANSWER": "19",
	"CALL_REJECTED": "21", "DESTINATION_OUT_OF_ORDER": "27", "NORMAL_TEMPORARY_FAILURE": "41",
	"ORIGINATOR_CANCEL": "487", "SYSTEM_SHUTDOWN": "503", "MANAGER_REQUEST": "503",
	"USER_NOT_REGISTERED": "606", "LOSE_RACE": "502", "PICKED_OFF": "504",
}

// hangup ends the channel with the full FreeSWITCH event sequence.
// disposition is sip_hangup_disposition: recv_bye (far end) or send_bye.
// Called with s.mu held.
func (ch *Channel) hangup(cause, disposition string) {
	if !ch.alive || ch.hangupCause != "" {
		return
	}
	s := ch.s
	ch.hangupTrunk()
	ch.hangupCause = cause
	ch.hungupAt = time.Now()
	ch.answerState = "hangup"
	ch.vars.set("hangup_cause", cause)
	code, ok := q850[cause]
	if !ok {
		code = "16"
	}
	ch.vars.set("hangup_cause_q850", code)
	ch.vars.set("end_epoch", strconv.FormatInt(ch.hungupAt.Unix(), 10))
	billsec := 0
	if ch.answered {
		billsec = int(ch.hungupAt.Sub(ch.answeredAt).Seconds())
	}
	ch.vars.set("billsec", strconv.Itoa(billsec))
	// Unanswered outbound legs carry a disposition too (measured by the
	// interop suite, esl/interop: a 486 gives recv_refuse, an originate
	// timeout send_cancel), with the SIP failure status.
	if ch.direction == "outbound" && !ch.answered && disposition == "send_bye" {
		disposition = "send_cancel" // a ringing leg is ended with CANCEL
	}
	ch.vars.set("sip_hangup_disposition", disposition)
	if ch.answered {
		ch.vars.set("sip_term_status", "200")
	} else if ch.direction == "outbound" {
		switch cause {
		case "USER_BUSY":
			ch.vars.set("sip_term_status", "486")
			ch.vars.set("sip_invite_failure_status", "486")
			ch.vars.set("proto_specific_hangup_cause", "sip:486")
		case "NO_ANSWER":
			ch.vars.set("sip_invite_failure_status", "487")
		}
	}
	// The originate's result. When the phone refused the call (486 Busy
	// Here, 603), FreeSWITCH reports the leg's CHANNEL_HANGUP_COMPLETE
	// before the BACKGROUND_JOB; when originate gives up itself (timeout,
	// uuid_kill) the BACKGROUND_JOB comes first (interop suite, and the
	// lab's recall-no-answer.txt).
	orig := ch.orig
	refused := disposition == "recv_refuse"
	if orig != nil && !refused {
		orig.resolve("-ERR " + cause + "\n")
	}

	sock := ch.sock
	lingering := sock != nil && !sock.gone && sock.linger
	if sock != nil && !sock.gone && !sock.linger {
		// FreeSWITCH flushes the listener's queue and says goodbye.
		sock.discardEvents()
		sock.sendNotice(disconnectNotice(ch.uuid, goodbye))
		sock.closeAfterFlush()
		sock.gone = true
		ch.sock = nil
	}
	if lingering && s.opts.HangupAfterNotice {
		sock.sendNotice(lingerNotice(ch, sock.lingerSecs))
	}
	ch.event("CHANNEL_HANGUP", evOpts{level: levelFull, stateNum: stateNumbers["CS_HANGUP"]})
	if lingering && !s.opts.HangupAfterNotice {
		sock.sendNotice(lingerNotice(ch, sock.lingerSecs))
	}
	partner := ch.bridge
	if partner != nil && ch.bridgeA {
		ch.unbridgeEvent()
	}
	ch.unwind("FILE PLAYED")
	ch.setState("CS_HANGUP")
	ch.setCallState("HANGUP")
	ch.setState("CS_REPORTING")
	ch.event("CHANNEL_HANGUP_COMPLETE", evOpts{level: levelFull, pre: esl.Headers{hdr("Hangup-Cause", cause)}})
	if orig != nil && refused {
		orig.resolve("-ERR " + cause + "\n")
	}
	ch.event("CHANNEL_DESTROY", evOpts{level: levelFull, stateNum: stateNumbers["CS_DESTROY"]})
	ch.state = "CS_DESTROY"
	ch.event("CHANNEL_STATE", evOpts{level: levelProfile})
	ch.alive = false
	s.cancel(ch.parkTimer)
	delete(s.channels, ch.uuid)
	if s.opts.Forget {
		delete(s.all, ch.uuid)
	}
	s.unlist()
	if lingering && sock.lingerSecs > 0 {
		s.after(time.Duration(sock.lingerSecs)*time.Second, func() {
			if !sock.gone {
				sock.sendNotice(disconnectNotice(ch.uuid, goodbye))
				sock.closeAfterFlush()
				sock.gone = true
			}
		})
	}
	ch.notify()

	if partner != nil {
		if ch.bridgeA {
			ch.bridge, partner.bridge = nil, nil
			partner.hangup("NORMAL_CLEARING", "send_bye")
		} else {
			partner.unbridgeEvent()
			ch.bridge, partner.bridge = nil, nil
			partner.afterBridge()
		}
	}
}

// afterBridge continues the first leg of a bridge whose second leg hung up
// (docs/freeswitch.md#after-bridge-variables): hangup_after_bridge,
// park_after_bridge, or its own dialplan.
func (ch *Channel) afterBridge() {
	if !ch.alive {
		return
	}
	ch.bridgeA = false
	ch.vars.set("last_bridge_role", "originator")
	if v, _ := ch.vars.get("hangup_after_bridge"); v == "true" {
		ch.hangup("NORMAL_CLEARING", "send_bye")
		return
	}
	if v, _ := ch.vars.get("park_after_bridge"); v == "true" {
		ch.state = "CS_PARK"
		ch.setState("CS_PARK")
		ch.appName, ch.appData = "park", ""
		ch.stack = append(ch.stack, &app{name: "park", endless: true, parks: true, uuid: esl.NewUUID()})
		ch.fullEvent("CHANNEL_PARK")
		ch.notify()
		return
	}
	ch.setState("CS_EXECUTE")
	ch.runNext()
}

// unbridgeEvent fires CHANNEL_UNBRIDGE on the first leg (only it gets one).
func (ch *Channel) unbridgeEvent() {
	o := ch.bridge
	if o == nil {
		return
	}
	cause := o.hangupCause
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	ch.vars.set("bridge_hangup_cause", cause)
	ch.vars.set("last_bridge_role", "originator")
	ch.event("CHANNEL_UNBRIDGE", evOpts{level: levelFull, pre: esl.Headers{
		hdr("Bridge-A-Unique-ID", ch.uuid), hdr("Bridge-B-Unique-ID", o.uuid)}})
}
