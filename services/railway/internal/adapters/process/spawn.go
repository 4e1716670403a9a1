package process

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/cgroup"
	"clawdbot.cloud/services/railway/internal/store"
)

// prepareTenant sets up what the next runtime of in runs under: its uid
// (allocated once per customer, persisted), its private directory and a
// fresh cgroup with the instance's current plan limits. It returns nil when
// isolation is off.
func (d *Driver) prepareTenant(ctx context.Context, in store.Instance) (*tenant, error) {
	iso := d.iso
	if iso == nil {
		return nil, nil
	}
	uid, err := d.o.Store.UID(ctx, in.CustomerID, iso.lo, iso.hi)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(iso.tenants, in.ServiceName)
	if err := privateDir(dir, uid); err != nil {
		return nil, err
	}
	pids := iso.pids
	if engine, err := engineOf(d.o.Engines, in.Plan); err == nil && engine == plans.EngineOpenClaw {
		pids = iso.openclawPids
	}
	g, err := iso.cgroups.Create(in.ServiceName, cgroup.ForPlan(in.VCPUs, in.MemoryMB, pids))
	if err != nil {
		return nil, err
	}
	return &tenant{uid: uid, dir: dir, group: g}, nil
}

// isolate makes cmd run as t: its uid and gid with no supplementary groups,
// in its private directory, with HOME and TMPDIR there (the base
// environment's point at the service's).
func (t *tenant) isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr.Credential = &syscall.Credential{
		Uid: uint32(t.uid), Gid: uint32(t.uid),
		Groups: []uint32{}, // setgroups(0): none of the service's groups
	}
	cmd.Dir = t.dir
	cmd.Env = append(cmd.Env, "HOME="+t.dir, "TMPDIR="+filepath.Join(t.dir, "tmp"))
}

// startIn starts cmd inside g, so that the runtime runs no instruction of
// its own outside the group:
//   - cgroup v2: the child is cloned straight into the group
//     (CLONE_INTO_CGROUP, SysProcAttr.UseCgroupFD);
//   - cgroup v1 has no such clone: the child is started traced, so the
//     kernel stops it right after execve, before the runtime's first
//     instruction; it is moved into the group while stopped, then let go
//     (PTRACE_DETACH). The only code that ever ran outside the group is
//     Go's own fork-exec path in the child.
//
// A nil g starts cmd plainly.
func startIn(cmd *exec.Cmd, g *cgroup.Group) error {
	if g == nil {
		return cmd.Start()
	}
	f, v2, err := g.FD()
	if err != nil {
		return err
	}
	if v2 {
		defer f.Close()
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(f.Fd())
		return cmd.Start()
	}
	// ptrace requests must come from the thread that traces the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr.Ptrace = true
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	var ws syscall.WaitStatus
	_, err = syscall.Wait4(pid, &ws, syscall.WALL, nil)
	switch {
	case err != nil:
		err = fmt.Errorf("wait for the runtime to stop at exec: %w", err)
	case !ws.Stopped():
		err = fmt.Errorf("runtime did not stop at exec (status %#x)", ws)
	default:
		if err = g.Enter(pid); err == nil {
			if err = syscall.PtraceDetach(pid); err != nil {
				err = fmt.Errorf("release the runtime: %w", err)
			}
		}
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	return nil
}
