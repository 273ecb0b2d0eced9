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
// parked, one round trip per variable took minutes.
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
	lists, err := conn.SendAllWithin(ctx, max(c.Timeout, surveyListTimeout), command.API{Command: "show", Arguments: "calls as json"})
	if err != nil {
		return nil, fmt.Errorf("show calls: %w", err)
	}
	list := lists[0]
	body := list.Body
	if list.ContentType() != TypeAPIResponse {
		body = []byte(list.Headers.Get("Reply-Text"))
	}
	if bytes.HasPrefix(body, []byte("-ERR")) {
		return nil, fmt.Errorf("show calls: %w", NewAPIError("show", string(body)))
	}
	listing, err := parseShowCalls(body)
	if err != nil {
		return nil, err
	}
	lists, list, body = nil, Frame{}, nil // up to hundreds of MB: let it go before the reads below
	listed := make(map[string]bool, len(listing))
	rows := make([]showRow, 0, len(listing)+len(known))
	for _, r := range listing {
		if ValidUUID(r.UUID) && !listed[r.UUID] {
			listed[r.UUID] = true
			rows = append(rows, r)
		}
	}
	listing = nil
	isKnown := make(map[string]bool, len(known))
	for _, k := range known {
		id := string(k)
		isKnown[id] = true
		if ValidUUID(id) && !listed[id] {
			rows = append(rows, showRow{UUID: id, CallState: "ACTIVE"})
			listed[id] = true
		}
	}
	sv := &survey{c: c, conn: conn, rows: rows, known: make([]bool, len(rows)), vals: make([][]markValue, len(rows))}
	// First round: what every channel is asked. The rest is read in
	// rounds for the channels that turn out to need it.
	var need []markRequest
	for i, r := range rows {
		sv.known[i] = isKnown[r.UUID]
		need = append(need, markRequest{row: i, name: VarInstance})
		if sv.known[i] {
			need = append(need, markRequest{row: i, name: "current_application"})
		}
	}
	out := make([]parking.Channel, 0, len(known))
	pending := make([]int, len(rows))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		if err := sv.fetch(ctx, need); err != nil {
			return nil, err
		}
		need = need[:0]
		var again []int
		for _, i := range pending {
			ch, ok, err := c.surveyOne(rows[i], sv.known[i], sv.getter(i, &need))
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
	c     *Client
	conn  *Conn
	rows  []showRow
	known []bool
	vals  [][]markValue // by row: the variables read so far
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
func (sv *survey) fetch(ctx context.Context, reqs []markRequest) error {
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
				replies, err := sv.conn.SendAll(ctx, cmds...)
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
// `{"row_count": 0}` without rows, into one showRow per channel.
func parseShowCalls(body []byte) ([]showRow, error) {
	var v struct {
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
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("show calls: unreadable reply %q: %w", clip(string(body[:min(len(body), 100)])), err)
	}
	out := make([]showRow, 0, len(v.Rows))
	for _, r := range v.Rows {
		bridged := r.BUUID != ""
		out = append(out, showRow{UUID: r.UUID, CIDName: r.CIDName, CIDNum: r.CIDNum, CallState: r.CallState, Bridged: bridged})
		if bridged {
			out = append(out, showRow{UUID: r.BUUID, CIDName: r.BCIDName, CIDNum: r.BCIDNum, CallState: r.BCallState, Bridged: true})
		}
	}
	return out, nil
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
