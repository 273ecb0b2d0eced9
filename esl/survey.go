package esl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/percipia/eslgo/command"

	"github.com/parkd/parkd/parking"
)

// Survey implements parking.Switch: `show calls as json` lists the
// channels, a bridged pair as one row with the second leg in its b_
// columns (it carries no channel variables: see docs/freeswitch.md#show-calls-pairs-bridged-legs),
// then `uuid_getvar` reads parkd's marks on each. Only channels whose
// VarInstance is this Client's Instance are reported: a recall leg by its
// VarRecallFor, a parked call by its VarSlot (with VarLot, VarParker and
// VarParkedAt). Any other channel is not this parkd's and is left out.
// bridge_uuid is no sign of a bridge: a call transferred by REFER carries
// its old partner's there (docs/freeswitch.md#refer-leaves-bridge-uuid).
//
// A known call (one parkd holds) that carries this instance is reported
// with what its reconciliation needs, and no more: whether it is still
// parked (its current application) or bridged. Its lot, slot, parker and
// park time are parkd's own and are not read again, and it is no recall
// leg (parkd holds parked calls only), so such a call costs two
// uuid_getvar (VarInstance, current_application) instead of eight. A
// recall leg that was itself parked later keeps its VarRecallFor; read
// first, it made such a call look like a stray recall leg, to be hung up.
// Calls parkd does not know are read in full, to be adopted.
//
// The uuid_getvar are pipelined: written surveyBatch at a time, with
// surveyInFlight batches awaiting their answers, which FreeSWITCH gives in
// order (it reads a socket one command at a time). With 50,000 calls
// parked, one round trip per variable took minutes. The known calls'
// reads follow the listing's request at once, without waiting for it:
// the switch answers them while parkd reads the listing.
//
// `show calls` reads FreeSWITCH's core database, which lags behind new
// channels (on a freshly started switch a call parked a fraction of a
// second earlier was still missing). A known call the listing misses is
// therefore looked up by itself: uuid_getvar reads the live session. Such
// a call is reported as not bridged, since only the listing says so; at
// worst a call retrieved while parkd was away stays parked in parkd's eyes
// until its hangup, instead of a parked call being taken for gone.
func (c *Client) Survey(ctx context.Context, known []parking.CallID) ([]parking.Channel, error) {
	conn, err := c.current()
	if err != nil {
		return nil, err
	}
	// The listing is asked first; while the switch builds it and parkd
	// reads it, the known calls' marks, which need no listing, are read.
	listTimeout := max(c.Timeout, surveyListTimeout)
	list, err := conn.begin(ctx, listTimeout, command.API{Command: "show", Arguments: "calls as json"})
	if err != nil {
		return nil, fmt.Errorf("show calls: %w", err)
	}
	type listing struct {
		rows []showRow
		err  error
	}
	listed := make(chan listing, 1)
	go func() {
		rows, err := readShowCalls(list)
		listed <- listing{rows, err}
	}()

	sv := &survey{c: c, conn: conn}
	byUUID := make(map[string]int, len(known))
	var need []markRequest
	for _, k := range known {
		id := string(k)
		if _, dup := byUUID[id]; dup || !ValidUUID(id) {
			continue
		}
		// Until the listing says otherwise: not bridged (see above).
		i := sv.add(showRow{UUID: id, CallState: "ACTIVE"}, true)
		byUUID[id] = i
		need = append(need, markRequest{row: i, name: VarInstance}, markRequest{row: i, name: "current_application"})
	}
	// Their replies come after the whole listing (the switch answers in
	// order), so they get the listing's time, not an ordinary command's.
	ferr := sv.fetch(ctx, listTimeout, need)
	l := <-listed
	if l.err != nil {
		return nil, l.err
	}
	if ferr != nil {
		return nil, ferr
	}
	need = need[:0]
	for _, r := range l.rows {
		if !ValidUUID(r.UUID) {
			continue
		}
		if i, ok := byUUID[r.UUID]; ok {
			if !sv.listed[i] {
				sv.rows[i], sv.listed[i] = r, true
			}
			continue
		}
		i := sv.add(r, false)
		byUUID[r.UUID] = i
		need = append(need, markRequest{row: i, name: VarInstance})
	}
	l.rows = nil // up to hundreds of MB of listing: let it go
	out := make([]parking.Channel, 0, len(known))
	pending := make([]int, len(sv.rows))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		if err := sv.fetch(ctx, 0, need); err != nil {
			return nil, err
		}
		need = need[:0]
		var again []int
		for _, i := range pending {
			ch, ok, err := c.surveyOne(sv.rows[i], sv.known[i], sv.getter(i, &need))
			switch {
			case errors.Is(err, errMoreMarks):
				again = append(again, i)
			case err != nil:
				return nil, err
			case ok:
				out = append(out, ch)
			}
		}
		if len(again) > 0 && len(need) == 0 {
			// surveyOne asked for nothing new: it would ask forever.
			return nil, errors.New("survey: a channel's marks were read and still not enough")
		}
		pending = again
	}
	return out, nil
}

// readShowCalls waits for the answer to `show calls as json` and reads it.
func readShowCalls(list *pending) ([]showRow, error) {
	frames, err := list.wait()
	if err != nil {
		return nil, fmt.Errorf("show calls: %w", err)
	}
	body := frames[0].Body
	if frames[0].ContentType() != TypeAPIResponse {
		body = []byte(frames[0].Headers.Get("Reply-Text"))
	}
	if bytes.HasPrefix(body, []byte("-ERR")) {
		return nil, fmt.Errorf("show calls: %w", NewAPIError("show", string(body)))
	}
	return parseShowCalls(body)
}

// Pipelining of a survey's uuid_getvar.
const (
	surveyBatch    = 256
	surveyInFlight = 4
)

// surveyListTimeout is the least time a survey's `show calls` is given:
// the answer grows with every channel on the switch (some 50 MB for
// 50,000 calls parked), which FreeSWITCH builds from its core database
// and sends whole, so the ordinary command timeout is too short for it.
const surveyListTimeout = 30 * time.Second

// survey is one Survey's channels and the marks read on them so far.
type survey struct {
	c      *Client
	conn   *Conn
	rows   []showRow
	known  []bool
	listed []bool        // the row is the listing's, not a stand-in for a known call
	vals   [][]markValue // by row: the variables read so far
}

// add adds a channel to survey and returns its row.
func (sv *survey) add(r showRow, known bool) int {
	sv.rows = append(sv.rows, r)
	sv.known = append(sv.known, known)
	sv.listed = append(sv.listed, !known)
	sv.vals = append(sv.vals, nil)
	return len(sv.rows) - 1
}

// markValue is one variable read on a channel: its value, or gone when
// the channel was no longer there.
type markValue struct {
	name, value string
	gone        bool
}

// markRequest is one uuid_getvar to send: variable name on rows[row].
type markRequest struct {
	row  int
	name string
}

// errMoreMarks: surveyOne needs a variable not read yet; getter has
// queued it (with those the same branch goes on to read) for the next
// round.
var errMoreMarks = errors.New("survey: more marks to read")

// markGroups are the variables read together in one round once the first
// of them is asked for: what surveyOne goes on to read on that branch.
var markGroups = map[string][]string{
	marks.recallFor:       {marks.recallFor, marks.slot, marks.lot, marks.parker, marks.domain, "current_application", marks.parkedAt},
	legacyMarks.recallFor: {legacyMarks.recallFor, legacyMarks.slot, legacyMarks.lot, legacyMarks.parker, "current_application", legacyMarks.parkedAt},
	VarAction:             {VarAction, "current_application", "profile_created_time", "context"},
}

// getter returns row i's variables as surveyOne reads them: from what
// was fetched, or errMoreMarks after adding the missing one (and its
// group) to need.
func (sv *survey) getter(i int, need *[]markRequest) func(string) (string, bool, error) {
	return func(name string) (string, bool, error) {
		for _, v := range sv.vals[i] {
			if v.name == name {
				return v.value, !v.gone, nil
			}
		}
		group, ok := markGroups[name]
		if !ok {
			group = []string{name}
		}
		for _, n := range group {
			if !sv.has(i, n) {
				*need = append(*need, markRequest{row: i, name: n})
			}
		}
		return "", false, errMoreMarks
	}
}

func (sv *survey) has(i int, name string) bool {
	for _, v := range sv.vals[i] {
		if v.name == name {
			return true
		}
	}
	return false
}

// fetch reads the variables reqs ask for, pipelined, into sv.vals.
//
// timeout is each batch's deadline; 0: the connection's Timeout.
func (sv *survey) fetch(ctx context.Context, timeout time.Duration, reqs []markRequest) error {
	if len(reqs) == 0 {
		return nil
	}
	got := make([]markValue, len(reqs))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		ferr    error
	)
	batches := (len(reqs) + surveyBatch - 1) / surveyBatch
	for range min(surveyInFlight, batches) {
		wg.Go(func() {
			cmds := make([]command.Command, 0, surveyBatch)
			for {
				b := int(next.Add(1) - 1)
				if b >= batches {
					return
				}
				if err := ctx.Err(); err != nil {
					errOnce.Do(func() { ferr = fmt.Errorf("uuid_getvar: %w", err) })
					return
				}
				lo, hi := b*surveyBatch, min((b+1)*surveyBatch, len(reqs))
				cmds = cmds[:0]
				for _, r := range reqs[lo:hi] {
					cmds = append(cmds, command.API{Command: "uuid_getvar", Arguments: sv.rows[r.row].UUID + " " + r.name})
				}
				var replies []Frame
				var err error
				if timeout > 0 {
					replies, err = sv.conn.SendAllWithin(ctx, timeout, cmds...)
				} else {
					replies, err = sv.conn.SendAll(ctx, cmds...)
				}
				if err != nil {
					errOnce.Do(func() {
						r := reqs[lo]
						ferr = fmt.Errorf("uuid_getvar %s %s: %w", sv.rows[r.row].UUID, r.name, err)
						cancel()
					})
					return
				}
				for k, f := range replies {
					got[lo+k] = getvarValue(reqs[lo+k].name, f)
				}
			}
		})
	}
	wg.Wait()
	if ferr != nil {
		return ferr
	}
	for k, r := range reqs {
		sv.vals[r.row] = append(sv.vals[r.row], got[k])
	}
	return nil
}

// getvarValue reads a uuid_getvar answer: the value ("" for FreeSWITCH's
// _undef_), or gone for any -ERR (the channel went meanwhile).
func getvarValue(name string, f Frame) markValue {
	v := string(f.Body)
	if f.ContentType() != TypeAPIResponse {
		v = f.Headers.Get("Reply-Text")
	}
	if strings.HasPrefix(v, "-ERR") {
		return markValue{name: name, gone: true}
	}
	v = strings.TrimSpace(v)
	if v == "_undef_" {
		v = ""
	}
	return markValue{name: name, value: v}
}

// showRow is one channel as `show calls` describes it.
type showRow struct {
	UUID      string
	CIDName   string
	CIDNum    string
	CallState string
	Bridged   bool
}

// parseShowCalls reads `show calls as json`, whose empty form is
// `{"row_count": 0}` without rows, into one showRow per channel. The
// listing is about 1 KB a channel, 50 MB with 50,000 calls parked, and
// encoding/json took most of a survey's own time to read it: scanShowCalls
// reads the shape FreeSWITCH writes (rows whose values are all strings)
// and picks out the columns a survey uses; anything else goes to
// encoding/json, which is also the judge of what is valid.
func parseShowCalls(body []byte) ([]showRow, error) {
	if rows, ok := scanShowCalls(body); ok {
		return rows, nil
	}
	return decodeShowCalls(body)
}

// showCallsJSON is `show calls as json`: the columns a survey reads.
type showCallsJSON struct {
	RowCount int `json:"row_count"`
	Rows     []struct {
		UUID       string `json:"uuid"`
		CIDName    string `json:"cid_name"`
		CIDNum     string `json:"cid_num"`
		CallState  string `json:"callstate"`
		BUUID      string `json:"b_uuid"`
		BCIDName   string `json:"b_cid_name"`
		BCIDNum    string `json:"b_cid_num"`
		BCallState string `json:"b_callstate"`
	} `json:"rows"`
}

// decodeShowCalls reads the listing with encoding/json.
func decodeShowCalls(body []byte) ([]showRow, error) {
	var v showCallsJSON
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("show calls: unreadable reply %q: %w", clip(string(body[:min(len(body), 100)])), err)
	}
	out := make([]showRow, 0, len(v.Rows))
	for _, r := range v.Rows {
		out = appendShowRow(out, r.UUID, r.CIDName, r.CIDNum, r.CallState, r.BUUID, r.BCIDName, r.BCIDNum, r.BCallState)
	}
	return out, nil
}

// appendShowRow appends a listing's row: one channel, or a bridged pair
// as two.
func appendShowRow(out []showRow, uuid, name, num, state, bUUID, bName, bNum, bState string) []showRow {
	bridged := bUUID != ""
	out = append(out, showRow{UUID: uuid, CIDName: name, CIDNum: num, CallState: state, Bridged: bridged})
	if bridged {
		out = append(out, showRow{UUID: bUUID, CIDName: bName, CIDNum: bNum, CallState: bState, Bridged: true})
	}
	return out
}

// scanShowCalls reads a listing of the shape FreeSWITCH writes:
// {"row_count":N,"rows":[{"col":"value",...},...]} with strings for every
// column value, in any order, with any white space. ok is false for
// anything else, valid JSON or not; the caller then asks encoding/json.
// Like encoding/json it takes the last of repeated keys and matches keys
// without regard to case only when no exact match exists; it leaves that
// and escapes other than \" and \\ to encoding/json as well.
func scanShowCalls(b []byte) (rows []showRow, ok bool) {
	sc := showScanner{b: b}
	if !sc.byte('{') {
		return nil, false
	}
	rows = []showRow{}
	if sc.peek('}') {
		return rows, sc.end()
	}
	for {
		key, ok := sc.key()
		if !ok {
			return nil, false
		}
		switch string(key) {
		case "row_count":
			if !sc.number() {
				return nil, false
			}
		case "rows":
			if rows, ok = sc.rows(); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
		if sc.peek('}') {
			return rows, sc.end()
		}
		if !sc.byte(',') {
			return nil, false
		}
	}
}

// showScanner reads a listing; every method skips white space first and
// reports false on anything it does not expect.
type showScanner struct {
	b []byte
	i int
}

func (sc *showScanner) space() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// byte consumes c.
func (sc *showScanner) byte(c byte) bool {
	sc.space()
	if sc.i < len(sc.b) && sc.b[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// peek consumes c if it comes next.
func (sc *showScanner) peek(c byte) bool { return sc.byte(c) }

// end reports whether only white space is left.
func (sc *showScanner) end() bool {
	sc.space()
	return sc.i == len(sc.b)
}

// str reads a string of valid UTF-8 without control characters (invalid
// in JSON) and without escapes other than \" and \\, and returns its
// bytes, undecoded: raw says whether they are the value as it is.
func (sc *showScanner) str() (v []byte, raw, ok bool) {
	sc.space()
	if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
		return nil, false, false
	}
	start := sc.i + 1
	raw = true
	ascii := true
	for j := start; j < len(sc.b); j++ {
		switch c := sc.b[j]; {
		case c == '"':
			sc.i = j + 1
			if !ascii && !utf8.Valid(sc.b[start:j]) {
				return nil, false, false // encoding/json makes U+FFFD of it
			}
			return sc.b[start:j], raw, true
		case c == '\\':
			if j+1 >= len(sc.b) || (sc.b[j+1] != '"' && sc.b[j+1] != '\\') {
				return nil, false, false
			}
			raw = false
			j++
		case c < 0x20:
			return nil, false, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false, false
}

// value reads a string and returns it decoded.
func (sc *showScanner) value() (string, bool) {
	v, raw, ok := sc.str()
	if !ok {
		return "", false
	}
	if raw {
		return string(v), true
	}
	out := make([]byte, 0, len(v))
	for j := 0; j < len(v); j++ {
		if v[j] == '\\' {
			j++
		}
		out = append(out, v[j])
	}
	return string(out), true
}

// key reads an object key and its colon. The key's bytes are the
// listing's: compared, never kept, so they cost no allocation.
func (sc *showScanner) key() ([]byte, bool) {
	v, raw, ok := sc.str()
	if !ok || !raw || !sc.byte(':') {
		return nil, false
	}
	return v, true
}

// number reads a non-negative integer that fits an int.
func (sc *showScanner) number() bool {
	sc.space()
	j := sc.i
	for j < len(sc.b) && sc.b[j] >= '0' && sc.b[j] <= '9' {
		j++
	}
	if j == sc.i || j-sc.i > 15 || (sc.b[sc.i] == '0' && j-sc.i > 1) {
		return false
	}
	sc.i = j
	return true
}

// rows reads the array of rows.
func (sc *showScanner) rows() ([]showRow, bool) {
	if !sc.byte('[') {
		return nil, false
	}
	out := []showRow{}
	if sc.peek(']') {
		return out, true
	}
	for {
		var cols [8]string // uuid, cid_name, cid_num, callstate, and the b_ ones
		if !sc.byte('{') {
			return nil, false
		}
		if !sc.peek('}') {
			for {
				key, ok := sc.key()
				if !ok {
					return nil, false
				}
				k := showColumn(key)
				if k == -2 {
					return nil, false
				}
				if k < 0 {
					if _, _, ok := sc.str(); !ok {
						return nil, false
					}
				} else if cols[k], ok = sc.value(); !ok {
					return nil, false
				}
				if sc.peek('}') {
					break
				}
				if !sc.byte(',') {
					return nil, false
				}
			}
		}
		out = appendShowRow(out, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7])
		if sc.peek(']') {
			return out, true
		}
		if !sc.byte(',') {
			return nil, false
		}
	}
}

// showColumns are the columns a survey reads, in showScanner.rows' order.
var showColumns = [8]string{"uuid", "cid_name", "cid_num", "callstate", "b_uuid", "b_cid_name", "b_cid_num", "b_callstate"}

// showColumn is key's place in showColumns, or -1. A key that matches one
// only without regard to case makes the scan give up (see scanShowCalls):
// it returns -2, which no column has, and rows fails on it.
func showColumn(key []byte) int {
	for i, c := range showColumns {
		if string(key) == c {
			return i
		}
	}
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return -2 // Unicode folding may match a column of another length ("ſ" is "s")
		}
	}
	for _, c := range showColumns {
		if len(key) == len(c) && bytes.EqualFold(key, []byte(c)) {
			return -2
		}
	}
	return -1
}

// markNames are the channel variables a parked call's marks are read from.
type markNames struct{ recallFor, slot, lot, parker, parkedAt, domain string }

var (
	marks = markNames{VarRecallFor, VarSlot, VarLot, VarParker, VarParkedAt, VarDomain}
	// legacyMarks are the names parkd wrote before its variables took the
	// parkd_ prefix and an instance. They are read only on a call parkd's
	// own database holds (known), so that calls parked before an upgrade
	// are re-adopted rather than closed as lost while they still hear the
	// music; FusionPBX's valet park writes the same names, but its calls
	// are never in parkd's database.
	legacyMarks = markNames{"park_recall_for", "park_slot", "park_lot", "park_parker", "park_parked_at", ""}
)

// surveyOne reads one channel's marks through get (see survey.getter);
// ok is false when it is not parkd's or vanished meanwhile. known says
// parkd's database holds the call.
func (c *Client) surveyOne(r showRow, known bool, get func(string) (string, bool, error)) (parking.Channel, bool, error) {
	ch := parking.Channel{
		Call:     parking.CallID(r.UUID),
		Caller:   parking.Caller{Name: cleanText(r.CIDName), Number: cleanText(r.CIDNum)},
		Answered: r.CallState == "ACTIVE" || r.CallState == "HELD",
		Bridged:  r.Bridged,
	}
	// Ours only: a channel parked by another parkd (another instance) or
	// by something else (FusionPBX's valet park writes park_lot and
	// park_slot) is never adopted.
	names := marks
	instance, alive, err := get(VarInstance)
	switch {
	case err != nil || !alive:
		return ch, false, err
	case instance == "" && known:
		names = legacyMarks
	case instance == "" && !c.StrandedBefore.IsZero() && !r.Bridged:
		return c.surveyStranded(ch, get)
	case instance != c.Instance:
		return ch, false, nil
	case known:
		// parkd's own call, parked by this instance: where it is parked
		// and since when, parkd knows; whether it still is, it asks.
		return c.surveyParked(ch, get)
	}
	// A recall leg carries the slot it rings for too: recallFor first.
	forCall, alive, err := get(names.recallFor)
	if err != nil || !alive {
		return ch, false, err
	}
	if forCall != "" {
		if !ValidUUID(forCall) {
			return ch, false, nil
		}
		ch.RecallFor = parking.CallID(forCall)
		return ch, true, nil
	}
	slot, alive, err := get(names.slot)
	if err != nil || !alive || slot == "" {
		return ch, false, err
	}
	n, err := parseSlot(slot)
	if err != nil {
		return ch, false, nil // not a slot parkd wrote: not parkd's
	}
	ch.Slot = n
	for _, v := range []struct {
		name string
		dst  *string
	}{{names.lot, &ch.Lot}, {names.parker, &ch.Parker}} {
		val, alive, err := get(v.name)
		if err != nil || !alive {
			return ch, false, err
		}
		*v.dst = val
	}
	if !lotRE.MatchString(ch.Lot) {
		ch.Lot = ""
	}
	if !tokenRE.MatchString(ch.Parker) {
		ch.Parker = ""
	}
	if names.domain != "" {
		d, alive, err := get(names.domain)
		if err != nil || !alive {
			return ch, false, err
		}
		if domainRE.MatchString(d) {
			ch.Domain = strings.ToLower(d)
		}
	}
	ch, ok, err := c.surveyParked(ch, get)
	if !ok || err != nil {
		return ch, ok, err
	}
	at, alive, err := get(names.parkedAt)
	if err != nil || !alive {
		return ch, false, err
	}
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
		ch.ParkedAt = t.UTC()
	}
	return ch, true, nil
}

// surveyParked reads whether ch is still held in the park: calls held run
// the inline endless_playback parkd put them on; a channel with the marks
// but another application left the park (or never got there: parkd died
// between marking and moving it).
func (c *Client) surveyParked(ch parking.Channel, get func(string) (string, bool, error)) (parking.Channel, bool, error) {
	app, alive, err := get("current_application")
	if err != nil || !alive {
		return ch, false, err
	}
	ch.Parked = app == "endless_playback" && !ch.Bridged
	return ch, true, nil
}

// surveyStranded reports ch as stranded if it waits in the socket
// application with a parkd request, routed there before this parkd
// started listening (see Client.StrandedBefore): it goes back through the
// dialplan's ReturnExtension in its own context. A call parkd is handling
// has run an application since the socket one (answer, at least), so its
// current application is no longer "socket"; profile_created_time (when
// the call was routed to the extension, in microseconds) keeps out a call
// that reached this parkd a moment ago.
func (c *Client) surveyStranded(ch parking.Channel, get func(string) (string, bool, error)) (parking.Channel, bool, error) {
	for _, want := range []struct{ name, is string }{{VarAction, ""}, {"current_application", "socket"}} {
		v, alive, err := get(want.name)
		if err != nil || !alive || v == "" || (want.is != "" && v != want.is) {
			return ch, false, err
		}
	}
	routed, alive, err := get("profile_created_time")
	if err != nil || !alive {
		return ch, false, err
	}
	us, perr := strconv.ParseInt(routed, 10, 64)
	if perr != nil || us <= 0 || !time.UnixMicro(us).Before(c.StrandedBefore) {
		return ch, false, nil
	}
	ctxName, alive, err := get("context")
	if err != nil || !alive || !tokenRE.MatchString(ctxName) {
		return ch, false, err
	}
	ch.Stranded = true
	ch.Return = parking.Destination{Extension: ReturnExtension, Dialplan: "XML", Context: ctxName}
	return ch, true, nil
}
