package openclaw

import (
	"bytes"
	"encoding/binary"
	"io"
)

// OwnerLabel is what the browser sees where the gateway would name the
// trusted proxy's identity (the Control UI's hello, presence, config):
// the identity is a loopback credential and stays in the runtime.
const OwnerLabel = "owner"

// maxFrame bounds one buffered WebSocket frame (OpenClaw's own maxPayload is
// 25 MiB).
const maxFrame = 32 << 20

// redactFrames wraps the gateway's side of a proxied WebSocket: what is read
// from it (the gateway's frames to the browser) has every occurrence of
// secret in a text, binary or continuation frame replaced by label, with the
// frame's length rewritten. Frames are buffered whole; a compressed frame
// (RSV1) or a masked one, which a server never sends, passes as it is, and
// the proxy asks for no compression. Writes (the browser's frames) pass
// through.
type redactFrames struct {
	io.ReadWriteCloser
	secret, label []byte
	in, out       []byte
	err           error
	// raw: a frame too large to hold came; the rest passes unredacted
	// (frame boundaries are lost from there).
	raw bool
}

func newRedactFrames(rwc io.ReadWriteCloser, secret, label string) *redactFrames {
	return &redactFrames{ReadWriteCloser: rwc, secret: []byte(secret), label: []byte(label)}
}

func (r *redactFrames) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		buf := make([]byte, 32<<10)
		n, err := r.ReadWriteCloser.Read(buf)
		r.in = append(r.in, buf[:n]...)
		r.err = err
		r.drain()
		if r.err != nil && len(r.out) == 0 && len(r.in) > 0 {
			// A partial frame at the end: nothing more will complete it.
			r.out, r.in = r.in, nil
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// drain moves every complete frame from in to out, redacted.
func (r *redactFrames) drain() {
	for {
		if r.raw {
			r.out, r.in = append(r.out, r.in...), nil
			return
		}
		hdr, size, ok := frameSize(r.in)
		if !ok {
			r.raw = len(r.in) > maxFrame || size > maxFrame
			if r.raw {
				continue
			}
			return
		}
		frame := r.in[:hdr+size]
		r.in = r.in[hdr+size:]
		b0, masked := frame[0], frame[1]&0x80 != 0
		opcode := b0 & 0x0f
		if masked || b0&0x40 != 0 || opcode > 2 || !bytes.Contains(frame[hdr:], r.secret) {
			r.out = append(r.out, frame...)
			continue
		}
		payload := bytes.ReplaceAll(frame[hdr:], r.secret, r.label)
		r.out = append(r.out, frameHeader(b0, len(payload))...)
		r.out = append(r.out, payload...)
	}
}

// frameSize returns the header length and payload length of the frame at
// the start of b, and whether all of it is in b.
func frameSize(b []byte) (hdr, size int, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	hdr = 2
	n := uint64(b[1] & 0x7f)
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, 0, false
		}
		n, hdr = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return 0, 0, false
		}
		n, hdr = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if b[1]&0x80 != 0 {
		hdr += 4
	}
	if n > maxFrame {
		return hdr, maxFrame + 1, false
	}
	if len(b) < hdr+int(n) {
		return 0, 0, false
	}
	return hdr, int(n), true
}

// frameHeader is an unmasked frame header with first byte b0 and payload
// length n.
func frameHeader(b0 byte, n int) []byte {
	switch {
	case n < 126:
		return []byte{b0, byte(n)}
	case n <= 0xffff:
		h := []byte{b0, 126, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		return h
	default:
		h := make([]byte, 10)
		h[0], h[1] = b0, 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
		return h
	}
}
