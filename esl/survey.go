package esl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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
	body, err := conn.API(ctx, "show", "calls as json")
	if err != nil {
		return nil, fmt.Errorf("show calls: %w", err)
	}
	rows, err := parseShowCalls(body)
	if err != nil {
		return nil, err
	}
	listed := make(map[string]bool, len(rows))
	for _, r := range rows {
		listed[r.UUID] = true
	}
	isKnown := make(map[string]bool, len(known))
	for _, k := range known {
		id := string(k)
		isKnown[id] = true
		if ValidUUID(id) && !listed[id] {
			rows = append(rows, showRow{UUID: id, CallState: "ACTIVE"})
			listed[id] = true
		}
	}
	var out []parking.Channel
	for _, r := range rows {
		if !ValidUUID(r.UUID) {
			continue
		}
		ch, ok, err := c.surveyOne(ctx, conn, r, isKnown[r.UUID])
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ch)
		}
	}
	return out, nil
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
func parseShowCalls(body string) ([]showRow, error) {
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
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return nil, fmt.Errorf("show calls: unreadable reply %q: %w", clip(body), err)
	}
	var out []showRow
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

// surveyOne reads one channel's marks; ok is false when it is not parkd's
// or vanished meanwhile. known says parkd's database holds the call.
func (c *Client) surveyOne(ctx context.Context, conn *Conn, r showRow, known bool) (parking.Channel, bool, error) {
	get := func(name string) (string, bool, error) {
		v, err := conn.API(ctx, "uuid_getvar", r.UUID+" "+name)
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			return "", false, nil // gone meanwhile
		}
		if err != nil {
			return "", false, fmt.Errorf("uuid_getvar %s %s: %w", r.UUID, name, err)
		}
		v = strings.TrimSpace(v)
		if v == "_undef_" {
			v = ""
		}
		return v, true, nil
	}
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
	app, alive, err := get("current_application")
	if err != nil || !alive {
		return ch, false, err
	}
	// Held calls run the inline endless_playback parkd put them on; a
	// channel with the marks but another application left the park (or
	// never got there: parkd died between marking and moving it).
	ch.Parked = app == "endless_playback" && !ch.Bridged
	at, alive, err := get(names.parkedAt)
	if err != nil || !alive {
		return ch, false, err
	}
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
		ch.ParkedAt = t.UTC()
	}
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
