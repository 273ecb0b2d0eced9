package esl

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/parkd/parkd/parking"
)

// ErrBadRequest: the channel data does not make a park or retrieve request
// parkd can act on (missing or malformed VarAction, VarLot, VarSlot).
var ErrBadRequest = errors.New("bad park request")

// ErrNotAllowed: the call came from a FreeSWITCH whose address is not in
// esl.allow; it is refused whatever it asks for.
var ErrNotAllowed = errors.New("the switch's address is not in esl.allow")

// Actions the dialplan can ask for in VarAction.
const (
	ActionPark     = "park"
	ActionRetrieve = "retrieve"
	// ActionKey is a slot's busy-lamp key dialled (park+<slot>): a call
	// transferred there is parked in that slot; a phone dialling it
	// retrieves the call in it.
	ActionKey = "key"
	// ActionOutside is a call from outside to a lot's outside number: the
	// caller enters the slot and a PIN (parking.Service.Outside).
	ActionOutside = "outside"
	// ActionHop is a retriever another node sent here for a call parked
	// on this node, carrying a token in a SIP header (hop.go).
	ActionHop = "hop"
)

// Request is what the dialplan asked parkd to do with a channel, read from
// the socket's connect reply.
type Request struct {
	Action string // ActionPark, ActionRetrieve or ActionKey
	Call   string // the channel's UUID
	Lot    string // "" for the default lot
	Slot   int    // 0 for "any" (park: lowest free; retrieve: longest waiting)
	Caller parking.Caller
	// Parker is who transferred the call here, or the caller's own number
	// when it was not transferred (a self-park, e.g. a consult call); ""
	// if unknown.
	Parker   string
	Answered bool
	Context  string // the channel's dialplan context, for transfers back
	// Sync says the socket application runs without "async" (the connect
	// reply's Socket-Mode is "static"): it reads parkd's commands on the
	// channel's own thread, so an api command such as uuid_bridge acts on
	// the channel at once, and the channel goes on only when parkd says
	// exit (docs/freeswitch.md#sync-socket-acts-at-once).
	Sync bool

	// ParkerDomain is the parker's SIP domain, for recalls: the host of
	// Referred-By, else the channel's domain_name or dialed_domain; "" if
	// none is a plain host name.
	ParkerDomain string
	// Domain is the channel's own domain_name, case-folded: the tenant
	// whose lots the request is matched to when lots have domains; "" if
	// unset or not a plain host name. FreeSWITCH sets it for a registered
	// user's calls (from the directory) and FusionPBX for every call it
	// routes into a domain's context.
	Domain string

	// Transferred says the call was sent here by a transfer (it carries
	// the REFER's Refer-To or a Referred-By), not dialled by its own phone.
	Transferred bool
	// Dialog is the channel's SIP Call-ID (variable_sip_call_id); "" if none.
	Dialog string
	// Replaces is the Call-ID in the Replaces parameter of the transfer's
	// Refer-To: the call this one takes the place of (an attended
	// transfer); "" for none.
	Replaces string
	// Token is a hop's token (ActionHop), from the X-Parkd-Token header
	// of the INVITE that brought it; "" for other actions.
	Token string
}

// ParseRequest reads a park or retrieve request from the decoded headers of
// a connect reply. When the request is unusable it returns ErrBadRequest;
// Call and Parker are still filled in when they could be read, so the
// channel can be refused politely. The strings it returns share no memory
// with h.
func ParseRequest(h Headers) (Request, error) {
	r, err := parseRequest(h)
	return r.detached(), err
}

// detached returns r with copies of its strings. A Reader cuts every header
// of a frame from one string, so a value kept for as long as the call is
// parked (its UUID, caller, parker) would otherwise keep the whole ~10 KB
// connect reply alive: 10,000 parked calls took 190 MB instead of 40.
func (r Request) detached() Request {
	for _, p := range []*string{&r.Action, &r.Call, &r.Lot, &r.Caller.Name, &r.Caller.Number, &r.Parker, &r.Context, &r.ParkerDomain, &r.Domain, &r.Dialog, &r.Replaces, &r.Token} {
		*p = strings.Clone(*p)
	}
	return r
}

func parseRequest(h Headers) (Request, error) {
	r := Request{
		Call:     h.Get("Unique-ID"),
		Answered: h.Get("Answer-State") == "answered",
		Context:  h.Get("Caller-Context"),
		Sync:     h.Get("Socket-Mode") == "static",
		Caller: parking.Caller{
			Name:   cleanText(h.Get("Caller-Caller-ID-Name")),
			Number: cleanText(h.Get("Caller-Caller-ID-Number")),
		},
	}
	if !tokenRE.MatchString(r.Context) {
		r.Context = "default"
	}
	if !ValidUUID(r.Call) {
		return Request{}, fmt.Errorf("%w: Unique-ID %q is not a channel UUID", ErrBadRequest, clip(r.Call))
	}
	r.Transferred = transferred(h)
	r.Dialog = callID(variable(h, "sip_call_id"))
	r.Replaces = ReplacesCallID(variable(h, "sip_refer_to"))
	r.Parker = parker(h)
	if !r.Transferred {
		// Nobody sent the call here: the person on it parks it, or
		// retrieves with it.
		r.Parker = ""
		if tokenRE.MatchString(r.Caller.Number) {
			r.Parker = r.Caller.Number
		}
	}
	r.ParkerDomain = parkerDomain(h)
	if d := variable(h, "domain_name"); domainRE.MatchString(d) {
		r.Domain = strings.ToLower(d)
	}

	switch action := variable(h, VarAction); action {
	case ActionPark, ActionRetrieve, ActionKey, ActionOutside, ActionHop:
		r.Action = action
	case "":
		return r, fmt.Errorf("%w: parkd_action is not set", ErrBadRequest)
	default:
		return r, fmt.Errorf("%w: parkd_action %q is not park, retrieve, key, outside or hop", ErrBadRequest, clip(action))
	}
	if lot := variable(h, VarLot); lot != "" {
		if !lotRE.MatchString(lot) {
			return r, fmt.Errorf("%w: parkd_lot %q is not a lot name", ErrBadRequest, clip(lot))
		}
		r.Lot = lot
	}
	if s := variable(h, VarSlot); s != "" {
		n, err := parseSlot(s)
		if err != nil {
			return r, err
		}
		r.Slot = n
	}
	if r.Action == ActionOutside {
		// An outside call arrives in a public context, whose domain_name
		// names no tenant: the lot's domain is the one the dialplan parkd
		// fsconf wrote for the number sets.
		r.Domain = ""
		if d := variable(h, VarDomain); domainRE.MatchString(d) {
			r.Domain = strings.ToLower(d)
		}
	}
	if r.Action == ActionHop {
		if r.Token = variable(h, VarHopToken); !parking.ValidHopToken(r.Token) {
			r.Token = ""
			return r, fmt.Errorf("%w: parkd_action hop without a well-formed %s", ErrBadRequest, VarHopToken)
		}
	}
	if r.Action == ActionKey && r.Lot == "" && r.Slot == 0 {
		return r, fmt.Errorf("%w: parkd_action key names neither a slot nor a lot", ErrBadRequest)
	}
	return r, nil
}

// variable returns a channel variable from channel data; FreeSWITCH writes
// an empty or unset value as _undef_.
func variable(h Headers, name string) string {
	v := h.Get("variable_" + name)
	if v == "_undef_" {
		return ""
	}
	return v
}

// parseSlot accepts 1 to 9 ASCII digits naming a slot other than 0.
func parseSlot(s string) (int, error) {
	if len(s) > 9 {
		return 0, fmt.Errorf("%w: parkd_slot %q is too long", ErrBadRequest, clip(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: parkd_slot %q is not a number", ErrBadRequest, clip(s))
		}
	}
	n, _ := strconv.Atoi(s)
	if n == 0 {
		return 0, fmt.Errorf("%w: parkd_slot %q: there is no slot 0", ErrBadRequest, s)
	}
	return n, nil
}

// transferred reports whether a transfer sent the call here: a REFER leaves
// its Refer-To (and usually a Referred-By) on the transferred channel, and
// the transfer history names a blind (bl_xfer) or attended (att_xfer)
// transfer (docs/freeswitch.md#referred-by-names-the-parker). A bridge
// (uuid_br) is not a transfer.
func transferred(h Headers) bool {
	if variable(h, "sip_h_Referred-By") != "" || variable(h, "sip_refer_to") != "" {
		return true
	}
	th := variable(h, "transfer_history")
	return strings.Contains(th, ":bl_xfer:") || strings.Contains(th, ":att_xfer:")
}

// parker finds who parked the call: the user of the blind transfer's
// Referred-By, else the party the caller was last bridged to
// (docs/freeswitch.md#referred-by-names-the-parker).
func parker(h Headers) string {
	if u := sipUser(h.Get("variable_sip_h_Referred-By")); u != "" {
		return u
	}
	dest := h.Get("Caller-Destination-Number")
	for _, name := range []string{"Caller-Callee-ID-Number", "variable_last_sent_callee_id_number", "variable_callee_id_number"} {
		if v := h.Get(name); tokenRE.MatchString(v) && v != dest {
			return v
		}
	}
	return ""
}

// domainRE is a host name or IPv4 address as a recall dial string may use it.
var domainRE = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}$`)

// parkerDomain finds the parker's SIP domain: the host of Referred-By, else
// variable_domain_name, else variable_dialed_domain; the first that is a
// plain host name wins.
func parkerDomain(h Headers) string {
	for _, d := range []string{
		sipHost(h.Get("variable_sip_h_Referred-By")), variable(h, "domain_name"), variable(h, "dialed_domain"),
	} {
		if domainRE.MatchString(d) {
			return d
		}
	}
	return ""
}

// sipURI returns what follows "sip:" or "sips:" in a header such as
// `"Reception" <sip:1000@pbx.example.com:5060;transport=udp>`, up to the
// closing '>', and false if there is no SIP URI.
func sipURI(v string) (string, bool) {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	v = strings.TrimSpace(v)
	for _, scheme := range []string{"sip:", "sips:"} {
		if rest, ok := strings.CutPrefix(v, scheme); ok {
			return rest, true
		}
	}
	return "", false
}

// sipHost returns the host of the SIP URI in a header, without port,
// parameters or headers, or "" if there is no SIP URI.
func sipHost(v string) string {
	v, ok := sipURI(v)
	if !ok {
		return ""
	}
	if i := strings.IndexByte(v, '@'); i >= 0 {
		v = v[i+1:] // the user part may carry ';' parameters of its own
	}
	if i := strings.IndexAny(v, ";?"); i >= 0 {
		v = v[:i]
	}
	host, _, _ := strings.Cut(v, ":")
	return host
}

// sipUser returns the user part of the SIP URI in a header such as
// `"Reception" <sip:1000@10.0.0.1;transport=udp>`, or "" if there is none
// or it is not a plain token.
func sipUser(v string) string {
	v, ok := sipURI(v)
	if !ok {
		return ""
	}
	user, _, ok := strings.Cut(v, "@")
	if !ok {
		return ""
	}
	user = URLDecode(user)
	if !tokenRE.MatchString(user) {
		return ""
	}
	return user
}

// cleanText keeps caller-ID text fit for logs and the history: no control
// characters, at most 128 runes.
func cleanText(s string) string {
	out := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	if r := []rune(out); len(r) > 128 {
		out = string(r[:128])
	}
	return strings.TrimSpace(out)
}
