package archive

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

// TestEncryptionRoundTripsAndRefusesTampering seals plaintexts around the
// chunk size and checks that each opens, and that a wrong key, another
// ref, a flipped bit, a truncation, a dropped or an appended chunk do not.
func TestEncryptionRoundTripsAndRefusesTampering(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	const ref = "archive/cus_a"
	for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17} {
		plain := make([]byte, size)
		_, _ = rand.Read(plain)
		var sealed bytes.Buffer
		e, err := newEncrypter(&sealed, key, ref)
		if err != nil {
			t.Fatal(err)
		}
		// Odd write sizes cross chunk boundaries.
		for rest := plain; len(rest) > 0; {
			k := min(len(rest), 10007)
			if _, err := e.Write(rest[:k]); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed.Bytes(), plain[:min(size, 64)]) && size >= 16 {
			t.Fatalf("size %d: the plaintext shows in the ciphertext", size)
		}
		got, err := open(sealed.Bytes(), key, ref)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: round trip: %v (%d bytes back)", size, err, len(got))
		}
		otherKey := bytes.Clone(key)
		otherKey[0] ^= 1
		c := sealed.Bytes()
		overhead := 16
		bad := map[string]func() ([]byte, []byte, string){
			"wrong key":   func() ([]byte, []byte, string) { return c, otherKey, ref },
			"another ref": func() ([]byte, []byte, string) { return c, key, "archive/cus_b" },
			"flipped bit": func() ([]byte, []byte, string) {
				x := bytes.Clone(c)
				x[len(x)-1] ^= 1
				return x, key, ref
			},
			"truncated": func() ([]byte, []byte, string) { return c[:len(c)-1], key, ref },
			"appended":  func() ([]byte, []byte, string) { return append(bytes.Clone(c), make([]byte, 40)...), key, ref },
		}
		if size > chunkSize {
			bad["last chunk dropped"] = func() ([]byte, []byte, string) {
				return c[:headerSize+chunkSize+overhead], key, ref
			}
		}
		for name, mk := range bad {
			x, k, r := mk()
			if _, err := open(x, k, r); !errors.Is(err, errDecrypt) {
				t.Errorf("size %d, %s: %v, want errDecrypt", size, name, err)
			}
		}
	}
}

func open(c, key []byte, ref string) ([]byte, error) {
	d, err := newDecrypter(bytes.NewReader(c), key, ref)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(d)
}
