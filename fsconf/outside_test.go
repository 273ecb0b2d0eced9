package fsconf

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestRenderOutside(t *testing.T) {
	var b bytes.Buffer
	err := RenderOutside(&b, "127.0.0.1:8084", "public", []Outside{
		{Lot: "main", Number: "+15550199", Context: "public"},
		{Lot: "other", Number: "2000", Context: "default"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`expression="^\+15550199$"`, `data="parkd_action=outside"`, `data="parkd_lot=main"`,
		`data="127.0.0.1:8084 async full"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "other") {
		t.Errorf("a lot of another context is rendered:\n%s", out)
	}
	if err := RenderOutside(&b, "127.0.0.1:8084", "public", []Outside{{Lot: "main", Number: `1"/><x`, Context: "public"}}); err == nil {
		t.Error("a number that breaks the XML is rendered")
	}
	if err := RenderOutside(&b, "127.0.0.1:8084", "nowhere", nil); err == nil {
		t.Error("an empty include is rendered")
	}
}

// Two tenants' lots of one name reached from one public context: each
// extension names its lot's domain, which the call then carries.
func TestRenderOutside_Domains(t *testing.T) {
	var b bytes.Buffer
	err := RenderOutside(&b, "127.0.0.1:8084", "public", []Outside{
		{Lot: "main", Domain: "hospital-a.example", Number: "+15550199", Context: "public"},
		{Lot: "main", Domain: "hospital-b.example", Number: "+15550299", Context: "public"},
		{Lot: "lobby", Number: "+15550399", Context: "public"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`<extension name="parkd_outside_main@hospital-a.example">`, `<extension name="parkd_outside_main@hospital-b.example">`,
		`data="parkd_domain=hospital-a.example"`, `data="parkd_domain=hospital-b.example"`, `<extension name="parkd_outside_lobby">`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "parkd_domain="); n != 2 {
		t.Errorf("%d parkd_domain actions, want 2 (the lot without a domain sets none):\n%s", n, out)
	}
	if err := xml.Unmarshal(b.Bytes(), new(struct{})); err != nil {
		t.Errorf("not XML: %v", err)
	}
	if err := RenderOutside(&b, "127.0.0.1:8084", "public", []Outside{{Lot: "main", Domain: `a"/><x`, Number: "2000", Context: "public"}}); err == nil {
		t.Error("a domain that breaks the XML is rendered")
	}
}

func FuzzRenderOutside(f *testing.F) {
	f.Add("main", "+15550199", "public")
	f.Add("a--b", "+15550199", "c--d")
	f.Fuzz(func(t *testing.T, lot, number, context string) {
		var b bytes.Buffer
		if err := RenderOutside(&b, "127.0.0.1:8084", context, []Outside{{Lot: lot, Number: number, Context: context}}); err != nil {
			return
		}
		// Whatever got through is well-formed XML with one extension.
		d := xml.NewDecoder(&b)
		n := 0
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("not XML for %q %q %q: %v", lot, number, context, err)
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "extension" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d extensions for %q %q %q", n, lot, number, context)
		}
	})
}
