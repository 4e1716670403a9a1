package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// NewV1 returns a Manager of cgroup v1 groups under parent in the memory,
// cpu and pids hierarchies mounted at roots (by controller), creating the
// parent group in each.
func NewV1(roots map[string]string, parent string) (*Manager, error) {
	m := &Manager{version: 1, dirs: map[string]string{}}
	for _, c := range controllers {
		root, ok := roots[c]
		if !ok {
			return nil, fmt.Errorf("cgroup v1: no %s hierarchy", c)
		}
		dir := filepath.Join(root, parent)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup v1: %w", err)
		}
		m.dirs[c] = dir
	}
	return m, nil
}

// createV1 makes the group in each hierarchy and writes its limits:
// memory.limit_in_bytes (and memory.memsw.limit_in_bytes, so swap cannot
// extend it, when swap accounting is on), cpu.cfs_period_us and
// cpu.cfs_quota_us, pids.max.
func (g *Group) createV1(l Limits) error {
	for _, d := range g.dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	mem, cpu, pids := g.dirs[0], g.dirs[1], g.dirs[2]
	bytes := strconv.FormatInt(l.MemoryBytes, 10)
	if err := write(mem, "memory.limit_in_bytes", bytes); err != nil {
		return err
	}
	if exists(mem, "memory.memsw.limit_in_bytes") {
		if err := write(mem, "memory.memsw.limit_in_bytes", bytes); err != nil {
			return err
		}
	}
	if err := write(cpu, "cpu.cfs_period_us", strconv.FormatInt(l.CPUPeriod.Microseconds(), 10)); err != nil {
		return err
	}
	if err := write(cpu, "cpu.cfs_quota_us", strconv.FormatInt(l.CPUQuota.Microseconds(), 10)); err != nil {
		return err
	}
	return write(pids, "pids.max", strconv.FormatInt(l.Pids, 10))
}
