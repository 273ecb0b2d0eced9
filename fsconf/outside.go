package fsconf

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"text/template"

	"github.com/parkd/parkd/esl"
)

// Outside is a lot reached from outside (conf's [lot.outside]): calls to
// Number in Context go to parkd with parkd_action=outside.
type Outside struct {
	Lot     string
	Domain  string // the lot's domain (a tenant); "" for none
	Number  string // e.g. +15550199
	Context string // e.g. public
}

var (
	outsideNumberRE  = regexp.MustCompile(`^\+?[0-9]{2,20}$`)
	outsideContextRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

//go:embed outside.xml.tmpl
var outsideText string

var outsideTmpl = template.Must(template.New("outside").Option("missingkey=error").Parse(outsideText))

type outsideView struct {
	Context   string   // safe in a comment and an attribute
	Sockets   []string // each socket action's data
	ErrorTone string
	Lots      []outsideLotView
}

type outsideLotView struct {
	Name, CommentName, Number, Regex string
	// Domain is the lot's domain, set on the call as parkd_domain: the
	// public context's domain_name names no tenant.
	Domain string
	// ExtName tells apart the extensions of two domains' lots of one name.
	ExtName string
}

// RenderOutside writes the dialplan include for the outside numbers of
// lots in context, for conf/dialplan/<context>/ (the public context of a
// stock FreeSWITCH). It writes nothing and fails when no lot is reached
// from outside in context, or a value is invalid.
func RenderOutside(w io.Writer, listen, context string, lots []Outside) error {
	return RenderOutsideSockets(w, []string{listen}, context, lots)
}

// RenderOutsideSockets is RenderOutside for an active/standby pair: one
// socket action per address of sockets, in order (see Params.Sockets).
func RenderOutsideSockets(w io.Writer, sockets []string, context string, lots []Outside) error {
	if len(sockets) == 0 {
		return errors.New("render outside dialplan: no socket address")
	}
	for _, listen := range sockets {
		if err := validateListen(listen); err != nil {
			return fmt.Errorf("render outside dialplan: %w", err)
		}
	}
	data := Params{Sockets: sockets}.socketData(" async full")
	if !outsideContextRE.MatchString(context) {
		return fmt.Errorf("render outside dialplan: context %q: must be 1 to 64 characters from A-Z, a-z, 0-9 and _ . -", context)
	}
	v := outsideView{Context: comment(context), Sockets: data, ErrorTone: attr(esl.ErrorTone)}
	var errs []error
	for i, o := range lots {
		if o.Context != context {
			continue
		}
		if !lotNameRE.MatchString(o.Lot) || !outsideNumberRE.MatchString(o.Number) || (o.Domain != "" && !domainRE.MatchString(o.Domain)) {
			errs = append(errs, fmt.Errorf("outside[%d]: lot %q domain %q number %q: invalid", i, o.Lot, o.Domain, o.Number))
			continue
		}
		lv := outsideLotView{Name: o.Lot, CommentName: comment(o.Lot), Number: o.Number, Regex: attr("^" + regexp.QuoteMeta(o.Number) + "$"),
			Domain: o.Domain, ExtName: o.Lot}
		if o.Domain != "" {
			lv.CommentName += " of " + comment(o.Domain)
			lv.ExtName += "@" + o.Domain
		}
		v.Lots = append(v.Lots, lv)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("render outside dialplan: %w", err)
	}
	if len(v.Lots) == 0 {
		return fmt.Errorf("render outside dialplan: no lot has an outside number in context %q", context)
	}
	var buf bytes.Buffer
	if err := outsideTmpl.Execute(&buf, v); err != nil {
		return fmt.Errorf("render outside dialplan: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write outside dialplan: %w", err)
	}
	return nil
}
