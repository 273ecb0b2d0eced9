package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/passhash"
)

const (
	webPass  = "reception-desk-pw"
	webToken = "wallboard-token-0123456789"
)

// webHarness boots parkd with [http] on a port the system picks, a
// supervisor "desk" and a token "wallboard".
func webHarness(t *testing.T) *harness {
	t.Helper()
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	cfg := startConfig(t, sim)
	pw, err := passhash.Hash(webPass)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := passhash.Hash(webToken)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP = conf.HTTP{
		Listen: "127.0.0.1:0",
		Users:  []conf.HTTPUser{{Name: "desk", PasswordHash: pw, Role: conf.RoleSupervisor, Extension: "1000"}},
		Tokens: []conf.HTTPToken{{Name: "wallboard", Hash: tok, Role: conf.RoleAgent}},
	}
	h := &harness{t: t, sim: sim, cfg: cfg}
	h.boot()
	return h
}

type apiSlot struct {
	Lot        string `json:"lot"`
	Slot       int    `json:"slot"`
	Call       string `json:"call"`
	CallerName string `json:"caller_name"`
	Parker     string `json:"parker"`
	State      string `json:"state"`
}

func getSlots(t *testing.T, c *http.Client, req *http.Request) []apiSlot {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/slots: %s", resp.Status)
	}
	var out []apiSlot
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Ensure a call parked through the simulator shows in GET /api/slots on
// the daemon's own listener, for a Bearer token and for a logged-in user,
// and the health endpoints answer there.
func TestE2E_HTTPSlots(t *testing.T) {
	h := webHarness(t)
	base := "http://" + h.m.HTTPAddr()
	jane := h.park("202", caller("Jane Roe", "+15550100"))

	req, _ := http.NewRequest(http.MethodGet, base+"/api/slots", nil)
	req.Header.Set("Authorization", "Bearer "+webToken)
	got := getSlots(t, http.DefaultClient, req)
	if len(got) != 1 || got[0].Call != jane.UUID() || got[0].Slot != 202 || got[0].Lot != "main" ||
		got[0].CallerName != "Jane Roe" || got[0].Parker != "1000" || got[0].State != "parked" {
		t.Fatalf("slots with a token: %+v", got)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.PostForm(base+"/login", url.Values{"name": {"desk"}, "password": {webPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/" {
		t.Fatalf("login ended at %s with %s", resp.Request.URL, resp.Status)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/api/slots", nil)
	if got := getSlots(t, browser, req); len(got) != 1 || got[0].Call != jane.UUID() {
		t.Fatalf("slots with a session: %+v", got)
	}

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/api/report": 401} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %s, want %d", path, resp.Status, want)
		}
	}

	addr := h.m.HTTPAddr()
	h.stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("HTTP listener still open after Close")
	}
}

// Ensure serve refuses to start when http.listen is taken, naming the key,
// and starts no HTTP server without users or tokens.
func TestHTTPListen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	sim := fstest.Start(t, fstest.Options{})
	cfg := startConfig(t, sim)
	tok, err := passhash.Hash(webToken)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP = conf.HTTP{Listen: taken.Addr().String(), Tokens: []conf.HTTPToken{{Name: "w", Hash: tok, Role: conf.RoleAgent}}}
	m := &Main{Config: cfg, Logger: zerolog.New(zerolog.NewTestWriter(t))}
	err = m.Open(context.Background())
	if err == nil {
		m.Close()
		t.Fatal("Open succeeded on a taken http.listen")
	}
	if !strings.Contains(err.Error(), "http.listen") {
		t.Fatalf("error does not name http.listen: %v", err)
	}
	// The store was closed and its lock released: a second parkd opens it.
	cfg.HTTP = conf.HTTP{Listen: "127.0.0.1:0"} // nobody to serve: no listener
	m = &Main{Config: cfg, Logger: zerolog.New(zerolog.NewTestWriter(t))}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if a := m.HTTPAddr(); a != "" {
		t.Fatalf("HTTP listening on %s with no user and no token", a)
	}
}

// Ensure http.tls_cert and http.tls_key make the listener speak TLS and
// the session cookie Secure.
func TestHTTPTLS(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	sim := fstest.Start(t, fstest.Options{})
	cfg := startConfig(t, sim)
	pw, err := passhash.Hash(webPass)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP = conf.HTTP{Listen: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile,
		Users: []conf.HTTPUser{{Name: "desk", PasswordHash: pw, Role: conf.RoleAgent}}}
	m := &Main{Config: cfg, Logger: zerolog.New(zerolog.NewTestWriter(t))}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	c := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.PostForm("https://"+m.HTTPAddr()+"/login", url.Values{"name": {"desk"}, "password": {webPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure {
		t.Fatalf("TLS login: %s, cookies %v", resp.Status, resp.Cookies())
	}

	cfg.HTTP.TLSKey = filepath.Join(dir, "missing.pem")
	cfg.Store.Path = filepath.Join(dir, "other.db") // the first parkd holds its store
	m2 := &Main{Config: cfg, Logger: zerolog.New(zerolog.NewTestWriter(t))}
	if err := m2.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "http.tls_cert") {
		if err == nil {
			m2.Close()
		}
		t.Fatalf("a missing key file: %v", err)
	}
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "parkd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
