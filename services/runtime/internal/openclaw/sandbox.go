package openclaw

import (
	"os"
	"path/filepath"
)

// Sandbox is the bubblewrap invocation the gateway runs in. The gateway runs
// tools and shell commands for the customer's agent, so it must see nothing
// of the machine but what it needs: its own state directory (read-write),
// the OpenClaw install (read-only) and the system's programs, libraries,
// certificates and name resolution (read-only). Other customers' directories,
// the platform's data and every home directory are simply not there. It gets
// its own pid, ipc, uts and cgroup namespaces and a fresh /tmp; the network
// is shared, because the runtime reaches the gateway on loopback and the
// gateway reaches the model endpoint.
type Sandbox struct {
	// Bwrap is the bubblewrap executable.
	Bwrap string
	// StateDir is the gateway's state directory, the only writable one; it
	// is mounted at the same path inside.
	StateDir string
	// ReadOnly are further directories shown read-only at the same path
	// (the OpenClaw install).
	ReadOnly []string
}

// systemDirs are shown read-only when they exist: programs and libraries.
// /bin, /lib, /lib64 and /sbin are symlinks into /usr on merged-usr systems
// and are recreated as such.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib64"}

// systemFiles are the parts of /etc a Node program needs: name resolution,
// TLS roots, the time zone and the user database (os.userInfo), none of
// which holds a secret.
var systemFiles = []string{
	"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
	"/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/localtime", "/etc/zoneinfo",
	"/etc/passwd", "/etc/group", "/etc/alternatives",
}

// Args returns the bubblewrap argv that runs argv inside the sandbox
// (argv[0] an absolute path). Paths that do not exist on this machine are
// left out.
func (s Sandbox) Args(argv ...string) []string {
	args := []string{s.Bwrap,
		// Die with the runtime, even when it is SIGKILLed; no controlling
		// terminal to inject input into.
		"--die-with-parent", "--new-session",
		"--unshare-all", "--share-net",
		"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
	}
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", target, d)
			}
		default:
			args = append(args, "--ro-bind", d, d)
		}
	}
	for _, f := range systemFiles {
		args = append(args, "--ro-bind-try", f, f)
	}
	for _, d := range s.ReadOnly {
		args = append(args, "--ro-bind", d, d)
	}
	state := filepath.Clean(s.StateDir)
	args = append(args, "--bind", state, state, "--chdir", state, "--")
	return append(args, argv...)
}
