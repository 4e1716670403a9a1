package platform_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/busauth"
)

// TestRuntimeIsIsolatedFromThePlatform: a customer's runtime started by the
// whole platform runs under its own uid (not root, as the platform does
// here and in CI), and that uid cannot read the platform's data directory
// (the dev encryption key, the NATS store, the services' directories) nor
// the platform's environment. The probes are real processes under the
// customer's uid; as root every one of them would succeed.
func TestRuntimeIsIsolatedFromThePlatform(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root, as the platform's runtime isolation does (CI and the development machine run as root)")
	}
	h := start(t, nil)
	h.signup(t, "starter")
	var uid int
	if err := h.adminConn(t).QueryRow(context.Background(), `SELECT uid FROM railway.tenant_ids`).Scan(&uid); err != nil {
		t.Fatalf("the customer's uid: %v", err)
	}
	uids := runtimeUIDs(t)
	if len(uids) != 1 || uids[0] != uid {
		t.Fatalf("runtime processes run as uids %v, want exactly the customer's %d", uids, uid)
	}

	key := filepath.Join(h.dir, "encryption.key")
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev encryption key: %v, want mode 0600", err)
	}
	probes := [][]string{
		{"cat", key},
		{"ls", filepath.Join(h.dir, "nats")},
		{"ls", filepath.Join(h.dir, platform.NATSAuthDir)},
		{"cat", busauth.PasswordFile(filepath.Join(h.dir, platform.NATSAuthDir), busauth.Operator)},
		{"ls", h.dir},
		{"ls", filepath.Join(h.dir, "railway")},
		{"ls", filepath.Join(h.dir, "railway", "tenants")},
		{"cat", "/proc/" + strconv.Itoa(os.Getpid()) + "/environ"},
	}
	for _, argv := range probes {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}},
		}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("uid %d: %s: %v %q, want Permission denied", uid, strings.Join(argv, " "), err, out)
		}
	}
}

// runtimeUIDs lists the uids of the live runtime processes.
func runtimeUIDs(t *testing.T) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != runtimeBinary {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(status), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
				uid, _ := strconv.Atoi(f[1])
				out = append(out, uid)
			}
		}
	}
	return out
}
