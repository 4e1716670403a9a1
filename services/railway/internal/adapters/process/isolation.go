package process

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"syscall"

	"clawdbot.cloud/services/railway/internal/cgroup"
)

// Isolation modes (Isolation.Mode).
const (
	// IsolationAuto isolates when the service runs as root and falls back
	// to running runtimes as the service's own user, with a warning, when
	// it does not (a developer's `make run`).
	IsolationAuto = "auto"
	// IsolationOn isolates or refuses to start: for production.
	IsolationOn = "on"
	// IsolationOff runs runtimes as the service's own user without cgroups.
	IsolationOff = "off"
)

// Defaults of Isolation.
const (
	DefaultUIDMin       = 200000
	DefaultUIDMax       = 299999
	DefaultCgroupParent = "clawdbot"
	// DefaultPids bounds a runtime's processes and threads. A Go runtime
	// uses a few dozen threads; the rest is room for the tools a skill
	// starts (a headless browser runs ~100 threads). It stops a fork bomb
	// long before the host's pid space (32768 on a default kernel) runs out.
	DefaultPids = 256
	// DefaultOpenClawPids bounds a runtime on the openclaw engine: the
	// gateway's tree held 30-48 tasks at its peak in the gateway tests
	// (bubblewrap, openclaw-gateway with ~15 threads, two node helpers with
	// 7 each) beside the runtime's ~15, and OpenClaw's own browser tool
	// starts a Chromium (~100 threads, more with each renderer), which 256
	// would leave little room for. Still far below the host's pid space.
	DefaultOpenClawPids = 1024
)

// Isolation configures how runtimes are kept from each other and from the
// platform: each customer's runtime runs under its own uid and gid (from
// [UIDMin, UIDMax], persisted per customer), with no supplementary groups,
// in its own cgroup with its plan's limits, in a private 0700 directory.
type Isolation struct {
	// Mode is IsolationAuto (the default), IsolationOn or IsolationOff.
	Mode string
	// UIDMin and UIDMax bound the uids (and gids) given to runtimes.
	UIDMin, UIDMax int
	// CgroupMount is where control groups are mounted (cgroup.DefaultMount).
	CgroupMount string
	// CgroupParent is the group that holds the runtimes' groups.
	CgroupParent string
	// Pids is the most processes and threads a runtime's group may hold.
	Pids int64
	// OpenClawPids is Pids for a runtime on the openclaw engine (its
	// gateway and the tools it runs share the group); 0 means
	// DefaultOpenClawPids.
	OpenClawPids int64
}

// isolation is the Driver's isolation once set up; nil when off.
type isolation struct {
	lo, hi int
	pids   int64
	// openclawPids is pids for the openclaw engine.
	openclawPids int64
	cgroups      *cgroup.Manager
	// tenants holds the runtimes' private directories (mode 0711: they can
	// reach their own, not list the others).
	tenants string
}

// setupIsolation checks and prepares isolation for o in a process of
// effective uid euid, returning nil (with a warning) when it is off. As root it also makes this process non-dumpable,
// so /proc/<pid>/environ and the like are root's alone even for a process
// of the same uid.
func setupIsolation(o *Options, log *slog.Logger, euid int) (*isolation, error) {
	i := o.Isolation
	switch i.Mode {
	case IsolationOff:
		log.Warn("runtime isolation is off: every runtime runs as this service's user, without cgroup limits")
		return nil, nil
	case IsolationAuto:
		if euid != 0 {
			name := "uid " + fmt.Sprint(euid)
			if u, err := user.LookupId(fmt.Sprint(euid)); err == nil {
				name = u.Username
			}
			log.Warn("not running as root: runtimes run as this service's user " + name +
				", with no uid, cgroup or data-directory isolation (development fallback; production runs as root)")
			return nil, nil
		}
	case IsolationOn:
		if euid != 0 {
			return nil, errors.New("runtime isolation is on but the service does not run as root")
		}
	default:
		return nil, fmt.Errorf("runtime isolation mode %q: want auto, on or off", i.Mode)
	}
	if i.UIDMin < 1000 || i.UIDMax < i.UIDMin {
		return nil, fmt.Errorf("runtime uid range %d-%d: want 1000 <= min <= max", i.UIDMin, i.UIDMax)
	}
	if o.WorkDir == "" {
		return nil, errors.New("runtime isolation needs a work directory for the runtimes' private directories")
	}
	if err := worldExecutable(o.Binary); err != nil {
		return nil, err
	}
	tenants, err := tenantsDir(o.WorkDir)
	if err != nil {
		return nil, err
	}
	cg, err := cgroup.Detect(i.CgroupMount, i.CgroupParent)
	if err != nil {
		return nil, err
	}
	if err := setNotDumpable(); err != nil {
		return nil, err
	}
	log.Info("runtime isolation on", "uid_range", fmt.Sprintf("%d-%d", i.UIDMin, i.UIDMax),
		"cgroup_version", cg.Version(), "cgroup_parent", i.CgroupParent, "pids_limit", i.Pids, "openclaw_pids_limit", cmp.Or(i.OpenClawPids, DefaultOpenClawPids), "tenants_dir", tenants)
	return &isolation{lo: i.UIDMin, hi: i.UIDMax, pids: i.Pids, openclawPids: cmp.Or(i.OpenClawPids, DefaultOpenClawPids),
		cgroups: cg, tenants: tenants}, nil
}

// setNotDumpable makes this process non-dumpable (PR_SET_DUMPABLE 0): its
// /proc entries (environ, mem, fd...) become root's and no process of
// another uid may ptrace it.
func setNotDumpable() error {
	const prSetDumpable = 4
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", e)
	}
	return nil
}

// worldExecutable checks that a runtime of any uid can run binary: it and
// every directory above it must be executable by others.
func worldExecutable(binary string) error {
	for p := binary; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("runtime binary: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("runtime binary %s: %s (mode %#o) is not executable by others, so runtimes under "+
				"their own uid cannot run it: `chmod o+x %s`", binary, p, fi.Mode().Perm(), p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// tenantsDir creates <work>/tenants (0711, ours) and checks that every
// directory above it can be traversed by others, so a runtime reaches its
// own directory and nothing else.
func tenantsDir(work string) (string, error) {
	abs, err := filepath.Abs(work)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("work directory: %w", err)
	}
	// The service's own directory lets others through (not read or list).
	if fi, err := os.Stat(abs); err != nil {
		return "", err
	} else if perm := fi.Mode().Perm(); perm&0o001 == 0 {
		if err := os.Chmod(abs, perm|0o001); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(abs, "tenants")
	if err := os.Mkdir(dir, 0o711); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("tenants directory: %w", err)
	}
	// Refuse a directory someone else made (or a link to one) in a shared
	// place such as /tmp.
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() {
		return "", fmt.Errorf("tenants directory %s is not a directory of this service's user", dir)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return "", err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return "", fmt.Errorf("directory %s (mode %#o) cannot be traversed by the runtimes' uids, so they "+
				"cannot reach their directories under %s: `chmod o+x %s` (0711 lets them through without listing it)",
				p, fi.Mode().Perm(), dir, p)
		}
		if p == filepath.Dir(p) {
			return dir, nil
		}
	}
}

// tenant is what one runtime start runs under.
type tenant struct {
	uid   int
	dir   string
	group *cgroup.Group
}

// privateDir creates (or takes back) the runtime's 0700 directory, owned by
// uid, with a tmp/ of its own inside.
func privateDir(dir string, uid int) error {
	for _, d := range []string{dir, filepath.Join(dir, "tmp")} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("runtime directory: %w", err)
		}
		fi, err := os.Lstat(d)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("runtime directory %s is not a directory", d)
		}
		if err := os.Lchown(d, uid, uid); err != nil {
			return fmt.Errorf("runtime directory: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("runtime directory: %w", err)
		}
	}
	return nil
}
