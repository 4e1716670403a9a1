package process

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/railway/internal/store"
)

// BenchmarkStart measures what isolation adds to starting a runtime:
// "plain" starts and reaps /bin/true as the service's own user; "isolated"
// does what every isolated start does around it — read the customer's uid
// from Postgres, take back its private directory, create its cgroup with
// the plan's limits, start it as that uid stopped at exec, move it into the
// group, release it — and removes the group once it has exited. The cost
// per start is the difference (the runtime's own start-up is the same in
// both and left out).
//
//	go test -run '^$' -bench BenchmarkStart -benchtime 200x ./internal/adapters/process/
func BenchmarkStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root, as isolation does")
	}
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			run(b, exec.Command("/bin/true"), nil)
		}
	})
	b.Run("isolated", func(b *testing.B) {
		ctx := context.Background()
		st, err := store.Open(ctx, pgtest.NewPool(b))
		if err != nil {
			b.Fatal(err)
		}
		work, err := os.MkdirTemp("", "claw-bench-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(work)
		if err := os.Chmod(work, 0o711); err != nil {
			b.Fatal(err)
		}
		o := Options{Binary: "/bin/true", Store: st, WorkDir: work}
		o.defaults()
		o.Isolation.Mode, o.Isolation.CgroupParent = IsolationOn, "clawdbot-bench"
		iso, err := setupIsolation(&o, slog.New(slog.DiscardHandler), os.Geteuid())
		if err != nil {
			b.Fatal(err)
		}
		d := &Driver{o: o, iso: iso}
		in := store.Instance{CustomerID: "cus_bench", ServiceName: "claw-bench", VCPUs: 0.5, MemoryMB: 512}
		defer st.FreeUID(ctx, in.CustomerID) //nolint:errcheck
		for b.Loop() {
			t, err := d.prepareTenant(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command("/bin/true")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			t.isolate(cmd)
			run(b, cmd, t)
		}
	})
}

// run starts cmd (in t's cgroup when t is set), waits for it and removes
// the group.
func run(b *testing.B, cmd *exec.Cmd, t *tenant) {
	b.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	var err error
	if t == nil {
		err = startIn(cmd, nil)
	} else {
		err = startIn(cmd, t.group)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	if t != nil {
		if err := t.group.Remove(); err != nil {
			b.Fatal(err)
		}
	}
}
