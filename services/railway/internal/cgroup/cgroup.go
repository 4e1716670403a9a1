// Package cgroup puts each customer's runtime in a control group of its own
// with its plan's memory, CPU and process limits, on cgroup v2 where its
// controllers are available and on cgroup v1 otherwise.
//
// The layout is <root>/<parent>/<name> (v2) or <mount>/<parent>/<name> in
// each of the v1 memory, cpu and pids hierarchies. A group lives as long as
// one runtime process: it is created just before the process starts, with
// the limits of the plan the instance has then, and removed (whatever is
// left in it killed) once the process has exited.
package cgroup

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultMount is where the kernel's control groups are mounted.
const DefaultMount = "/sys/fs/cgroup"

// Limits are the resource limits of one group.
type Limits struct {
	// MemoryBytes is the most memory (anonymous, page cache and kernel
	// memory) the group's processes may use; beyond it the kernel reclaims,
	// then OOM-kills a process of the group. Swap is not allowed.
	MemoryBytes int64
	// CPUQuota and CPUPeriod: the group's processes together run at most
	// CPUQuota in every CPUPeriod (0.5 vCPU = 50ms per 100ms).
	CPUQuota, CPUPeriod time.Duration
	// Pids is the most processes and threads the group may hold at once.
	Pids int64
}

// ForPlan returns the limits of a compute size: memoryMB MiB of memory,
// vcpus CPUs over a 100ms period, and pids tasks.
func ForPlan(vcpus float64, memoryMB int, pids int64) Limits {
	const period = 100 * time.Millisecond
	return Limits{
		MemoryBytes: int64(memoryMB) << 20,
		CPUQuota:    time.Duration(math.Ceil(vcpus * float64(period))),
		CPUPeriod:   period,
		Pids:        pids,
	}
}

// Manager creates groups under one parent group.
type Manager struct {
	version int
	// dirs are the parent group's directories: one (v2) or one per v1
	// hierarchy, by controller.
	dirs map[string]string
}

// controllers are the ones a group needs.
var controllers = []string{"memory", "cpu", "pids"}

// Detect returns a Manager for parent under mount (DefaultMount when
// empty): cgroup v2 when the unified hierarchy mounted there offers the
// memory, cpu and pids controllers, else cgroup v1 when the three v1
// hierarchies are mounted there, else an error. The parent groups are
// created, and on v2 the controllers enabled for their children.
func Detect(mount, parent string) (*Manager, error) {
	if mount == "" {
		mount = DefaultMount
	}
	if b, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers")); err == nil {
		have := strings.Fields(string(b))
		if hasAll(have, controllers) {
			return NewV2(mount, parent)
		}
	}
	roots := map[string]string{}
	for _, c := range controllers {
		dir := filepath.Join(mount, c)
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			return nil, fmt.Errorf("cgroup: neither cgroup v2 with %s at %s nor a cgroup v1 %s hierarchy (%s)",
				strings.Join(controllers, ", "), mount, c, dir)
		}
		roots[c] = dir
	}
	return NewV1(roots, parent)
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// Version is 1 or 2.
func (m *Manager) Version() int { return m.version }

// Dir returns the directory of the group name in the hierarchy of
// controller (v2 has one hierarchy: controller is ignored).
func (m *Manager) Dir(controller, name string) string {
	if m.version == 2 {
		controller = ""
	}
	return filepath.Join(m.dirs[controller], name)
}

// Group is one runtime's control group.
type Group struct {
	m    *Manager
	name string
	// dirs are its directories: one (v2) or one per v1 hierarchy.
	dirs []string
}

// Create makes the group name with limits l. A group of that name left
// behind (by a crash of the service) is removed first, processes included.
func (m *Manager) Create(name string, l Limits) (*Group, error) {
	if name == "" || strings.ContainsAny(name, "/.") {
		return nil, fmt.Errorf("cgroup: bad group name %q", name)
	}
	g := &Group{m: m, name: name}
	for _, c := range m.order() {
		g.dirs = append(g.dirs, filepath.Join(m.dirs[c], name))
	}
	if err := g.Remove(); err != nil {
		return nil, err
	}
	var err error
	if m.version == 2 {
		err = g.createV2(l)
	} else {
		err = g.createV1(l)
	}
	if err != nil {
		_ = g.Remove()
		return nil, fmt.Errorf("cgroup %s: %w", name, err)
	}
	return g, nil
}

// Remove removes the group name if it exists, killing what runs in it: for
// a group a crashed service may have left behind.
func (m *Manager) Remove(name string) error {
	if name == "" || strings.ContainsAny(name, "/.") {
		return fmt.Errorf("cgroup: bad group name %q", name)
	}
	g := &Group{m: m, name: name}
	for _, c := range m.order() {
		g.dirs = append(g.dirs, filepath.Join(m.dirs[c], name))
	}
	return g.Remove()
}

// order lists the manager's hierarchies in a fixed order.
func (m *Manager) order() []string {
	if m.version == 2 {
		return []string{""}
	}
	return controllers
}

// Name is the group's name.
func (g *Group) Name() string { return g.name }

// Enter moves pid into the group (into each v1 hierarchy).
func (g *Group) Enter(pid int) error {
	for _, d := range g.dirs {
		if err := write(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("cgroup %s: enter %d: %w", g.name, pid, err)
		}
	}
	return nil
}

// Contains reports whether pid is in the group (in every v1 hierarchy).
func (g *Group) Contains(pid int) bool {
	for _, d := range g.dirs {
		if !slicesContains(procs(d), pid) {
			return false
		}
	}
	return len(g.dirs) > 0
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Remove kills whatever still runs in the group and removes its
// directories. Removing a group that does not exist succeeds.
func (g *Group) Remove() error {
	var errs []error
	for _, d := range g.dirs {
		if err := removeDir(d); err != nil {
			errs = append(errs, fmt.Errorf("cgroup %s: %w", g.name, err))
		}
	}
	return errors.Join(errs...)
}

// removeDir kills the processes of the group directory d and removes it,
// retrying while the killed processes are still being torn down.
func removeDir(d string) error {
	if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if !onCgroupFS(d) {
		return os.RemoveAll(d) // a plain directory standing in for one (tests)
	}
	// v2 kills the whole group at once; v1 (and a v2 without cgroup.kill)
	// signals the processes one by one.
	if exists(d, "cgroup.kill") {
		_ = write(d, "cgroup.kill", "1")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, pid := range procs(d) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		err := syscall.Rmdir(d)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove %s: %w", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// onCgroupFS reports whether d is on a cgroup (v1 or v2) file system.
func onCgroupFS(d string) bool {
	const cgroupMagic, cgroup2Magic = 0x27e0eb, 0x63677270
	var st syscall.Statfs_t
	if err := syscall.Statfs(d, &st); err != nil {
		return false
	}
	return st.Type == cgroupMagic || st.Type == cgroup2Magic
}

// exists reports whether d has the control file name (optional ones depend
// on the kernel's version and configuration).
func exists(d, name string) bool {
	_, err := os.Stat(filepath.Join(d, name))
	return err == nil
}

// procs lists the processes of the group directory d.
func procs(d string) []int {
	b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// write writes value to the control file name of d. Control files exist in
// a real group; the file is created only in a plain directory (tests).
func write(d, name, value string) error {
	return os.WriteFile(filepath.Join(d, name), []byte(value), 0o644)
}

// OOMKills returns how many processes of the group the kernel has killed
// for exceeding its memory (v2 memory.events, v1 memory.oom_control), or 0
// when unknown.
func (g *Group) OOMKills() int {
	file := "memory.oom_control"
	if g.m.version == 2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(g.m.Dir("memory", g.name), file))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
