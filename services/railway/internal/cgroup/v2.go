package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NewV2 returns a Manager of cgroup v2 groups under parent in the unified
// hierarchy mounted at root. It creates the parent group and enables the
// memory, cpu and pids controllers for the children of root and of parent
// (the kernel allows that only where the controllers are delegated to us).
func NewV2(root, parent string) (*Manager, error) {
	dir := filepath.Join(root, parent)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup v2: %w", err)
	}
	enable := "+" + strings.Join(controllers, " +")
	for _, d := range []string{root, dir} {
		if err := write(d, "cgroup.subtree_control", enable); err != nil {
			return nil, fmt.Errorf("cgroup v2: enable %s in %s: %w", enable, d, err)
		}
	}
	return &Manager{version: 2, dirs: map[string]string{"": dir}}, nil
}

// createV2 makes the group and writes its limits: memory.max,
// memory.swap.max 0 (swap cannot extend it), cpu.max "quota period" and
// pids.max.
func (g *Group) createV2(l Limits) error {
	d := g.dirs[0]
	if err := os.Mkdir(d, 0o755); err != nil {
		return err
	}
	files := [][2]string{
		{"memory.max", strconv.FormatInt(l.MemoryBytes, 10)},
		{"memory.swap.max", "0"},
		{"cpu.max", fmt.Sprintf("%d %d", l.CPUQuota.Microseconds(), l.CPUPeriod.Microseconds())},
		{"pids.max", strconv.FormatInt(l.Pids, 10)},
	}
	for _, f := range files {
		if f[0] == "memory.swap.max" && onCgroupFS(d) && !exists(d, f[0]) {
			continue // no swap accounting: no swap to limit
		}
		if err := write(d, f[0], f[1]); err != nil {
			return fmt.Errorf("%s: %w", f[0], err)
		}
	}
	return nil
}

// FD opens the group's directory, for SysProcAttr.CgroupFD: a child cloned
// into it (CLONE_INTO_CGROUP) runs no instruction outside the group. It is
// v2 only; ok is false on v1, where the child is moved in with Enter.
func (g *Group) FD() (f *os.File, ok bool, err error) {
	if g.m.version != 2 {
		return nil, false, nil
	}
	f, err = os.Open(g.dirs[0])
	if err != nil {
		return nil, false, fmt.Errorf("cgroup %s: %w", g.name, err)
	}
	return f, true, nil
}
