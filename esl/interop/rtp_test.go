package interop

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// capture is a tcpdump on the loopback interface writing a pcap file
// packet by packet (-U), so it can be read while it runs.
type capture struct {
	path string
	cmd  *exec.Cmd
	done chan struct{}
}

func startCapture(path, filter string) (*capture, error) {
	c := &capture{path: path, done: make(chan struct{})}
	c.cmd = exec.Command("tcpdump", "-i", "lo", "-U", "-n", "-s", "0", "-w", path, filter)
	errLog, err := os.Create(path + ".log")
	if err != nil {
		return nil, err
	}
	c.cmd.Stdout, c.cmd.Stderr = errLog, errLog
	if err := c.cmd.Start(); err != nil {
		errLog.Close()
		return nil, fmt.Errorf("tcpdump: %w", err)
	}
	go func() { _ = c.cmd.Wait(); errLog.Close(); close(c.done) }()
	for i := 0; i < 50; i++ { // until the pcap header is written
		if st, err := os.Stat(path); err == nil && st.Size() >= 24 {
			return c, nil
		}
		select {
		case <-c.done:
			b, _ := os.ReadFile(path + ".log")
			return nil, fmt.Errorf("tcpdump exited (capturing on lo needs root or CAP_NET_RAW): %s", b)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return c, nil
}

func (c *capture) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
	}
}

// audio summarises the RTP sent to one UDP port in a time window.
type audio struct {
	Packets int
	RMS     float64 // 0..1
	Hz      float64 // from zero crossings; a pure tone reads as its frequency
}

func (a audio) String() string {
	return fmt.Sprintf("%d RTP packets, rms %.3f, ~%.0f Hz", a.Packets, a.RMS, a.Hz)
}

// heard is what was sent to UDP port on 127.0.0.1 between from and to: the
// PCMU payloads are decoded and measured.
func (c *capture) heard(port int, from, to time.Time) audio {
	b, err := os.ReadFile(c.path)
	if err != nil || len(b) < 24 {
		return audio{}
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
	var samples []float64
	a := audio{}
	for off := 24; off+16 <= len(b); {
		sec, frac := bo.Uint32(b[off:]), bo.Uint32(b[off+4:])
		incl := int(bo.Uint32(b[off+8:]))
		off += 16
		if off+incl > len(b) {
			break // a record tcpdump is still writing
		}
		pkt := b[off : off+incl]
		off += incl
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		at := time.Unix(int64(sec), ns)
		if at.Before(from) || !at.Before(to) {
			continue
		}
		payload, dport, ok := rtpPayload(link, pkt)
		if !ok || dport != port {
			continue
		}
		a.Packets++
		for _, u := range payload {
			samples = append(samples, float64(ulawToLinear(u))/32768)
		}
	}
	if len(samples) == 0 {
		return a
	}
	var sum float64
	cross := 0
	for i, x := range samples {
		sum += x * x
		if i > 0 && (samples[i-1] < 0) != (x < 0) {
			cross++
		}
	}
	a.RMS = math.Sqrt(sum / float64(len(samples)))
	a.Hz = float64(cross) / 2 / (float64(len(samples)) / 8000)
	return a
}

// rtpPayload returns the PCMU payload and the destination port of an
// IPv4/UDP/RTP packet; ok is false for anything else.
func rtpPayload(link uint32, pkt []byte) (payload []byte, dport int, ok bool) {
	switch link {
	case 1: // Ethernet (Linux lo)
		if len(pkt) < 14 || binary.BigEndian.Uint16(pkt[12:]) != 0x0800 {
			return nil, 0, false
		}
		pkt = pkt[14:]
	case 113: // Linux cooked
		if len(pkt) < 16 {
			return nil, 0, false
		}
		pkt = pkt[16:]
	case 276: // Linux cooked v2
		if len(pkt) < 20 {
			return nil, 0, false
		}
		pkt = pkt[20:]
	case 0: // BSD loopback
		if len(pkt) < 4 {
			return nil, 0, false
		}
		pkt = pkt[4:]
	default:
		return nil, 0, false
	}
	if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[9] != 17 {
		return nil, 0, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if len(pkt) < ihl+8 {
		return nil, 0, false
	}
	udp := pkt[ihl:]
	dport = int(binary.BigEndian.Uint16(udp[2:]))
	rtp := udp[8:]
	if len(rtp) < 12 || rtp[0]>>6 != 2 {
		return nil, 0, false
	}
	if rtp[1]&0x7f != 0 { // PCMU only; telephone-event and CN are not audio
		return nil, dport, false
	}
	h := 12 + int(rtp[0]&0x0f)*4
	if rtp[0]&0x10 != 0 && len(rtp) >= h+4 {
		h += 4 + int(binary.BigEndian.Uint16(rtp[h+2:]))*4
	}
	if len(rtp) < h {
		return nil, 0, false
	}
	return rtp[h:], dport, true
}
