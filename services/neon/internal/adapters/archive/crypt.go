package archive

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// An encrypted archive is a stream of AES-256-GCM chunks under a key of
// its own (the STREAM construction): a header (magic and a random 7-byte
// nonce prefix), then chunks of up to chunkSize bytes of plaintext, each
// sealed with the nonce prefix || chunk counter (4 bytes) || last flag (1
// byte) and the archive's ref as associated data. So a chunk cannot be
// moved, dropped, repeated or truncated away, and an archive cannot pass
// for another customer's, without the decryption failing.
const (
	chunkSize  = 64 << 10
	magic      = "CLAWARC1"
	noncePfx   = 7
	headerSize = len(magic) + noncePfx
)

// errDecrypt reports an archive that does not decrypt under its key.
var errDecrypt = errors.New("archive does not decrypt: wrong key, or altered or truncated")

// encrypter writes the encrypted form of what is written to it to w.
type encrypter struct {
	w      io.Writer
	aead   cipher.AEAD
	prefix [noncePfx]byte
	ad     []byte
	buf    []byte
	n      uint32
	closed bool
}

// newEncrypter writes the header to w and returns the writer of the
// plaintext; Close writes the last chunk.
func newEncrypter(w io.Writer, key []byte, ref string) (*encrypter, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	e := &encrypter{w: w, aead: aead, ad: []byte(ref), buf: make([]byte, 0, chunkSize+1)}
	if _, err := rand.Read(e.prefix[:]); err != nil {
		return nil, err
	}
	if _, err := w.Write(append([]byte(magic), e.prefix[:]...)); err != nil {
		return nil, err
	}
	return e, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("archive key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func nonce(prefix [noncePfx]byte, n uint32, last bool) []byte {
	out := make([]byte, 12)
	copy(out, prefix[:])
	binary.BigEndian.PutUint32(out[noncePfx:], n)
	if last {
		out[11] = 1
	}
	return out
}

// Write seals every full chunk that is known not to be the last.
func (e *encrypter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		room := chunkSize + 1 - len(e.buf)
		k := min(room, len(p))
		e.buf = append(e.buf, p[:k]...)
		p, written = p[k:], written+k
		if len(e.buf) > chunkSize {
			if err := e.seal(e.buf[:chunkSize], false); err != nil {
				return written, err
			}
			e.buf = append(e.buf[:0], e.buf[chunkSize:]...)
		}
	}
	return written, nil
}

// Close seals the last chunk (empty if the plaintext ended on a chunk).
func (e *encrypter) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	return e.seal(e.buf, true)
}

func (e *encrypter) seal(chunk []byte, last bool) error {
	out := e.aead.Seal(nil, nonce(e.prefix, e.n, last), chunk, e.ad)
	e.n++
	_, err := e.w.Write(out)
	return err
}

// decrypter reads the plaintext of an encrypted archive from r.
type decrypter struct {
	r      io.Reader
	aead   cipher.AEAD
	prefix [noncePfx]byte
	ad     []byte
	in     []byte
	out    []byte
	have   int // bytes of the next chunk already in in
	n      uint32
	done   bool
}

func newDecrypter(r io.Reader, key []byte, ref string) (*decrypter, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(r, hdr); err != nil || !bytes.Equal(hdr[:len(magic)], []byte(magic)) {
		return nil, errDecrypt
	}
	d := &decrypter{r: r, aead: aead, ad: []byte(ref), in: make([]byte, chunkSize+aead.Overhead()+1)}
	copy(d.prefix[:], hdr[len(magic):])
	return d, nil
}

// Read opens chunk after chunk. A chunk shorter than a full one must be
// the last; the stream must end right after the last.
func (d *decrypter) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.done {
			return 0, io.EOF
		}
		if err := d.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

func (d *decrypter) next() error {
	full := chunkSize + d.aead.Overhead()
	n, err := io.ReadFull(d.r, d.in[d.have:full+1])
	n += d.have
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		// At most a full chunk left: it must be the last.
		plain, oerr := d.aead.Open(nil, nonce(d.prefix, d.n, true), d.in[:n], d.ad)
		if oerr != nil {
			return errDecrypt
		}
		d.out, d.done = plain, true
		return nil
	case err != nil:
		return err
	}
	// More than a full chunk: this one is not the last; its next byte
	// starts the next chunk.
	plain, oerr := d.aead.Open(nil, nonce(d.prefix, d.n, false), d.in[:full], d.ad)
	if oerr != nil {
		return errDecrypt
	}
	d.n++
	d.out = plain
	d.in[0], d.have = d.in[full], 1
	return nil
}
