package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// CPUTime is the processor time a platform running in this process has
// used so far, by part.
type CPUTime struct {
	// Services is this process: every service, in clawctl dev and bench
	// (and the runtimes it has reaped).
	Services time.Duration
	// Runtimes is the customer runtimes running (processes of the runtime
	// binary).
	Runtimes time.Duration
	// Postgres is the platform's Postgres server: its postmaster and
	// children, with the backends that exited.
	Postgres time.Duration
	// PostgresBy splits Postgres by who used it (see PostgresPart); set by
	// Sub, for the time between two samples.
	PostgresBy map[string]time.Duration

	// pg is each Postgres process of the sample (see pgProcess);
	// postmaster is the postmaster's pid and children the time of its
	// children that exited (cutime + cstime), which pg's entry for the
	// postmaster leaves out.
	pg         map[int]pgProcess
	postmaster int
	children   time.Duration
}

// pgProcess is one Postgres process of a sample: who it works for, when
// it started (clock ticks after boot: a pid reused by a new process has
// another) and its processor time, with that of children it waited for.
type pgProcess struct {
	part  string
	start int64
	used  time.Duration
}

// Parts of PostgresBy beside the roles of backends.
const (
	// PartExited is what backends that exited between the samples used
	// after the first (all of it for those started after it): the
	// connections of short-lived clients, among them the pool's.
	PartExited = "exited backends"
	// PartCustomers is the backends of customer roles (claw_<hex>: the
	// runtimes).
	PartCustomers = "customers"
	// PartPostmaster is the postmaster itself.
	PartPostmaster = "postmaster"
)

// Total is the sum of the parts.
func (c CPUTime) Total() time.Duration { return c.Services + c.Runtimes + c.Postgres }

// Sub is c minus earlier, part by part, with the Postgres time split by
// who used it: a backend alive at both samples counts what it used
// between them, one started after the first all it used, and what exited
// backends used after the first sample (the postmaster's children's time
// grew by all they ever used) is PartExited.
func (c CPUTime) Sub(earlier CPUTime) CPUTime {
	d := CPUTime{Services: c.Services - earlier.Services, Runtimes: c.Runtimes - earlier.Runtimes, Postgres: c.Postgres - earlier.Postgres}
	if c.pg == nil || earlier.pg == nil || c.postmaster != earlier.postmaster {
		return d
	}
	d.PostgresBy = map[string]time.Duration{}
	exited := c.children - earlier.children
	for pid, p := range c.pg {
		e, seen := earlier.pg[pid]
		if seen && e.start != p.start {
			exited -= e.used // the pid of an exited process, reused
			e = pgProcess{}
		}
		d.PostgresBy[p.part] += p.used - e.used
	}
	for pid, p := range earlier.pg {
		if _, alive := c.pg[pid]; !alive {
			exited -= p.used
		}
	}
	d.PostgresBy[PartExited] += exited
	for part, used := range d.PostgresBy {
		if used == 0 {
			delete(d.PostgresBy, part)
		}
	}
	return d
}

// PostgresPart names who a Postgres process works for from its title
// (/proc/<pid>/cmdline): a backend's role, without the platform's
// "clawsvc_" prefix ("ingress", "customer_admin"), PartCustomers for the
// customers' own roles, or the kind of a server process ("checkpointer",
// "autovacuum worker"), whatever its title adds.
func PostgresPart(title string) string {
	rest, ok := strings.CutPrefix(title, "postgres: ")
	if !ok {
		return PartPostmaster
	}
	// A server process's title may change while it runs ("checkpointer
	// performing checkpoint"): it counts for its kind.
	for _, kind := range serverProcesses {
		if rest == kind || strings.HasPrefix(rest, kind+" ") {
			return kind
		}
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return PartPostmaster
	}
	if len(f) < 3 {
		return f[0]
	}
	// A backend: "role database host(port) activity".
	role := f[0]
	if r, ok := strings.CutPrefix(role, "clawsvc_"); ok {
		return r
	}
	if strings.HasPrefix(role, "claw_") {
		return PartCustomers
	}
	return role
}

// serverProcesses are the kinds of Postgres's own processes, as their
// titles start.
var serverProcesses = []string{
	"checkpointer", "background writer", "walwriter", "autovacuum launcher", "autovacuum worker",
	"logical replication launcher", "logical replication worker", "archiver", "walsender", "walreceiver",
	"startup", "parallel worker", "background worker",
}

// CPU samples the processor time of a platform running in this process
// (see CPUTime). Between two samples it says what a phase cost, which on a
// shared machine is steadier than its wall time.
func CPU(runtimeBinary string, postmaster int) (CPUTime, error) {
	var c CPUTime
	want, err := filepath.EvalSymlinks(runtimeBinary)
	if err != nil {
		return c, err
	}
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return c, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		part := &c.Services
		if pid != self {
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if err != nil {
				continue
			}
			switch {
			case exe == want:
				part = &c.Runtimes
			case postmaster > 0 && filepath.Base(exe) == "postgres" && (pid == postmaster || parentOf(pid) == postmaster):
				part = &c.Postgres
			default:
				continue
			}
		}
		st, err := readStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		*part += ticks(st.own + st.children)
		if part == &c.Postgres {
			if c.pg == nil {
				c.pg, c.postmaster = map[int]pgProcess{}, postmaster
			}
			p := pgProcess{part: PartPostmaster, start: st.start, used: ticks(st.own + st.children)}
			if pid == postmaster {
				// Its children's time is its exited backends'.
				p.used, c.children = ticks(st.own), ticks(st.children)
			} else if title, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
				p.part = PostgresPart(strings.TrimRight(strings.ReplaceAll(string(title), "\x00", " "), " "))
			}
			c.pg[pid] = p
		}
	}
	return c, nil
}

// ticks converts clock ticks to a duration.
func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// procStat is what CPU reads of /proc/<pid>/stat, in clock ticks: utime
// + stime (own), the children's that were waited for (cutime + cstime:
// exited backends of the postmaster, runtimes the compute service
// stopped), and the start time after boot.
type procStat struct{ own, children, start int64 }

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// After the name: state is field 3, utime..cstime fields 14..17,
	// starttime field 22.
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var n [5]int64
	for j, k := range []int{11, 12, 13, 14, 19} {
		if n[j], err = strconv.ParseInt(f[k], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	return procStat{own: n[0] + n[1], children: n[2] + n[3], start: n[4]}, nil
}
