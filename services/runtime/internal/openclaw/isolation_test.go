package openclaw

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Two customers' uids for the tests, far above any real account (the
// process driver's COMPUTE_UID_RANGE is 200000-299999 by default).
const (
	uidA = 3_100_001
	uidB = 3_100_002
)

// rootOrSkip skips a test that needs root (uids, cgroups) outside CI.
func rootOrSkip(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root in CI (customer uids and cgroups)")
		}
		t.Skip("needs root")
	}
}

// tenants lays out two customers' directories as the process driver does
// (a private 0700 directory each, owned by the customer's uid, under a
// traversable root) and a platform data directory (0700, root), each with a
// secret file. It returns the root and the three directories.
func tenants(t *testing.T) (root, a, b, platform string) {
	t.Helper()
	root = t.TempDir()
	// t.TempDir's parent directories are 0700 root: let the customers'
	// uids reach their own directories, as the driver's data dir does.
	for d := root; d != filepath.Clean(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	a, b, platform = filepath.Join(root, "cus_a", "openclaw"), filepath.Join(root, "cus_b", "openclaw"), filepath.Join(root, "platform")
	for _, d := range []struct {
		dir  string
		uid  int
		file string
	}{{a, uidA, "MINE-A"}, {b, uidB, "SECRET-OF-B"}, {platform, 0, "PLATFORM-SECRET"}} {
		if err := os.MkdirAll(d.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.dir, "secret.md"), []byte(d.file), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Dir(d.dir), d.dir, filepath.Join(d.dir, "secret.md")} {
			if p == root {
				continue
			}
			if err := os.Chown(p, d.uid, d.uid); err != nil {
				t.Fatal(err)
			}
			_ = os.Chmod(p, 0o700)
		}
		_ = os.Chmod(filepath.Join(d.dir, "secret.md"), 0o600)
	}
	return root, a, b, platform
}

// asUser runs argv as uid (its own gid, no supplementary groups), the way
// the process driver runs a customer's runtime and so its gateway.
func asUser(uid int, argv ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), NoSetGroups: true},
		Setpgid:    true,
	}
	return cmd
}

// TestSandboxKeepsOneCustomerOutOfAnother runs commands as customer A's
// uid through exactly the bubblewrap arguments A's gateway runs in: A reads
// and writes its own state directory, and neither B's state directory nor
// the platform's data can be read, listed or written (they are not in A's
// sandbox at all); B's processes are not visible to A. Outside the sandbox
// the same reads fail too (the uid and the 0700 directories), which the
// test also checks, so each layer is shown to hold on its own.
func TestSandboxKeepsOneCustomerOutOfAnother(t *testing.T) {
	bwrap := bwrapOrSkip(t)
	rootOrSkip(t)
	_, a, b, platform := tenants(t)
	sbA := Sandbox{Bwrap: bwrap, StateDir: a}
	sbB := Sandbox{Bwrap: bwrap, StateDir: b}

	// B's gateway stand-in: a process in B's sandbox, as B.
	neighbour := asUser(uidB, sbB.Args("/bin/sleep", "300")...)
	if err := neighbour.Start(); err != nil {
		t.Fatalf("start B's sandbox: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-neighbour.Process.Pid, syscall.SIGKILL)
		_ = neighbour.Wait()
	})

	tests := []struct {
		name    string
		sandbox bool
		argv    []string
		wantOK  bool
		wantOut string
	}{
		{"own state readable", true, []string{"/bin/cat", filepath.Join(a, "secret.md")}, true, "MINE-A"},
		{"own state writable", true, []string{"/bin/sh", "-c", "echo NEW > " + filepath.Join(a, "new.md") + " && cat " + filepath.Join(a, "new.md")}, true, "NEW"},
		{"other customer's file", true, []string{"/bin/cat", filepath.Join(b, "secret.md")}, false, "No such file"},
		{"other customer's directory", true, []string{"/bin/ls", b}, false, "No such file"},
		{"platform data", true, []string{"/bin/cat", filepath.Join(platform, "secret.md")}, false, "No such file"},
		{"other customer's processes", true, []string{"/bin/sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"}, true, ""},
		{"without the sandbox: other customer's file", false, []string{"/bin/cat", filepath.Join(b, "secret.md")}, false, "Permission denied"},
		{"without the sandbox: platform data", false, []string{"/bin/cat", filepath.Join(platform, "secret.md")}, false, "Permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := tt.argv
			if tt.sandbox {
				argv = sbA.Args(argv...)
			}
			out, err := asUser(uidA, argv...).CombinedOutput()
			if (err == nil) != tt.wantOK {
				t.Fatalf("%v as uid %d: err = %v, want ok=%v; output %q", tt.argv, uidA, err, tt.wantOK, out)
			}
			if !strings.Contains(string(out), tt.wantOut) {
				t.Errorf("%v: output %q, want it to contain %q", tt.argv, out, tt.wantOut)
			}
			for _, secret := range []string{"SECRET-OF-B", "PLATFORM-SECRET", "sleep 300"} {
				if strings.Contains(string(out), secret) {
					t.Errorf("%v: customer A saw %q: %q", tt.argv, secret, out)
				}
			}
		})
	}
	// Whatever A writes at B's path lands in A's own sandbox, never in B's
	// directory.
	_ = asUser(uidA, sbA.Args("/bin/sh", "-c", "mkdir -p "+b+" && echo x > "+filepath.Join(b, "planted"))...).Run()
	if _, err := os.Stat(filepath.Join(b, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("customer A planted a file in B's state directory (stat: %v)", err)
	}
	if err := syscall.Kill(neighbour.Process.Pid, 0); err != nil {
		t.Errorf("B's sandbox died while A ran: %v", err)
	}
}

// memoryCgroupRoot is cgroup v1's memory hierarchy on this machine (the
// process driver's cgroup of each customer sits under it).
const memoryCgroupRoot = "/sys/fs/cgroup/memory"

// memoryCgroup makes a v1 memory cgroup limited to limitMB (swap included,
// where the kernel accounts it) and removes it at cleanup.
func memoryCgroup(t *testing.T, name string, limitMB int) string {
	t.Helper()
	dir := filepath.Join(memoryCgroupRoot, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for os.Remove(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	limit := strconv.Itoa(limitMB << 20)
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(limit), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), []byte(limit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startInCgroup starts cmd held at its first instruction (a shell waiting
// on its stdin), moves it into cgroup, then lets it exec argv: everything
// it runs is charged to cgroup from the start.
func startInCgroup(t *testing.T, cgroup string, uid int, argv ...string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := asUser(uid, append([]string{"/bin/sh", "-c", `read go && exec "$@"`, "held"}, argv...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cgroup, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("move into cgroup: %v", err)
	}
	if _, err := io.WriteString(in, "go\n"); err != nil {
		t.Fatal(err)
	}
	in.Close()
	return cmd, out
}

// oomKills reads the cgroup's oom_kill count (memory.oom_control); -1 when
// the kernel does not report it (which fails the tests' checks for a kill).
func oomKills(t *testing.T, cgroup string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cgroup, "memory.oom_control"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

// TestSandboxOutOfMemoryStaysInItsGroup: a process in customer A's sandbox
// (as A, in A's memory cgroup) that allocates past A's limit is killed by
// the kernel, while customer B's sandboxed process in its own group beside
// it lives on, untouched: the gateway is the runtime's child and so in the
// customer's cgroup, and so is everything its agent runs.
func TestSandboxOutOfMemoryStaysInItsGroup(t *testing.T) {
	bwrap := bwrapOrSkip(t)
	rootOrSkip(t)
	if _, err := os.Stat(filepath.Join(memoryCgroupRoot, "memory.limit_in_bytes")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no cgroup v1 memory controller at %s in CI", memoryCgroupRoot)
		}
		t.Skip("no cgroup v1 memory controller")
	}
	_, a, b, _ := tenants(t)
	suffix := fmt.Sprintf("claw-sandbox-test-%d", os.Getpid())
	cgA := memoryCgroup(t, suffix+"-a", 64)
	cgB := memoryCgroup(t, suffix+"-b", 64)

	neighbour, _ := startInCgroup(t, cgB, uidB, Sandbox{Bwrap: bwrap, StateDir: b}.Args("/bin/sleep", "300")...)
	t.Cleanup(func() {
		_ = syscall.Kill(-neighbour.Process.Pid, syscall.SIGKILL)
		_ = neighbour.Wait()
	})
	// 256 MiB written, four times A's limit.
	hog, out := startInCgroup(t, cgA, uidA, Sandbox{Bwrap: bwrap, StateDir: a}.Args(
		"/usr/bin/python3", "-c", `b = bytearray(b"x") * (256 << 20); print("survived", len(b))`)...)
	done := make(chan error, 1)
	go func() { done <- hog.Wait() }()
	select {
	case err := <-done:
		if err == nil || strings.Contains(out.String(), "survived") {
			t.Fatalf("the hog was not killed: err %v, output %q", err, out.String())
		}
		t.Logf("hog ended: %v", err)
	case <-time.After(2 * time.Minute):
		_ = syscall.Kill(-hog.Process.Pid, syscall.SIGKILL)
		t.Fatal("the hog still runs after 2 minutes")
	}
	if n := oomKills(t, cgA); n < 1 {
		t.Errorf("A's cgroup reports %d out-of-memory kills, want the hog's", n)
	}
	if n := oomKills(t, cgB); n > 0 {
		t.Errorf("B's cgroup reports %d out-of-memory kills, want none", n)
	}
	if err := syscall.Kill(neighbour.Process.Pid, 0); err != nil {
		t.Fatalf("B's sandbox died with A's hog: %v", err)
	}
	procs, _ := os.ReadFile(filepath.Join(cgB, "cgroup.procs"))
	if len(strings.Fields(string(procs))) < 2 {
		t.Errorf("B's group holds %q, want bubblewrap and its sleep still there", procs)
	}
}
