package fstest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parkd/parkd/esl"
)

// api runs one api command and returns its body. It takes the lock itself;
// originate blocks until the call is answered or fails.
func (s *Switch) api(line string) string {
	cmd, args := cut(line)
	if strings.EqualFold(cmd, "originate") {
		done := make(chan string, 1)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return "-ERR SYSTEM_SHUTDOWN\n"
		}
		s.originateStart(args, func(res string) { done <- res })
		s.mu.Unlock()
		select {
		case res := <-done:
			return res
		case <-s.done:
			return "-ERR SYSTEM_SHUTDOWN\n"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, ok := s.apiLocked(strings.ToLower(cmd), args)
	if !ok {
		return "-ERR " + cmd + " Command not found!\n"
	}
	if res == "" {
		return "-ERR no reply\n"
	}
	return res
}

const noSuchChannel = "-ERR No such channel!\n"

// apiLocked runs the api commands that do not block. Called with s.mu held.
func (s *Switch) apiLocked(cmd, args string) (string, bool) {
	f := strings.Fields(args)
	arg := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	ch := s.channels[arg(0)]
	if res, ok := s.presenceAPI(cmd, args); ok {
		return res, true
	}
	switch cmd {
	case "status":
		up := time.Since(s.started)
		return fmt.Sprintf("UP 0 years, 0 days, %d hours, %d minutes, %d seconds, %d milliseconds, 0 microseconds\n"+
			"FreeSWITCH (Version 1.11.3-dev fstest) is ready\n"+
			"%d session(s) since startup\n%d session(s) - peak %d, last 5min %d \n"+
			"0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n1000 session(s) max\n"+
			"min idle cpu 0.00/99.00\nCurrent Stack Size/Max 240K/8192K\n",
			int(up.Hours()), int(up.Minutes())%60, int(up.Seconds())%60, up.Milliseconds()%1000,
			s.sessions, len(s.channels), len(s.channels), len(s.channels)), true
	case "version":
		return "FreeSWITCH Version 1.11.3-dev+fstest (fstest simulator)\n", true
	case "hostname":
		return s.opts.Hostname, true
	case "uuid_exists":
		return strconv.FormatBool(ch != nil), true
	case "uuid_getvar":
		if len(f) < 2 {
			return "-USAGE: <uuid> <var>\n", true
		}
		if ch == nil {
			return noSuchChannel, true
		}
		if v, ok := ch.getvar(f[1]); ok {
			return v, true
		}
		return "_undef_", true
	case "uuid_setvar":
		_, rest := cut(args)
		name, value := cut(rest)
		if name == "" {
			return "-USAGE: <uuid> <var> [value]\n", true
		}
		if ch == nil {
			return noSuchChannel, true
		}
		if value == "" {
			ch.vars.unset(name)
		} else {
			ch.vars.set(name, value)
		}
		ch.notify()
		return "+OK\n", true
	case "uuid_setvar_multi":
		_, rest := cut(args)
		if rest == "" {
			return "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n", true
		}
		if ch == nil {
			return noSuchChannel, true
		}
		for _, kv := range strings.Split(rest, ";") {
			if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
				if v == "" {
					ch.vars.unset(k)
				} else {
					ch.vars.set(k, v)
				}
			}
		}
		ch.notify()
		return "+OK\n", true
	case "uuid_transfer":
		return s.uuidTransfer(f), true
	case "uuid_bridge":
		if len(f) < 2 {
			return "-USAGE: <uuid> <other_uuid>\n", true
		}
		a, b := s.channels[f[0]], s.channels[f[1]]
		if a == nil || b == nil || a == b {
			return "-ERR Invalid uuid\n", true
		}
		if !a.answered && !b.answered {
			return "-ERR Neither channel is answered, cannot bridge them.\n", true
		}
		s.bridge(a, b)
		return "+OK " + b.uuid + "\n", true
	case "uuid_kill":
		if ch == nil {
			return noSuchChannel, true
		}
		cause := strings.ToUpper(arg(1))
		if cause == "" {
			cause = "NORMAL_CLEARING"
		}
		ch.hangup(cause, "send_bye")
		return "+OK\n", true
	case "uuid_answer":
		// mod_commands answers from the API thread (switch_channel_answer)
		// and replies when it returned: "+OK" (also for a call already
		// answered), "-ERROR" for no such channel or a channel hanging up.
		// No application runs, so there is no CHANNEL_EXECUTE.
		if ch == nil || !ch.alive {
			return "-ERROR\n", true
		}
		ch.markAnswered()
		return "+OK\n", true
	case "uuid_park":
		if ch == nil {
			return noSuchChannel, true
		}
		ch.uuidPark()
		return "+OK\n", true
	case "uuid_broadcast":
		if len(f) < 2 {
			return "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n", true
		}
		if ch == nil {
			return "-ERR invalid uuid\n", true
		}
		leg := strings.ToLower(arg(2))
		if leg == "" || leg == "aleg" || leg == "both" {
			ch.broadcast(f[1])
		}
		if (leg == "bleg" || leg == "both" || leg == "holdb") && ch.bridge != nil {
			ch.bridge.broadcast(f[1])
		}
		return "+OK Message sent\n", true
	case "uuid_break":
		if ch == nil {
			return noSuchChannel, true
		}
		ch.breakMedia(strings.EqualFold(arg(1), "all"))
		return "+OK\n", true
	case "uuid_dump":
		if ch == nil {
			return noSuchChannel, true
		}
		return ch.dump(strings.EqualFold(arg(1), "json")), true
	case "hupall":
		cause := strings.ToUpper(arg(0))
		if cause == "" {
			cause = "MANAGER_REQUEST"
		}
		for _, c := range append([]*Channel(nil), s.live()...) {
			if len(f) >= 3 {
				if v, _ := c.vars.get(f[1]); v != f[2] {
					continue
				}
			}
			c.hangup(cause, "send_bye")
		}
		return "+OK hangup all channels with cause " + cause + "\n", true
	case "show":
		return s.show(f), true
	}
	return "", false
}

// getvar is uuid_getvar: a variable, else a caller-profile field, as
// switch_channel_get_variable falls back to the caller profile.
func (ch *Channel) getvar(name string) (string, bool) {
	if v, ok := ch.vars.get(name); ok {
		return v, true
	}
	v := map[string]string{
		"caller_id_name": ch.cidName, "caller_id_number": ch.cidNum, "destination_number": ch.dest,
		"callee_id_name": ch.calleeName, "callee_id_number": ch.calleeNum, "rdnis": ch.rdnis,
		"ani": ch.cidNum, "uuid": ch.uuid, "context": "default", "dialplan": "XML",
		"network_addr": "127.0.0.1", "chan_name": ch.name, "username": ch.user,
		"source": "mod_sofia", "transfer_source": ch.transferSource,
		// Microseconds; the simulator routes a call once, when it is made.
		"created_time": strconv.FormatInt(ch.created.UnixMicro(), 10), "profile_created_time": strconv.FormatInt(ch.created.UnixMicro(), 10),
	}[name]
	return v, v != ""
}

// uuidTransfer is "uuid_transfer <uuid> [-bleg|-both] <dest> [dialplan] [context]".
func (s *Switch) uuidTransfer(f []string) string {
	if len(f) < 2 {
		return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
	}
	ch := s.channels[f[0]]
	if ch == nil {
		return noSuchChannel
	}
	legs := []*Channel{ch}
	rest := f[1:]
	switch strings.ToLower(rest[0]) {
	case "-bleg":
		legs, rest = nil, rest[1:]
		if ch.bridge != nil {
			legs = []*Channel{ch.bridge}
		}
	case "-both":
		rest = rest[1:]
		if ch.bridge != nil {
			legs = append(legs, ch.bridge)
		}
	}
	if len(rest) == 0 {
		return "-ERR\n"
	}
	for _, leg := range legs {
		if len(rest) > 1 && rest[1] == "inline" {
			leg.transferInline(rest[0])
		} else {
			leg.ran = append(leg.ran, "transfer "+strings.Join(rest, " "))
			leg.transferExtension(rest)
		}
	}
	return "+OK\n"
}

// reroute takes the channel out of whatever it runs (bridge, park, socket
// app, music) for a transfer, then fires CS_ROUTING / CS_EXECUTE.
func (ch *Channel) reroute() {
	ch.leaveBridge()
	ch.unwind("FILE PLAYED")
	ch.dormant, ch.uuidParked, ch.extern = false, false, false
	ch.state = "CS_ROUTING"
	cs := ch.callState
	ch.setCallState("RINGING")
	ch.setState("CS_ROUTING")
	ch.setCallState(cs)
	ch.setState("CS_EXECUTE")
}

// transferInline runs an inline dialplan "app:arg,app:arg"
// (docs/freeswitch.md#inline-transfer-keeps-music,
// docs/freeswitch.md#bridge-end-ends-the-inline-park).
func (ch *Channel) transferInline(dest string) {
	if !ch.alive {
		return
	}
	ch.reroute()
	ch.showDest = dest
	ch.plan = nil
	for _, step := range strings.Split(dest, ",") {
		name, data, _ := strings.Cut(step, ":")
		if name = strings.TrimSpace(name); name != "" {
			ch.plan = append(ch.plan, strings.TrimSpace(name+" "+data))
		}
	}
	ch.inline = true
	ch.runNext()
}

// transferExtension sends the channel to a dialplan extension, which the
// simulator does not model: the channel stays up, out of parkd's hands.
func (ch *Channel) transferExtension(args []string) {
	if !ch.alive || len(args) == 0 {
		return
	}
	ch.reroute()
	ch.dest, ch.showDest = args[0], ""
	ch.plan, ch.inline, ch.extern = nil, false, true
	ch.appName, ch.appData = "transfer", strings.Join(args, " ")
	ch.notify()
	ch.runExtension(args[0]) // a modelled extension (peer.go), if any
}

// uuidPark is uuid_park: CS_PARK; dormant if the socket closes later
// (docs/freeswitch.md#uuid-park-goes-dormant).
func (ch *Channel) uuidPark() {
	if !ch.alive || ch.uuidParked || ch.dormant {
		return // a state change to the same state does nothing
	}
	ch.leaveBridge()
	ch.unwind("PLAYBACK ERROR")
	ch.uuidParked, ch.extern = true, false
	ch.setState("CS_PARK")
	// With the socket still connected the channel goes dormant when it
	// closes (socketClosed); without one, the park is serviced.
	ch.fullEvent("CHANNEL_PARK")
	ch.notify()
}

// broadcast is uuid_broadcast: a nested playback (or app::args). A dormant
// channel ignores it (docs/freeswitch.md#uuid-park-goes-dormant).
func (ch *Channel) broadcast(path string) {
	if !ch.alive || ch.dormant {
		return
	}
	name, data := "playback", path
	if a, b, ok := strings.Cut(path, "::"); ok {
		name, data = a, b
		if i := strings.IndexByte(name, '!'); i >= 0 {
			name = name[:i]
		}
	}
	ch.startApp(&app{name: name, data: data, nested: true})
}

// breakMedia is uuid_break: it stops playback and broadcasts, never
// endless_playback (docs/freeswitch.md#inline-transfer-keeps-music).
func (ch *Channel) breakMedia(all bool) {
	var stop []*app
	for i := len(ch.stack) - 1; i >= 0; i-- {
		a := ch.stack[i]
		if a.name == "playback" || a.name == "say" {
			stop = append(stop, a)
			if !all {
				break
			}
		} else if a.media != "" && !all {
			break
		}
	}
	for _, a := range stop {
		a.loops = 0
		if ch.stackIndex(a) >= 0 {
			ch.finishApp(a, "FILE PLAYED")
		}
	}
}

// leaveBridge takes a bridged leg out of its bridge for a transfer or park.
func (ch *Channel) leaveBridge() {
	o := ch.bridge
	if o == nil {
		return
	}
	if ch.bridgeA {
		ch.unbridgeEvent()
	} else {
		o.unbridgeEvent()
	}
	wasA := ch.bridgeA
	ch.bridge, o.bridge = nil, nil
	ch.bridgeA, o.bridgeA = false, false
	if wasA {
		o.hangup("NORMAL_CLEARING", "send_bye")
	} else {
		o.afterBridge()
	}
}

// dump is uuid_dump: the channel as a CHANNEL_DATA event, plain or JSON.
func (ch *Channel) dump(asJSON bool) string {
	h := ch.channelData(false, "uuid_dump_function", 6495)
	if !asJSON {
		var b strings.Builder
		for _, x := range h {
			b.WriteString(x.Name + ": " + esl.URLEncode(x.Value) + "\n")
		}
		return b.String()
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, x := range h {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(x.Name))
		b.WriteByte(':')
		b.Write(jsonString(x.Value))
	}
	b.WriteByte('}')
	return b.String()
}

func jsonString(s string) []byte { return appendJSONString(nil, s) }

// appendJSONString appends s as a JSON string. Printable ASCII without
// quotes or backslashes, which is nearly every value a listing has, is
// copied as it is; anything else goes through encoding/json. A listing of
// 50,000 channels has two million values, and encoding each with
// json.Marshal was most of the time the switch took to answer it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// showFields are the columns of "show channels"
// (docs/freeswitch.md#show-calls-pairs-bridged-legs).
var showFields = []string{"uuid", "direction", "created", "created_epoch", "name", "state", "cid_name",
	"cid_num", "ip_addr", "dest", "application", "application_data", "dialplan", "context", "read_codec",
	"read_rate", "read_bit_rate", "write_codec", "write_rate", "write_bit_rate", "secure", "hostname",
	"presence_id", "presence_data", "accountcode", "callstate", "callee_name", "callee_num",
	"callee_direction", "call_uuid", "sent_callee_name", "sent_callee_num", "initial_cid_name",
	"initial_cid_num", "initial_ip_addr", "initial_dest", "initial_dialplan", "initial_context"}

// callFields are the columns of "show calls" as the real FreeSWITCH
// returns them: no application columns, and the bridge partner's in b_
// columns, empty for an unbridged channel
// (docs/freeswitch.md#show-calls-pairs-bridged-legs; checked on the interop
// FreeSWITCH).
var callFields = []string{"uuid", "direction", "created", "created_epoch", "name", "state", "cid_name",
	"cid_num", "ip_addr", "dest", "presence_id", "presence_data", "accountcode", "callstate", "callee_name",
	"callee_num", "callee_direction", "call_uuid", "hostname", "sent_callee_name", "sent_callee_num",
	"b_uuid", "b_direction", "b_created", "b_created_epoch", "b_name", "b_state", "b_cid_name", "b_cid_num",
	"b_ip_addr", "b_dest", "b_presence_id", "b_presence_data", "b_accountcode", "b_callstate",
	"b_callee_name", "b_callee_num", "b_callee_direction", "b_sent_callee_name", "b_sent_callee_num",
	"call_created_epoch"}

// rowKeys are the columns a channel has values for, in showRow's order;
// any other column of a listing is empty.
var rowKeys = []string{"uuid", "direction", "created", "created_epoch", "name", "state",
	"cid_name", "cid_num", "ip_addr", "dest", "application", "application_data", "dialplan", "context",
	"read_codec", "read_rate", "read_bit_rate", "write_codec", "write_rate", "write_bit_rate", "hostname",
	"presence_id", "callstate", "callee_name", "callee_num",
	"initial_cid_name", "initial_cid_num", "initial_ip_addr", "initial_dest", "initial_dialplan", "initial_context"}

var rowKeyIndex = func() map[string]int {
	m := make(map[string]int, len(rowKeys))
	for i, k := range rowKeys {
		m[k] = i
	}
	return m
}()

// showRow is one channel's row: its values of rowKeys, in order. A slice
// rather than a map: a listing of 50,000 channels made 50,000 maps.
func (ch *Channel) showRow(host string) []string {
	codec, rate, bits := "", "", ""
	dest := ch.dest
	if ch.showDest != "" {
		dest = ch.showDest
	}
	if ch.media {
		codec, rate, bits = "PCMU", "8000", "64000"
	}
	return []string{
		ch.uuid, ch.direction, ch.created.Format("2006-01-02 15:04:05"),
		strconv.FormatInt(ch.created.Unix(), 10), ch.name, ch.state,
		ch.cidName, ch.cidNum, "127.0.0.1", dest,
		ch.appName, ch.appData, "XML", "default",
		codec, rate, bits, codec,
		rate, bits, host,
		ch.user + "@127.0.0.1", ch.callState,
		ch.calleeName, ch.calleeNum,
		ch.cidName, ch.cidNum, "127.0.0.1",
		ch.dest, "XML", "default",
	}
}

// listedRow is one row of a listing: a channel's values and, for a bridged
// pair in `show calls`, its partner's in the b_ columns.
type listedRow struct{ own, b []string }

// column says where a listing's field comes from: the row's own values or
// the partner's (b), at index i; i < 0 for a field that is always empty.
type column struct {
	b bool
	i int
}

func columnsOf(fields []string) []column {
	cols := make([]column, len(fields))
	for j, f := range fields {
		k, b := strings.CutPrefix(f, "b_")
		i, ok := rowKeyIndex[k]
		if !ok {
			i = -1
		}
		cols[j] = column{b: b, i: i}
	}
	return cols
}

func (r listedRow) value(c column) string {
	vals := r.own
	if c.b {
		vals = r.b
	}
	if c.i < 0 || vals == nil {
		return ""
	}
	return vals[c.i]
}

// show is "show channels|calls [like <text>] [as json] | count".
func (s *Switch) show(f []string) string {
	if len(f) == 0 {
		return "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n"
	}
	what := strings.ToLower(f[0])
	if what != "channels" && what != "calls" {
		return "-ERR Cannot find " + f[0] + "\n"
	}
	rest := f[1:]
	like, asJSON, count := "", false, false
	for i := 0; i < len(rest); i++ {
		switch strings.ToLower(rest[i]) {
		case "like":
			if i+1 < len(rest) {
				like = rest[i+1]
				i++
			}
		case "as":
			if i+1 < len(rest) && strings.EqualFold(rest[i+1], "json") {
				asJSON = true
				i++
			}
		case "count":
			count = true
		}
	}
	fields := showFields
	if what == "calls" {
		fields = callFields
	}
	cols := columnsOf(fields)
	var rows []listedRow
	for _, ch := range s.live() {
		if s.opts.ListLag > 0 && time.Since(ch.created) < s.opts.ListLag {
			continue // not in the core database yet
		}
		r := listedRow{own: ch.showRow(s.opts.Hostname)}
		if what == "calls" && ch.bridge != nil {
			// A bridged pair is one call: the originator's row carries the
			// other leg in its b_ columns, and the other leg has no row.
			if !ch.bridgeA {
				continue
			}
			r.b = ch.bridge.showRow(s.opts.Hostname)
		}
		if like != "" {
			hit := false
			for _, k := range []string{"uuid", "name", "cid_name", "cid_num", "dest", "presence_id"} {
				if strings.Contains(r.own[rowKeyIndex[k]], like) {
					hit = true
				}
			}
			if !hit {
				continue
			}
		}
		rows = append(rows, r)
	}
	if count {
		return fmt.Sprintf("\n%d total.\n", len(rows))
	}
	if asJSON {
		if len(rows) == 0 {
			return "{\"row_count\": 0}\n"
		}
		b := make([]byte, 0, len(rows)*(40*len(fields)+100))
		b = fmt.Appendf(b, "{\"row_count\":%d,\"rows\":[", len(rows))
		for i, r := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			for j, k := range fields {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, k)
				b = append(b, ':')
				b = appendJSONString(b, r.value(cols[j]))
			}
			b = append(b, '}')
		}
		b = append(b, "]}"...)
		return string(b)
	}
	var b strings.Builder
	b.WriteString(strings.Join(fields, ",") + "\n")
	for _, r := range rows {
		vals := make([]string, len(fields))
		for j := range fields {
			vals[j] = r.value(cols[j])
		}
		b.WriteString(strings.Join(vals, ",") + "\n")
	}
	fmt.Fprintf(&b, "\n%d total.\n", len(rows))
	return b.String()
}
