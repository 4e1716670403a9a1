// Package archive is archive storage for customer database dumps: a local
// filesystem store (ARCHIVE_DIR) behind a small interface, so an object
// store can take its place later. An archive is written atomically (a
// temporary file, fsync, rename) and its SHA-256 is recorded beside it; an
// archive is complete only when both are there, and every read checks the
// checksum first.
package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound reports a ref with no complete archive.
var ErrNotFound = errors.New("archive not found")

// ErrCorrupt reports an archive whose content does not match its checksum.
var ErrCorrupt = errors.New("archive does not match its checksum")

// Info describes a stored archive.
type Info struct {
	// Ref is the archive's name (pkg/names.ArchiveRef).
	Ref string
	// Bytes is its size.
	Bytes int64
	// SHA256 is the hex digest of its content.
	SHA256 string
}

// Dir is a Store in a local directory: the archive of ref is <dir>/<ref>.dump
// and its checksum <dir>/<ref>.dump.sha256.
type Dir struct {
	dir string
}

// NewDir returns the store rooted at dir, creating it (0700: dumps hold
// customers' data).
func NewDir(dir string) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("archive dir is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("archive dir: %w", err)
	}
	return &Dir{dir: abs}, nil
}

// path returns the file of ref, refusing refs that could leave the directory.
func (d *Dir) path(ref string) (string, error) {
	if ref == "" || strings.Contains(ref, "..") || strings.HasPrefix(ref, "/") || strings.ContainsAny(ref, "\\\x00") {
		return "", fmt.Errorf("archive ref %q is not a relative name", ref)
	}
	return filepath.Join(d.dir, filepath.FromSlash(ref)) + ".dump", nil
}

// Put stores what r yields as the archive of ref, replacing any earlier one
// only once the whole content is on disk.
func (d *Dir) Put(_ context.Context, ref string, r io.Reader) (Info, error) {
	p, err := d.path(ref)
	if err != nil {
		return Info{}, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return Info{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return Info{}, err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, fmt.Errorf("write archive %s: %w", ref, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// The checksum goes last: without it the archive is not complete.
	if err := os.Remove(p + ".sha256"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Info{}, err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return Info{}, err
	}
	if err := writeAtomic(p+".sha256", []byte(sum+"\n")); err != nil {
		return Info{}, err
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return Info{}, err
	}
	return Info{Ref: ref, Bytes: n, SHA256: sum}, nil
}

// Stat returns the complete archive of ref, or ErrNotFound.
func (d *Dir) Stat(_ context.Context, ref string) (Info, error) {
	p, err := d.path(ref)
	if err != nil {
		return Info{}, err
	}
	sum, err := os.ReadFile(p + ".sha256")
	if errors.Is(err, os.ErrNotExist) {
		return Info{}, fmt.Errorf("%s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return Info{}, fmt.Errorf("%s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return Info{}, err
	}
	return Info{Ref: ref, Bytes: fi.Size(), SHA256: strings.TrimSpace(string(sum))}, nil
}

// Open checks the archive of ref against its checksum and opens it.
func (d *Dir) Open(ctx context.Context, ref string) (io.ReadCloser, Info, error) {
	info, err := d.Stat(ctx, ref)
	if err != nil {
		return nil, Info{}, err
	}
	p, _ := d.path(ref)
	f, err := os.Open(p)
	if err != nil {
		return nil, Info{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return nil, Info{}, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != info.SHA256 {
		f.Close()
		return nil, Info{}, fmt.Errorf("%s: %w", ref, ErrCorrupt)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, Info{}, err
	}
	return f, info, nil
}

// Delete removes the archive of ref for good. Deleting a missing archive
// succeeds.
func (d *Dir) Delete(_ context.Context, ref string) error {
	p, err := d.path(ref)
	if err != nil {
		return err
	}
	// The checksum first: a half-deleted archive is incomplete, not corrupt.
	for _, f := range []string{p + ".sha256", p} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delete archive %s: %w", ref, err)
		}
	}
	return syncDir(filepath.Dir(p))
}

// writeAtomic writes data to path through a temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".put-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// syncDir makes a directory's entries (renames, removals) durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer f.Close()
	return f.Sync()
}
