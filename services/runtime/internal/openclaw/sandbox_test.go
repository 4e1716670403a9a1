package openclaw

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// bwrapOrSkip returns bubblewrap's path; it skips only outside CI (.ci/run
// installs bubblewrap).
func bwrapOrSkip(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("bwrap")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bwrap not found in CI (apt-get install bubblewrap)")
		}
		t.Skip("bwrap not installed")
	}
	return p
}

// TestSandboxHidesOtherDirectories runs real commands through the argv the
// gateway runs in: the state directory is readable and writable, the
// install is readable but not writable, and another customer's directory
// (a sibling of the state directory) and the test's own files do not exist
// inside.
func TestSandboxHidesOtherDirectories(t *testing.T) {
	bwrap := bwrapOrSkip(t)
	root := t.TempDir()
	state := filepath.Join(root, "customer-a")
	other := filepath.Join(root, "customer-b")
	install := filepath.Join(root, "install")
	for _, d := range []string{state, other, install} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(state, "mine.md"), []byte("MINE"), 0o600))
	must(os.WriteFile(filepath.Join(other, "secret.md"), []byte("THEIRS"), 0o600))
	must(os.WriteFile(filepath.Join(install, "lib.js"), []byte("LIB"), 0o644))
	sb := Sandbox{Bwrap: bwrap, StateDir: state, ReadOnly: []string{install}}
	run := func(argv ...string) (string, error) {
		args := sb.Args(argv...)
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		return string(out), err
	}

	tests := []struct {
		name    string
		argv    []string
		wantOK  bool
		wantOut string
	}{
		{"own state readable", []string{"/bin/cat", filepath.Join(state, "mine.md")}, true, "MINE"},
		{"own state writable", []string{"/bin/sh", "-c", "echo NEW > " + filepath.Join(state, "new.md") + " && cat " + filepath.Join(state, "new.md")}, true, "NEW"},
		{"install readable", []string{"/bin/cat", filepath.Join(install, "lib.js")}, true, "LIB"},
		{"install read-only", []string{"/bin/sh", "-c", "echo x > " + filepath.Join(install, "lib.js")}, false, ""},
		{"other customer invisible", []string{"/bin/cat", filepath.Join(other, "secret.md")}, false, "No such file"},
		{"other customer not listable", []string{"/bin/ls", root}, true, ""},
		{"platform files invisible", []string{"/bin/ls", "/work", "/root", "/home"}, false, "No such file"},
		{"fresh tmp", []string{"/bin/ls", "-A", "/tmp"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(tt.argv...)
			if (err == nil) != tt.wantOK {
				t.Fatalf("%v: err = %v, want ok=%v; output %q", tt.argv, err, tt.wantOK, out)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("%v: output %q, want it to contain %q", tt.argv, out, tt.wantOut)
			}
			if strings.Contains(out, "THEIRS") {
				t.Errorf("%v: another customer's file leaked into the sandbox: %q", tt.argv, out)
			}
		})
	}
	// Listing the common parent shows only what was mounted: the state
	// directory and the install, not the sibling customer.
	out, err := run("/bin/ls", root)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(out)
	slices.Sort(got)
	if !slices.Equal(got, []string{"customer-a", "install"}) {
		t.Errorf("ls %s inside the sandbox = %v, want [customer-a install]", root, got)
	}
}
