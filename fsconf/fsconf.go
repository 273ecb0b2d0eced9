// Package fsconf renders the FreeSWITCH dialplan include that sends park and
// retrieve calls to parkd.
//
// The output is an XML file for FreeSWITCH's conf/dialplan/default/
// directory, conventionally 00_parkd.xml. For each lot it holds a park and a
// retrieve extension that set the request variables parkd reads
// (esl.VarAction, esl.VarLot, esl.VarSlot) and hand the call to parkd with
// the socket application. A park also records who transferred the call
// (esl.VarReturn), so that when parkd is not there to take it the dialplan
// itself plays the error tone and sends the caller back. It holds no call
// logic.
//
// Lots that belong to a domain (a tenant) are rendered per domain, each
// domain's into its own include for that domain's dialplan context (see
// Split): their park and retrieve codes may repeat across domains because
// each context has its own.
package fsconf

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/parkd/parkd/esl"
)

// ReferredByRegex captures the user of a SIP URI in a Referred-By header
// such as `"Reception" <sip:1000@pbx.example.com;transport=udp>` or
// `sip:1000@pbx`. The dialplan tries it on ${sip_h_Referred-By}; the user it
// captures must be an extension the fallback can transfer to, so it takes
// the characters ReturnRegex allows and nothing else.
const ReferredByRegex = `^(?:[^<]*<)?sips?:([A-Za-z0-9_.+][A-Za-z0-9_.+-]*)@`

// ReturnRegex is what the fallback accepts in ${parkd_return} as an
// extension to send the caller back to. It may not start with '-': the
// transfer application reads -bleg or -both there as a flag.
const ReturnRegex = `^([A-Za-z0-9_.+][A-Za-z0-9_.+-]*)$`

// FallbackApps is what a park or retrieve extension runs after `socket`
// when parkd did not take the call: the error tone, then back to whoever
// transferred it. The simulator runs the same apps in tests, the bench and
// the demo.
func FallbackApps() []string {
	return []string{"playback " + esl.ErrorTone, "transfer " + esl.ReturnExtension}
}

// BeforeSocketApps is what every extension runs right before `socket`: the
// answer, so that the caller's 200 OK waits for nothing parkd does. The
// simulator runs the same apps in tests, the bench and the demo.
func BeforeSocketApps() []string { return []string{"answer"} }

// FileName is the suggested name of the rendered file inside FreeSWITCH's
// conf/dialplan/default/ directory.
const FileName = "00_parkd.xml"

// Params is what Render needs from parkd's configuration.
type Params struct {
	// Listen is the host:port of parkd's outbound-socket listener, which the
	// socket application dials.
	Listen string
	// Sockets, if set, are the listeners of every parkd of an
	// active/standby pair ([ha] sockets), in order, Listen among them or
	// not: each extension runs one socket action per address, so a call
	// whose connection fails (the parkd that is not active does not
	// listen) goes on to the next, and to the fallback after the last.
	Sockets []string
	// Lots are the parking lots, in configuration order.
	Lots []Lot
	// BLF writes, for each lot, the extensions its busy-lamp keys dial:
	// <BLFPrefix><slot> for each of its slots and <BLFPrefix><LotKey>.
	// A call transferred there parks, a phone dialling one retrieves.
	BLF bool
	// Domain is the domain of every lot in Lots, for an include of a
	// tenant's lots (Split makes them); "" for lots without one.
	Domain string
	// Context is the dialplan context the include goes in; "" is "default"
	// for lots without a domain and the domain's own name for a domain's
	// lots (FusionPBX's convention: one context per domain, named after it).
	Context string
	// Nodes, when several FreeSWITCH nodes share the lots, are all of them
	// and Self the one this dialplan is for (nodes.go): it then sends a
	// retriever to the node its call is parked on, and takes the
	// retrievers the other nodes send.
	Nodes []Node
	Self  string
}

// Part is the include of one domain's lots, for one dialplan context.
type Part struct {
	Domain  string // "" for the lots without a domain
	Context string
	Params  Params
}

// Split divides p by the lots' domains, in the order each domain first
// appears: one Part per domain, its Params holding that domain's lots and
// its context, contexts[domain] if given, else the domain's name (or
// "default" for lots without a domain).
func Split(p Params, contexts map[string]string) []Part {
	var parts []Part
	index := map[string]int{}
	for _, l := range p.Lots {
		i, ok := index[l.Domain]
		if !ok {
			q := p
			q.Lots, q.Domain, q.Context = nil, l.Domain, contexts[l.Domain]
			if q.Context == "" {
				q.Context = q.defaultContext()
			}
			i = len(parts)
			index[l.Domain] = i
			parts = append(parts, Part{Domain: l.Domain, Context: q.Context, Params: q})
		}
		parts[i].Params.Lots = append(parts[i].Params.Lots, l)
	}
	return parts
}

// defaultContext is the context of p's lots when none is given.
func (p Params) defaultContext() string {
	if p.Domain == "" {
		return "default"
	}
	return p.Domain
}

// Lot is one parking lot as the dialplan sees it.
type Lot struct {
	Name string
	// Domain is the lot's domain (a tenant); "" for none. Every lot of one
	// Params has the same.
	Domain       string
	ParkCode     string
	RetrieveCode string
	First, Last  int
	// BLFPrefix starts the user part of the lot's busy-lamp keys, e.g.
	// "park+" (conf's blf_prefix). Used when Params.BLF is set.
	BLFPrefix string
	// LotKey follows BLFPrefix on the lot's own key (conf's Lot.LotKey):
	// its park code or name; "" for none.
	LotKey string
}

var (
	lotNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	codeRE    = regexp.MustCompile(`^[*#]?[0-9]{1,8}$`)
	hostRE    = regexp.MustCompile(`^[A-Za-z0-9._:%-]+$`)
	// blfPrefixRE and lotKeyRE are conf's rules for blf_prefix and for a
	// lot key (a park code or a lot name).
	blfPrefixRE = regexp.MustCompile(`^[A-Za-z0-9+*#._-]{1,16}$`)
	lotKeyRE    = regexp.MustCompile(`^(?:[*#]?[0-9]{1,8}|[a-z0-9][a-z0-9_-]{0,31})$`)
	// domainRE is conf's rule for a lot's domain; contextRE what a context
	// name may be made of here (a domain's name is one).
	domainRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
	contextRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)
)

//go:embed dialplan.xml.tmpl
var dialplanText string

// dialplan is parsed once; it is never modified after initialization.
var dialplan = template.Must(template.New("dialplan").Option("missingkey=error").Parse(dialplanText))

// view is the template's data. Every string is already escaped for where the
// template places it.
type view struct {
	Domain          string   // attribute-escaped; "" for lots without a domain
	CommentDomain   string   // safe inside an XML comment
	CommentContext  string   // safe inside an XML comment
	Sockets         []string // each socket action's data, async (keys, hops)
	SyncSockets     []string // the same without async (park and retrieve: docs/freeswitch.md#sync-socket-acts-at-once)
	ErrorTone       string
	ReferredByRegex string
	ReturnRegex     string
	BLF             bool
	Lots            []lotView
	// Self is this node's name, comment-safe, and Hops the other nodes;
	// both empty without nodes.
	Self       string
	Hops       []nodeView
	HopToken   string // the regex of a hop's token, attribute-escaped
	HopSocket  bool   // write the extension taking other nodes' retrievers
	HopVarOut  string
	HopVarIn   string
	HopExtName string
}

// lotView is one lot in the template's data.
type lotView struct {
	Name          string // attribute-escaped
	CommentName   string // safe inside an XML comment
	ParkCode      string // safe inside an XML comment
	RetrieveCode  string // safe inside an XML comment
	ParkRegex     string // attribute-escaped
	RetrieveRegex string // attribute-escaped
	First, Last   int
	SlotKeyRegex  string // attribute-escaped: ^<prefix>(<the lot's slots>)$
	SlotKeys      string // safe inside an XML comment: park+<slot>
	LotKeyRegex   string // attribute-escaped: ^<prefix><lot key>$; "" for none
	LotKey        string // safe inside an XML comment
}

// Render validates p and writes the dialplan include to w. Nothing is written
// if p is invalid. The output depends only on p, byte for byte.
func Render(w io.Writer, p Params) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("render dialplan: %w", err)
	}
	ctx := p.Context
	if ctx == "" {
		ctx = p.defaultContext()
	}
	v := view{
		Domain:          attr(p.Domain),
		CommentDomain:   comment(p.Domain),
		CommentContext:  comment(ctx),
		Sockets:         p.socketData(" async full"),
		SyncSockets:     p.socketData(" full"),
		ErrorTone:       attr(esl.ErrorTone),
		ReferredByRegex: attr(ReferredByRegex),
		ReturnRegex:     attr(ReturnRegex),
		BLF:             p.BLF,
	}
	if len(p.Nodes) > 0 {
		v.Self, v.Hops, v.HopSocket = comment(p.Self), p.hopViews(), true
		v.HopToken = attr("^([0-9a-f]{32})$")
		v.HopVarOut, v.HopVarIn, v.HopExtName = attr(esl.VarHopOut), attr(esl.VarHopToken), attr(esl.HopExtension)
	}
	for _, l := range p.Lots {
		v.Lots = append(v.Lots, lotView{
			Name:          attr(l.Name),
			CommentName:   comment(l.Name),
			ParkCode:      comment(l.ParkCode),
			RetrieveCode:  comment(l.RetrieveCode),
			ParkRegex:     attr(regexp.QuoteMeta(l.ParkCode)),
			RetrieveRegex: attr(regexp.QuoteMeta(l.RetrieveCode)),
			First:         l.First,
			Last:          l.Last,
			SlotKeyRegex:  attr("^" + regexp.QuoteMeta(l.BLFPrefix) + "(" + slotRangeRegex(l.First, l.Last) + ")$"),
			SlotKeys:      comment(l.BLFPrefix + "<slot>"),
		})
		if l.LotKey != "" {
			lv := &v.Lots[len(v.Lots)-1]
			lv.LotKeyRegex = attr("^" + regexp.QuoteMeta(l.BLFPrefix+l.LotKey) + "$")
			lv.LotKey = comment(l.BLFPrefix + l.LotKey)
		}
	}
	// Render into a buffer so that a template error never leaves half a
	// file in w.
	var buf bytes.Buffer
	if err := dialplan.Execute(&buf, v); err != nil {
		return fmt.Errorf("render dialplan: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write dialplan: %w", err)
	}
	return nil
}

// Validate checks that p uses the same character sets as parkd's
// configuration, so that nothing in it can break the XML or the dialplan
// regular expressions. It returns every problem joined with errors.Join.
func (p Params) Validate() error {
	var errs []error
	if err := validateListen(p.Listen); err != nil {
		errs = append(errs, err)
	}
	for i, s := range p.Sockets {
		if err := validateListen(s); err != nil {
			errs = append(errs, fmt.Errorf("sockets[%d]: %w", i, err))
		}
	}
	if len(p.Lots) == 0 {
		errs = append(errs, errors.New("no lots"))
	}
	errs = append(errs, p.validateNodes()...)
	if p.Domain != "" && !domainRE.MatchString(p.Domain) {
		errs = append(errs, fmt.Errorf("domain %q: must be a host name in lower case", p.Domain))
	}
	if p.Context != "" && !contextRE.MatchString(p.Context) {
		errs = append(errs, fmt.Errorf("context %q: must be letters, digits, . _ and -", p.Context))
	}
	seen := make(map[string]bool, len(p.Lots))
	for i, l := range p.Lots {
		if l.Domain != p.Domain {
			errs = append(errs, fmt.Errorf("lot[%d]: domain %q: this include is for the lots of domain %q (see Split)", i, l.Domain, p.Domain))
		}
		if !lotNameRE.MatchString(l.Name) {
			errs = append(errs, fmt.Errorf("lot[%d]: name %q: must be 1 to 32 characters from a-z, 0-9, _ and -, starting with a letter or digit", i, l.Name))
		} else if seen[l.Name] {
			errs = append(errs, fmt.Errorf("lot[%d]: name %q: duplicate lot name", i, l.Name))
		}
		seen[l.Name] = true
		if !codeRE.MatchString(l.ParkCode) {
			errs = append(errs, fmt.Errorf("lot[%d]: park code %q: must be 1 to 8 digits, optionally after * or #", i, l.ParkCode))
		}
		if !codeRE.MatchString(l.RetrieveCode) {
			errs = append(errs, fmt.Errorf("lot[%d]: retrieve code %q: must be 1 to 8 digits, optionally after * or #", i, l.RetrieveCode))
		}
		if p.BLF && !blfPrefixRE.MatchString(l.BLFPrefix) {
			errs = append(errs, fmt.Errorf("lot[%d]: blf prefix %q: must be 1 to 16 characters from A-Z, a-z, 0-9 and + * # . _ -", i, l.BLFPrefix))
		}
		if p.BLF && l.LotKey != "" && !lotKeyRE.MatchString(l.LotKey) {
			errs = append(errs, fmt.Errorf("lot[%d]: lot key %q: must be a park code or a lot name", i, l.LotKey))
		}
		if l.First < 1 || l.Last < l.First || l.Last > 999999999 {
			errs = append(errs, fmt.Errorf("lot[%d]: slots %d-%d: want 1 <= first <= last", i, l.First, l.Last))
		}
	}
	return errors.Join(errs...)
}

// socketData is the data of each socket action, in order.
func (p Params) socketData(mode string) []string {
	addrs := p.Sockets
	if len(addrs) == 0 {
		addrs = []string{p.Listen}
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = attr(a + mode)
	}
	return out
}

// validateListen checks that s is host:port with a non-empty host made of
// address characters and a port from 1 to 65535.
func validateListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || s != strings.TrimSpace(s) {
		return fmt.Errorf("listen %q: not host:port", s)
	}
	if !hostRE.MatchString(host) {
		return fmt.Errorf("listen %q: host must be a name or an IP address", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
		return fmt.Errorf("listen %q: port must be a number from 1 to 65535", s)
	}
	return nil
}

// attr escapes s for an XML attribute value in double quotes.
func attr(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// comment makes s safe inside an XML comment, which cannot contain "--".
func comment(s string) string {
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "- -")
	}
	return s
}
