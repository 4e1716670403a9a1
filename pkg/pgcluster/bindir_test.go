package pgcluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fakeInstall(t *testing.T, root, version string, progs ...string) string {
	t.Helper()
	bin := filepath.Join(root, version, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

func TestFindBinDir(t *testing.T) {
	root := t.TempDir()
	pattern := filepath.Join(root, "*", "bin")
	fakeInstall(t, root, "9.6", serverBinaries...)
	newest := fakeInstall(t, root, "15", serverBinaries...)
	fakeInstall(t, root, "16", "pg_config") // client only
	clientOnly := filepath.Join(root, "16", "bin")

	tests := []struct {
		name, preferred, want string
	}{
		{"newest complete install", "", newest},
		{"pg_config without a server falls back", clientOnly, newest},
		{"pg_config with a server wins", filepath.Join(root, "9.6", "bin"), filepath.Join(root, "9.6", "bin")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findBinDir(tt.preferred, pattern)
			if err != nil || got != tt.want {
				t.Errorf("findBinDir = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFindBinDirMissing(t *testing.T) {
	_, err := findBinDir("", filepath.Join(t.TempDir(), "*", "bin"))
	if !errors.Is(err, ErrNoBinaries) || !strings.Contains(err.Error(), "postgresql-15") {
		t.Fatalf("err = %v; want ErrNoBinaries naming postgresql-15", err)
	}
}

func TestUntraversableParent(t *testing.T) {
	id, err := currentIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if !id.switching() {
		t.Log("not root: PostgreSQL runs as this user, parents need no check")
		return
	}
	// t.TempDir's parent is 0700 and owned by root.
	err = prepareDir(filepath.Join(t.TempDir(), "cluster"), id)
	if err == nil || !strings.Contains(err.Error(), "cannot be traversed by user postgres") {
		t.Fatalf("prepareDir = %v; want an error about traversal", err)
	}
}
