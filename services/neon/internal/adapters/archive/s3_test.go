package archive_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/neon/internal/adapters/archive"
	"clawdbot.cloud/services/neon/internal/s3test"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newS3 starts a real S3-compatible server (versitygw) and a store on it
// with a real secret store for the keys.
func newS3(t *testing.T) (*archive.S3, *s3test.Server, *secrets.Store) {
	t.Helper()
	srv := s3test.Start(t)
	key, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := secrets.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.Open(t.Context(), pgtest.NewPool(t), raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := archive.NewS3(t.Context(), archive.S3Config{
		Endpoint: srv.Endpoint, Bucket: "claw-archives", Prefix: "test/",
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey,
	}, keys)
	if err != nil {
		t.Fatal(err)
	}
	return s, srv, keys
}

// TestS3 stores, reads, replaces and deletes an archive on a real S3
// server: the bucket holds only ciphertext, each archive has a key of its
// own in the secret store, replaced and deleted archives take their keys
// with them, and an altered object is refused before anything decrypts.
func TestS3(t *testing.T) {
	t.Parallel()
	s, srv, keys := newS3(t)
	ctx := t.Context()
	const ref = "archive/cus_s3_0123456789"
	if _, err := s.Stat(ctx, ref); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Stat before Put: %v", err)
	}
	plain := append([]byte("PGDMP the door code is 4711 "), make([]byte, 200<<10)...)
	_, _ = rand.Read(plain[40:])
	info, err := s.Put(ctx, ref, bytes.NewReader(plain))
	if err != nil || info.Bytes != int64(len(plain)) || len(info.SHA256) != 64 {
		t.Fatalf("Put = %+v, %v", info, err)
	}
	obj := filepath.Join(srv.Dir, "claw-archives", "test", ref+".dump.enc")
	stored, err := os.ReadFile(obj)
	if err != nil {
		t.Fatalf("the object on the server's disk: %v", err)
	}
	if bytes.Contains(stored, []byte("door code")) {
		t.Error("the stored object holds plaintext")
	}
	if st, err := s.Stat(ctx, ref); err != nil || st != info {
		t.Errorf("Stat = %+v, %v; want %+v", st, err, info)
	}
	if got := read(t, s, ref); !bytes.Equal(got, plain) {
		t.Fatalf("Open gave %d bytes, not what was put", len(got))
	}
	first := keyRefs(t, keys, s, ref)

	// Replacing: a new key, the old one gone.
	if _, err := s.Put(ctx, ref, bytes.NewReader([]byte("second dump"))); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, ref); string(got) != "second dump" {
		t.Fatalf("after replace: %q", got)
	}
	if _, err := keys.Get(ctx, first); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("the replaced archive's key is still stored: %v", err)
	}

	// A failed read stores nothing and keeps the archive.
	if _, err := s.Put(ctx, ref, io.MultiReader(bytes.NewReader([]byte("half")), failing{})); err == nil {
		t.Fatal("Put of a failing reader succeeded")
	}
	if got := read(t, s, ref); string(got) != "second dump" {
		t.Fatalf("after a failed put: %q", got)
	}

	// An altered object is refused.
	stored, err = os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	stored[len(stored)/2] ^= 1
	if err := os.WriteFile(obj, stored, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(ctx, ref); !errors.Is(err, archive.ErrCorrupt) {
		t.Errorf("Open of an altered object = %v, want ErrCorrupt", err)
	}

	// Delete, twice: object and key gone.
	second := keyRefs(t, keys, s, ref)
	for range 2 {
		if err := s.Delete(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Stat(ctx, ref); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("Stat after Delete: %v", err)
	}
	if _, err := keys.Get(ctx, second); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("the deleted archive's key is still stored: %v", err)
	}
}

// TestS3RefusesBadRefs keeps refs inside the prefix.
func TestS3RefusesBadRefs(t *testing.T) {
	t.Parallel()
	s, _, _ := newS3(t)
	for _, ref := range []string{"", "../x", "/abs", "a\\b"} {
		if _, err := s.Put(t.Context(), ref, bytes.NewReader(nil)); err == nil {
			t.Errorf("Put(%q) succeeded", ref)
		}
	}
}

// keyRefs returns the secret reference of ref's current key, read from
// the object's metadata through Stat and the one key the store holds.
func keyRefs(t *testing.T, keys *secrets.Store, s *archive.S3, ref string) string {
	t.Helper()
	id, err := s.KeyID(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	kr := archive.KeyRef(ref, id)
	if k, err := keys.Get(t.Context(), kr); err != nil || len(k) != 32 {
		t.Fatalf("key %s: %d bytes, %v", kr, len(k), err)
	}
	return kr
}

func read(t *testing.T, s *archive.S3, ref string) []byte {
	t.Helper()
	rc, _, err := s.Open(t.Context(), ref)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("pg_dump exited 1") }
