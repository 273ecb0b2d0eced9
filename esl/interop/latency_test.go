package interop

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/internal/testkit"
)

// TestLatency (issue 16) times park and retrieve through parkd and, on the
// same switch in the same run, through mod_valet_parking, as a caller's
// phone sees them: from the SIP request to the 200 OK, and to the first
// audio in the RTP the phone receives. Both are timed from one packet
// capture on the loopback interface (SIP and RTP), so the clock is the
// kernel's for every figure.
//
// Each round, for parkd and then valet (the order alternates):
//  1. park by blind transfer into a given slot: a caller is bridged to
//     reception (Users[0]), which REFERs it to the slot; REFER -> first
//     audible packet to the caller (the music). Neither system announces
//     here, so this is the like-for-like "park to first music".
//  2. park dialled into a given slot: INVITE -> 200 OK, and INVITE -> first
//     audible packet. parkd always reads the slot out to a call that parks
//     itself (parking.ParkRequest.SelfPark), valet never does for a given
//     slot: the first audio is parkd's announcement and valet's music.
//  3. retrieve of the call parked in 1: INVITE -> 200 OK, and INVITE ->
//     first audible packet to the retriever (the caller's tone).
//
// Opt-in: PARKD_FS_LATENCY=1, with PARKD_FS_LATENCY_N rounds (default 20).
// The figures go to the test log and to latency.json in the run directory.
func TestLatency(t *testing.T) {
	if os.Getenv("PARKD_FS_LATENCY") != "1" {
		t.Skip("the latency flow is opt-in: set PARKD_FS_LATENCY=1 (and PARKD_FS_LATENCY_N, default 20) with PARKD_FS_ESL")
	}
	s := need(t)
	n := 20
	if v := os.Getenv("PARKD_FS_LATENCY_N"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 {
			t.Fatalf("PARKD_FS_LATENCY_N=%q: want a positive number", v)
		}
		n = k
	}
	if r := strings.TrimSpace(s.fs.api("module_exists mod_valet_parking")); r != "true" {
		t.Skipf("mod_valet_parking is not loaded (module_exists: %q): nothing to compare with", r)
	}
	eslPort := s.installLatencyDialplan(t)
	s.fresh(t)
	reception := s.env.Users[0]
	s.register(t, reception, receptionReg, receptionSIP)
	// SIP, the phones' RTP, and the calls' sockets to parkd: one clock.
	pcap := filepath.Join(s.dir, "latency.pcap")
	capt, err := startCapture(pcap, fmt.Sprintf("(udp and (port 5060 or portrange 6100-6199)) or tcp port %d", eslPort))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			time.Sleep(200 * time.Millisecond) // the last packets reach the file (-U)
			capt.stop()
		}
	}
	t.Cleanup(stop)
	load := testkit.LoadAvg()

	systems := []latSystem{
		{name: "parkd", park: latencyParkCode, retrieve: latencyRetrieveCode, parkedApp: "endless_playback"},
		{name: "valet", park: valetCode, retrieve: valetCode, parkedApp: "valet_park"},
	}
	var rounds []latRound
	for i := 0; i < n; i++ {
		order := systems
		if i%2 == 1 {
			order = []latSystem{systems[1], systems[0]}
		}
		for _, sys := range order {
			rounds = append(rounds, s.latencyRound(t, sys, i))
		}
	}
	stop()
	pkts, err := readPcap(pcap)
	if err != nil {
		t.Fatal(err)
	}
	var timeline strings.Builder
	for i := range rounds {
		rounds[i].measure(pkts, eslPort, &timeline)
	}
	_ = os.WriteFile(filepath.Join(s.dir, "latency-timeline.txt"), []byte(timeline.String()), 0o644)
	rep := latencyReport(rounds, load, testkit.LoadAvg(), n, s.latencyMusic)
	t.Log("\n" + rep.table())
	fmt.Fprintln(os.Stderr, rep.table())
	if b, err := json.MarshalIndent(rep, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(s.dir, "latency.json"), b, 0o644)
		t.Logf("figures in %s", filepath.Join(s.dir, "latency.json"))
	}
	for _, r := range rounds {
		if len(r.missing) > 0 {
			t.Logf("round %d %s: not measured: %s", r.I, r.System, strings.Join(r.missing, ", "))
		}
	}
}

const (
	latencyParkCode     = "*74"
	latencyRetrieveCode = "*75"
	valetCode           = "*76"
	valetLot            = "parkd_latency"
	latencyFirstSlot    = 401
)

// latencyLot is parkd's lot for TestLatency: no announcement for a park
// into the next free slot (the flow parks into given slots), the music
// valet plays too.
func latencyLot(music string) string {
	return fmt.Sprintf(`
[[lot]]
name = "latency"
slots = "%d-%d"
timeout = "10m"
music = %q
park_code = %q
retrieve_code = %q
`, latencyFirstSlot, latencyFirstSlot+8, music, latencyParkCode, latencyRetrieveCode)
}

// latencySetup writes the media TestLatency uses: the music (unless
// PARKD_FS_LATENCY_MUSIC names one) and the silence a phone streams when
// it must not be heard.
func (s *state) latencySetup() error {
	s.silence = filepath.Join(s.dir, "silence.wav")
	if err := writeToneWAV(s.silence, 0, 60*time.Second); err != nil {
		return err
	}
	s.latencyMusic = s.env.LatencyMusic
	if s.latencyMusic == "" {
		s.latencyMusic = filepath.Join(s.dir, "music700.wav")
		if err := writeToneWAV(s.latencyMusic, 700, 120*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// installLatencyDialplan installs, for this test only, the latency lot's
// extensions as `parkd fsconf` writes them but with the socket going to
// parkd's own listener rather than through the suite's recording proxy
// (PARKD_FS_LATENCY_TEE=1 keeps the proxy, and so the ESL transcripts),
// and valet's, as FreeSWITCH's vanilla dialplan writes them (answer, then
// valet_park <lot> <slot>), with the same music.
// It returns the TCP port the socket application dials.
func (s *state) installLatencyDialplan(t *testing.T) int {
	t.Helper()
	listen := s.parkdListen
	if os.Getenv("PARKD_FS_LATENCY_TEE") == "1" {
		listen = s.env.Listen
	}
	_, portText, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	cfg := filepath.Join(s.dir, "latency-fsconf.toml")
	body := fmt.Sprintf("[esl]\nlisten = %q\nfreeswitch = %q\npassword = %q\n\n[store]\npath = %q\n",
		listen, s.env.ESL, s.env.Password, s.db) + latencyLot(s.latencyMusic)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(s.bin, "fsconf", "-c", cfg).Output()
	if err != nil {
		t.Fatalf("parkd fsconf for the latency lot: %v", err)
	}
	valet := fmt.Sprintf(`<include>
  <!-- parkd interop suite, TestLatency: mod_valet_parking as the vanilla dialplan uses it. Removed when the test ends. -->
  <extension name="parkd_latency_valet">
    <condition field="destination_number" expression="^\%s(\d+)$">
      <action application="set" data="valet_hold_music=%s"/>
      <action application="answer"/>
      <action application="valet_park" data="%s $1"/>
    </condition>
  </extension>
</include>
`, valetCode, s.latencyMusic, valetLot)
	// Named to sort before 00_parkd.xml, whose copy of the latency lot's
	// extensions goes through the proxy.
	files := map[string][]byte{
		filepath.Join(s.env.DialplanDir, "00_latency_parkd.xml"): out,
		filepath.Join(s.env.DialplanDir, "00_latency_valet.xml"): []byte(valet),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(s.dir, filepath.Base(path)), data, 0o644)
	}
	t.Cleanup(func() {
		for path := range files {
			_ = os.Remove(path)
		}
		s.fs.api("reloadxml")
	})
	if r := s.fs.api("reloadxml"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("reloadxml: %q", r)
	}
	return port
}

// latSystem is parkd or valet: the numbers a phone dials, and the
// application a parked call runs.
type latSystem struct {
	name           string
	park, retrieve string // codes, followed by the slot
	parkedApp      string
}

// latRound is one round of one system: the ports its phones used and the
// window of time, then what the capture showed.
type latRound struct {
	System     string    `json:"system"`
	I          int       `json:"round"`
	Start, End time.Time `json:"-"`

	// Milliseconds; negative: not measured.
	ParkInvite200   float64 `json:"park_invite_200_ms"`
	ParkInviteAudio float64 `json:"park_invite_first_audio_ms"`
	ParkInviteRTP   float64 `json:"park_invite_first_rtp_ms"`
	ReferMusic      float64 `json:"transfer_refer_first_music_ms"`
	ReferRTP        float64 `json:"transfer_refer_first_rtp_ms"`
	RetrInvite200   float64 `json:"retrieve_invite_200_ms"`
	RetrInviteHear  float64 `json:"retrieve_invite_hear_caller_ms"`
	RetrInviteRTP   float64 `json:"retrieve_invite_first_rtp_ms"`
	RetrHeardHz     float64 `json:"retrieve_first_audio_hz"`
	// parkd's rounds, split at its socket (the capture's ESL segments):
	// the switch until it connects to parkd, parkd's conversation until
	// the command that starts the audio, the switch from there.
	ReferSocket float64 `json:"transfer_refer_to_socket_ms,omitempty"`
	ReferParkd  float64 `json:"transfer_socket_to_uuid_transfer_ms,omitempty"`
	ReferAfter  float64 `json:"transfer_uuid_transfer_to_music_ms,omitempty"`
	RetrSocket  float64 `json:"retrieve_invite_to_socket_ms,omitempty"`
	RetrParkd   float64 `json:"retrieve_socket_to_uuid_bridge_ms,omitempty"`
	RetrAfter   float64 `json:"retrieve_uuid_bridge_to_caller_ms,omitempty"`

	missing []string
}

// latencyRound runs one round of sys (see TestLatency).
func (s *state) latencyRound(t *testing.T, sys latSystem, i int) latRound {
	t.Helper()
	r := latRound{System: sys.name, I: i, Start: time.Now()}
	m := s.fs.mark()
	slotA := latencyFirstSlot + 2*(i%4)
	slotB := slotA + 1
	pre := fmt.Sprintf("r%02d-%s-", i, sys.name)
	sysN := 0
	if sys.name == "valet" {
		sysN = 1
	}
	number := func(kind int) string { return fmt.Sprintf("5%d%d%02d", kind, sysN, i%100) }
	var eps []*endpoint
	defer func() {
		// Every channel of the round goes, and every phone with it.
		for _, e := range s.fs.since(m, func(e obsEvent) bool { return e.Name() == "CHANNEL_CREATE" }) {
			if s.fs.exists(e.UniqueID()) {
				s.fs.api("uuid_kill " + e.UniqueID())
			}
		}
		for _, e := range eps {
			e.stop()
		}
		time.Sleep(300 * time.Millisecond)
	}()

	// 1. Blind transfer into slot A.
	reception := s.env.Users[0]
	eps = append(eps, s.sipp(t, pre+"reception", sippOpts{scenario: "uas_reception_refer.xml", port: receptionSIP, mport: receptionRTP,
		wav: s.silence, args: []string{"-d", "800"}, keys: map[string]string{
			"refer_target":    sys.park + strconv.Itoa(slotA),
			"referred_by_hdr": "Referred-By: <sip:" + reception + "@" + s.env.Domain + ">",
		}}))
	time.Sleep(200 * time.Millisecond)
	eps = append(eps, s.sipp(t, pre+"patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: reception,
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": number(1), "from_name": "Patient"}}))
	p := s.inboundCall(t, m, number(1))
	s.fs.wait(t, m, 15*time.Second, sys.name+" parks the transferred caller", is("CHANNEL_EXECUTE", p, "Application", sys.parkedApp))
	time.Sleep(1500 * time.Millisecond)

	// 2. A call dialled into slot B.
	eps = append(eps, s.sipp(t, pre+"self", sippOpts{scenario: "uac_caller.xml", uac: true, service: sys.park + strconv.Itoa(slotB),
		port: patient2SIP, mport: patient2RTP, wav: s.silence, keys: map[string]string{"from_user": number(2), "from_name": "Self"}}))
	p2 := s.inboundCall(t, m, number(2))
	s.fs.wait(t, m, 15*time.Second, sys.name+" parks the call dialled in", is("CHANNEL_EXECUTE", p2, "Application", sys.parkedApp))
	time.Sleep(1000 * time.Millisecond)
	s.fs.api("uuid_kill " + p2)

	// 3. Retrieve slot A.
	eps = append(eps, s.sipp(t, pre+"retriever", sippOpts{scenario: "uac_caller.xml", uac: true, service: sys.retrieve + strconv.Itoa(slotA),
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": number(3), "from_name": "Nurse"}}))
	rr := s.inboundCall(t, m, number(3))
	s.bridgeOf(t, m, p, rr, 10*time.Second)
	time.Sleep(1000 * time.Millisecond)
	r.End = time.Now()
	return r
}

// pkt is one UDP packet or TCP segment of the capture.
type pkt struct {
	at           time.Time
	sport, dport int
	payload      []byte
	tcp          bool
	syn          bool // a TCP SYN without ACK: a connection opened
}

// readPcap reads every IPv4 UDP packet and TCP segment of a pcap file.
func readPcap(path string) ([]pkt, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 {
		return nil, fmt.Errorf("%s: no pcap header", path)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	nano := false
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	default:
		bo = binary.BigEndian
		nano = binary.BigEndian.Uint32(b) == 0xa1b23c4d
	}
	link := bo.Uint32(b[20:])
	var out []pkt
	for off := 24; off+16 <= len(b); {
		sec, frac := bo.Uint32(b[off:]), bo.Uint32(b[off+4:])
		incl := int(bo.Uint32(b[off+8:]))
		off += 16
		if off+incl > len(b) {
			break
		}
		data := b[off : off+incl]
		off += incl
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		if p, ok := packetOf(link, data); ok {
			p.at = time.Unix(int64(sec), ns)
			out = append(out, p)
		}
	}
	return out, nil
}

// packetOf cuts the ports and payload out of a captured UDP or TCP frame.
func packetOf(link uint32, data []byte) (pkt, bool) {
	skip := map[uint32]int{1: 14, 113: 16, 276: 20, 0: 4}
	n, ok := skip[link]
	if !ok || len(data) < n {
		return pkt{}, false
	}
	if link == 1 && binary.BigEndian.Uint16(data[12:]) != 0x0800 {
		return pkt{}, false
	}
	ip := data[n:]
	if len(ip) < 20 || ip[0]>>4 != 4 || (ip[9] != 17 && ip[9] != 6) {
		return pkt{}, false
	}
	ihl := int(ip[0]&0x0f) * 4
	if total := int(binary.BigEndian.Uint16(ip[2:])); total >= ihl && total <= len(ip) {
		ip = ip[:total] // no link-layer padding
	}
	if len(ip) < ihl+8 {
		return pkt{}, false
	}
	l4 := ip[ihl:]
	p := pkt{sport: int(binary.BigEndian.Uint16(l4)), dport: int(binary.BigEndian.Uint16(l4[2:]))}
	if ip[9] == 17 {
		p.payload = l4[8:]
		return p, true
	}
	if len(l4) < 20 || len(l4) < int(l4[12]>>4)*4 {
		return pkt{}, false
	}
	p.tcp, p.syn = true, l4[13]&0x12 == 0x02
	p.payload = l4[int(l4[12]>>4)*4:]
	return p, true
}

// sipFirst is the first SIP message in pkts from port from to port to, at
// or after after, whose first line starts with prefix (and, for a
// response, whose CSeq names method); zero if none.
func sipFirst(pkts []pkt, after, before time.Time, from, to int, prefix, method string) time.Time {
	for _, p := range pkts {
		if p.tcp || p.at.Before(after) || !p.at.Before(before) || p.sport != from || p.dport != to {
			continue
		}
		msg := string(p.payload)
		if !strings.HasPrefix(msg, prefix) {
			continue
		}
		if method != "" && !cseqIs(msg, method) {
			continue
		}
		return p.at
	}
	return time.Time{}
}

func cseqIs(msg, method string) bool {
	for _, l := range strings.Split(msg, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "CSeq") {
			f := strings.Fields(v)
			return len(f) == 2 && f[1] == method
		}
	}
	return false
}

// rtpFirst is the first RTP packet (PCMU) sent to port in [after, before),
// and the first whose audio is audible (RMS of at least 0.005, the lab's
// line between silence and sound), with that packet's frequency.
func rtpFirst(pkts []pkt, after, before time.Time, port int) (first, audible time.Time, hz float64) {
	for _, p := range pkts {
		if p.tcp || p.at.Before(after) || !p.at.Before(before) || p.dport != port {
			continue
		}
		payload, ok := pcmuPayload(p.payload)
		if !ok {
			continue
		}
		if first.IsZero() {
			first = p.at
		}
		var sum float64
		cross := 0
		prev := 0.0
		for i, u := range payload {
			x := float64(ulawToLinear(u)) / 32768
			sum += x * x
			if i > 0 && (prev < 0) != (x < 0) {
				cross++
			}
			prev = x
		}
		if len(payload) > 0 && math.Sqrt(sum/float64(len(payload))) >= 0.005 {
			return first, p.at, float64(cross) / 2 / (float64(len(payload)) / 8000)
		}
	}
	return first, time.Time{}, 0
}

// pcmuPayload is the audio of an RTP packet of payload type 0.
func pcmuPayload(rtp []byte) ([]byte, bool) {
	if len(rtp) < 12 || rtp[0]>>6 != 2 || rtp[1]&0x7f != 0 {
		return nil, false
	}
	h := 12 + int(rtp[0]&0x0f)*4
	if rtp[0]&0x10 != 0 && len(rtp) >= h+4 {
		h += 4 + int(binary.BigEndian.Uint16(rtp[h+2:]))*4
	}
	if len(rtp) < h {
		return nil, false
	}
	return rtp[h:], true
}

// ms is b-a in milliseconds, or -1 when either is missing.
func ms(a, b time.Time) float64 {
	if a.IsZero() || b.IsZero() {
		return -1
	}
	return float64(b.Sub(a).Microseconds()) / 1000
}

// flowTimes is one call of a round as the capture shows it.
type flowTimes struct {
	name       string
	phone, rtp int       // the phone's SIP and RTP ports
	start      time.Time // its REFER or INVITE
	ok         time.Time // the 200 OK to the INVITE (zero for a REFER)
	first      time.Time // the first RTP packet to the phone after start
	audio      time.Time // the first audible one
	hz         float64   // the frequency of that packet
	syn        time.Time // FreeSWITCH's socket application connects to parkd
	fsPort     int       // its end of that connection
	last       time.Time // parkd's command that starts the audio
}

// measure fills r's figures from the capture, and writes the round's
// timeline (each flow's SIP, its ESL segments, its first audio) to tl.
func (r *latRound) measure(pkts []pkt, eslPort int, tl *strings.Builder) {
	const sip = 5060
	end := r.End.Add(time.Second)
	flows := []*flowTimes{
		{name: "park by blind transfer (REFER)", phone: receptionSIP, rtp: patientRTP},
		{name: "park dialled into a slot (INVITE)", phone: patient2SIP, rtp: patient2RTP},
		{name: "retrieve (INVITE)", phone: retrieverSIP, rtp: retrieverRTP},
	}
	for i, f := range flows {
		if i == 0 {
			f.start = sipFirst(pkts, r.Start, end, f.phone, sip, "REFER ", "")
		} else {
			f.start = sipFirst(pkts, r.Start, end, f.phone, sip, "INVITE ", "")
			f.ok = sipFirst(pkts, f.start, end, sip, f.phone, "SIP/2.0 200", "INVITE")
		}
		if f.start.IsZero() {
			continue
		}
		f.first, f.audio, f.hz = rtpFirst(pkts, f.start, end, f.rtp)
		if r.System != "parkd" {
			continue
		}
		for _, p := range pkts {
			if p.tcp && p.syn && p.dport == eslPort && !p.at.Before(f.start) && p.at.Before(end) {
				f.syn, f.fsPort = p.at, p.sport
				break
			}
		}
		key := "api uuid_transfer "
		if i == 2 {
			key = "api uuid_bridge "
		}
		for _, p := range pkts {
			if p.tcp && p.sport == eslPort && p.dport == f.fsPort && f.fsPort != 0 && strings.Contains(string(p.payload), key) {
				f.last = p.at
				break
			}
		}
	}
	refer, park, retr := flows[0], flows[1], flows[2]
	r.ReferMusic, r.ReferRTP = ms(refer.start, refer.audio), ms(refer.start, refer.first)
	r.ParkInvite200, r.ParkInviteAudio, r.ParkInviteRTP = ms(park.start, park.ok), ms(park.start, park.audio), ms(park.start, park.first)
	r.RetrInvite200, r.RetrInviteHear, r.RetrInviteRTP, r.RetrHeardHz = ms(retr.start, retr.ok), ms(retr.start, retr.audio), ms(retr.start, retr.first), retr.hz
	r.ReferSocket, r.ReferParkd, r.ReferAfter = ms(refer.start, refer.syn), ms(refer.syn, refer.last), ms(refer.last, refer.audio)
	r.RetrSocket, r.RetrParkd, r.RetrAfter = ms(retr.start, retr.syn), ms(retr.syn, retr.last), ms(retr.last, retr.audio)

	for name, v := range map[string]float64{
		"transfer REFER->music": r.ReferMusic, "park INVITE->200": r.ParkInvite200, "park INVITE->audio": r.ParkInviteAudio,
		"retrieve INVITE->200": r.RetrInvite200, "retrieve INVITE->caller": r.RetrInviteHear,
	} {
		if v < 0 {
			r.missing = append(r.missing, name)
		}
	}
	slices.Sort(r.missing)

	for _, f := range flows {
		if f.start.IsZero() {
			continue
		}
		fmt.Fprintf(tl, "== round %d %s: %s, %s\n", r.I, r.System, f.name, f.start.Format("15:04:05.000000"))
		stop := f.audio.Add(time.Millisecond)
		if f.audio.IsZero() {
			stop = end
		}
		for _, p := range pkts {
			if p.at.Before(f.start) || p.at.After(stop) {
				continue
			}
			at := fmt.Sprintf("%9.3f ms ", float64(p.at.Sub(f.start).Microseconds())/1000)
			switch {
			case !p.tcp && (p.sport == f.phone || p.dport == f.phone) && len(p.payload) > 0 && p.payload[0] >= 'A':
				line, _, _ := strings.Cut(string(p.payload), "\r\n")
				dir := "phone > switch"
				if p.dport == f.phone {
					dir = "switch > phone"
				}
				fmt.Fprintf(tl, "%s SIP %s: %s\n", at, dir, line)
			case p.tcp && f.fsPort != 0 && p.syn && p.sport == f.fsPort:
				fmt.Fprintf(tl, "%s ESL switch connects to parkd\n", at)
			case p.tcp && f.fsPort != 0 && p.sport == eslPort && p.dport == f.fsPort && len(p.payload) > 0:
				var cmds []string
				for _, c := range strings.Split(strings.TrimSpace(string(p.payload)), "\r\n\r\n") {
					line, _, _ := strings.Cut(strings.TrimSpace(c), "\n")
					cmds = append(cmds, strings.TrimSpace(line))
				}
				fmt.Fprintf(tl, "%s ESL parkd > switch: %s\n", at, strings.Join(cmds, " | "))
			case p.tcp && f.fsPort != 0 && p.sport == f.fsPort && p.dport == eslPort && len(p.payload) > 0:
				fmt.Fprintf(tl, "%s ESL switch > parkd: %s\n", at, eslSummary(p.payload))
			case !p.tcp && p.dport == f.rtp && p.at.Equal(f.audio):
				fmt.Fprintf(tl, "%s RTP first audible packet to the phone (%.0f Hz)\n", at, f.hz)
			}
		}
	}
}

// eslSummary names what a segment from the switch carries: replies and
// events, by their Content-Type, Reply-Text and Event-Name.
func eslSummary(b []byte) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "Reply-Text: "), strings.HasPrefix(l, "Event-Name: "):
			out = append(out, l)
		case strings.HasPrefix(l, "Content-Type: api/response"):
			out = append(out, "api/response")
		case strings.HasPrefix(l, "Content-Type: text/disconnect-notice"):
			out = append(out, "disconnect-notice")
		case strings.HasPrefix(l, "Application: "):
			out = append(out, "("+strings.TrimPrefix(l, "Application: ")+")")
		}
		if len(out) > 12 {
			break
		}
	}
	return fmt.Sprintf("%d bytes: %s", len(b), strings.Join(out, " "))
}

// latMetric is one figure of both systems.
type latMetric struct {
	Name    string  `json:"name"`
	Parkd   stat    `json:"parkd"`
	Valet   stat    `json:"valet"`
	Target  string  `json:"target"`
	Met     *bool   `json:"met,omitempty"`
	Limit   float64 `json:"limit_ms,omitempty"`
	LimitP9 float64 `json:"limit_p90_ms,omitempty"`
}

// stat is the median and 90th percentile (nearest rank) of n values.
type stat struct {
	N      int     `json:"n"`
	Median float64 `json:"median_ms"`
	P90    float64 `json:"p90_ms"`
	Min    float64 `json:"min_ms"`
	Max    float64 `json:"max_ms"`
}

func statOf(vs []float64) stat {
	var ok []float64
	for _, v := range vs {
		if v >= 0 {
			ok = append(ok, v)
		}
	}
	if len(ok) == 0 {
		return stat{}
	}
	slices.Sort(ok)
	med := ok[len(ok)/2]
	if len(ok)%2 == 0 {
		med = (ok[len(ok)/2-1] + ok[len(ok)/2]) / 2
	}
	p90 := ok[int(math.Ceil(0.9*float64(len(ok))))-1]
	return stat{N: len(ok), Median: med, P90: p90, Min: ok[0], Max: ok[len(ok)-1]}
}

type latReport struct {
	Rounds     int         `json:"rounds"`
	Music      string      `json:"music"`
	LoadBefore string      `json:"loadavg_before"`
	LoadAfter  string      `json:"loadavg_after"`
	Metrics    []latMetric `json:"metrics"`
	Raw        []latRound  `json:"raw"`
}

func latencyReport(rounds []latRound, before, after string, n int, music string) latReport {
	col := func(sys string, f func(latRound) float64) []float64 {
		var out []float64
		for _, r := range rounds {
			if r.System == sys {
				out = append(out, f(r))
			}
		}
		return out
	}
	metric := func(name, target string, f func(latRound) float64) latMetric {
		m := latMetric{Name: name, Parkd: statOf(col("parkd", f)), Valet: statOf(col("valet", f)), Target: target}
		met := false
		switch target {
		case "+3ms":
			m.Limit = m.Valet.Median + 3
			met = m.Parkd.Median <= m.Limit
		case "1.1x":
			m.Limit = 1.1 * m.Valet.Median
			met = m.Parkd.Median <= m.Limit
		case "1.1x, p90 1.2x":
			m.Limit, m.LimitP9 = 1.1*m.Valet.Median, 1.2*m.Valet.P90
			met = m.Parkd.Median <= m.Limit && m.Parkd.P90 <= m.LimitP9
		default:
			return m
		}
		if m.Parkd.N == 0 || m.Valet.N == 0 {
			met = false
		}
		m.Met = &met
		return m
	}
	return latReport{
		Rounds: n, Music: music, LoadBefore: before, LoadAfter: after, Raw: rounds,
		Metrics: []latMetric{
			metric("park INVITE -> 200 OK (dialled into a slot)", "+3ms", func(r latRound) float64 { return r.ParkInvite200 }),
			metric("park INVITE -> first audio (dialled; parkd: slot read out)", "", func(r latRound) float64 { return r.ParkInviteAudio }),
			metric("park INVITE -> first RTP (dialled)", "", func(r latRound) float64 { return r.ParkInviteRTP }),
			metric("park REFER -> first music (blind transfer into a slot)", "1.1x", func(r latRound) float64 { return r.ReferMusic }),
			metric("park REFER -> first RTP (blind transfer)", "", func(r latRound) float64 { return r.ReferRTP }),
			metric("retrieve INVITE -> 200 OK", "+3ms", func(r latRound) float64 { return r.RetrInvite200 }),
			metric("retrieve INVITE -> hearing the caller", "1.1x, p90 1.2x", func(r latRound) float64 { return r.RetrInviteHear }),
			metric("retrieve INVITE -> first RTP", "", func(r latRound) float64 { return r.RetrInviteRTP }),
			metric("  parkd split: REFER -> switch connects to parkd", "", func(r latRound) float64 { return r.ReferSocket }),
			metric("  parkd split: connect -> uuid_transfer sent", "", func(r latRound) float64 { return r.ReferParkd }),
			metric("  parkd split: uuid_transfer -> first music", "", func(r latRound) float64 { return r.ReferAfter }),
			metric("  parkd split: retrieve INVITE -> switch connects", "", func(r latRound) float64 { return r.RetrSocket }),
			metric("  parkd split: connect -> uuid_bridge sent", "", func(r latRound) float64 { return r.RetrParkd }),
			metric("  parkd split: uuid_bridge -> hearing the caller", "", func(r latRound) float64 { return r.RetrAfter }),
		},
	}
}

func (rep latReport) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "latency, %d rounds each, music %s; load average before: %s, after: %s\n", rep.Rounds, rep.Music, rep.LoadBefore, rep.LoadAfter)
	fmt.Fprintf(&b, "| %-60s | %-19s | %-19s | %-28s |\n", "ms (median / p90, n)", "parkd", "valet", "target")
	fmt.Fprintf(&b, "|%s|%s|%s|%s|\n", strings.Repeat("-", 62), strings.Repeat("-", 21), strings.Repeat("-", 21), strings.Repeat("-", 30))
	for _, m := range rep.Metrics {
		target := ""
		if m.Met != nil {
			verdict := "missed"
			if *m.Met {
				verdict = "met"
			}
			target = fmt.Sprintf("%s: <= %.1f", m.Target, m.Limit)
			if m.LimitP9 > 0 {
				target += fmt.Sprintf(" / %.1f", m.LimitP9)
			}
			target += " " + verdict
		}
		fmt.Fprintf(&b, "| %-60s | %19s | %19s | %-28s |\n", m.Name, m.Parkd.String(), m.Valet.String(), target)
	}
	return b.String()
}

func (s stat) String() string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f / %.1f (%d)", s.Median, s.P90, s.N)
}
