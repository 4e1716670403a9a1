package archive_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"clawdbot.cloud/services/neon/internal/adapters/archive"
)

func TestDir(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, err := archive.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	const ref = "archive/cus_x_0123456789"
	if _, err := d.Stat(ctx, ref); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Stat before Put: %v", err)
	}
	info, err := d.Put(ctx, ref, strings.NewReader("dump"))
	if err != nil || info.Bytes != 4 || len(info.SHA256) != 64 {
		t.Fatalf("Put = %+v, %v", info, err)
	}
	rc, got, err := d.Open(ctx, ref)
	if err != nil || got != info {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "dump" {
		t.Errorf("content %q", b)
	}

	// A failing source commits nothing.
	if _, err := d.Put(ctx, ref, io.MultiReader(strings.NewReader("half"), errReader{})); err == nil {
		t.Fatal("Put of a failing reader succeeded")
	}
	if again, err := d.Stat(ctx, ref); err != nil || again != info {
		t.Errorf("after a failed Put: %+v, %v", again, err)
	}

	// Tampering is detected.
	file := filepath.Join(root, "archive", "cus_x_0123456789.dump")
	if err := os.WriteFile(file, []byte("dumq"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Open(ctx, ref); !errors.Is(err, archive.ErrCorrupt) {
		t.Errorf("Open of a changed archive: %v", err)
	}

	for range 2 {
		if err := d.Delete(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("file after Delete: %v", err)
	}
	for _, bad := range []string{"", "../x", "/etc/passwd", "a/../../b"} {
		if _, err := d.Put(ctx, bad, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("pg_dump failed") }
