package openclaw

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// pipeRWC is a ReadWriteCloser over a reader that yields chunk bytes at a
// time (frames split across reads).
type pipeRWC struct {
	r     io.Reader
	chunk int
	w     bytes.Buffer
}

func (p *pipeRWC) Read(b []byte) (int, error)  { return p.r.Read(b[:min(len(b), p.chunk)]) }
func (p *pipeRWC) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeRWC) Close() error                { return nil }

// TestRedactFrames: the secret is replaced in text frames of every length
// encoding, split across reads or not, lengths rewritten; a masked frame,
// a compressed one and control frames pass untouched; writes pass through.
func TestRedactFrames(t *testing.T) {
	const secret = "claw-proxy-SECRETSECRETSECRET"
	text := func(payload string) []byte { return append(frameHeader(0x81, len(payload)), payload...) }
	masked := append([]byte{0x81, 0x80 | 4, 1, 2, 3, 4}, "abcd"...)
	compressed := append(frameHeader(0xc1, len(secret)), secret...)
	ping := append(frameHeader(0x89, len(secret)), secret...)
	long := strings.Repeat("x", 70000) + secret
	var in []byte
	for _, f := range [][]byte{text(`{"user":"` + secret + `"}`), masked, text(strings.Repeat("y", 200) + secret + secret), compressed, ping, text(long)} {
		in = append(in, f...)
	}
	want := [][]byte{text(`{"user":"owner"}`), masked, text(strings.Repeat("y", 200) + "ownerowner"), compressed, ping, text(strings.Repeat("x", 70000) + "owner")}
	for _, chunk := range []int{1, 7, 1 << 20} {
		rwc := &pipeRWC{r: bytes.NewReader(in), chunk: chunk}
		got, err := io.ReadAll(newRedactFrames(rwc, secret, OwnerLabel))
		if err != nil {
			t.Fatal(err)
		}
		if w := bytes.Join(want, nil); !bytes.Equal(got, w) {
			t.Errorf("chunk %d: redacted stream differs (%d bytes, want %d)", chunk, len(got), len(w))
		}
	}
	rwc := &pipeRWC{r: bytes.NewReader(nil), chunk: 1}
	_, _ = newRedactFrames(rwc, secret, OwnerLabel).Write([]byte(secret))
	if rwc.w.String() != secret {
		t.Error("writes to the gateway were changed")
	}
}
