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

	// pg is each Postgres process of the sample: who it works for and its
	// own processor time; postmaster is the postmaster's pid and
	// children the time of its children that exited (cutime + cstime).
	pg         map[int]pgProcess
	postmaster int
	children   time.Duration
}

// pgProcess is one Postgres process of a sample.
type pgProcess struct {
	part string
	used time.Duration
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
		if seen && (e.part != p.part || e.used > p.used) {
			exited -= e.used // the pid of an exited backend, reused
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
// customers' own roles, or the title of a server process ("checkpointer",
// "autovacuum worker").
func PostgresPart(title string) string {
	rest, ok := strings.CutPrefix(title, "postgres: ")
	if !ok {
		return PartPostmaster
	}
	f := strings.Fields(rest)
	switch {
	case len(f) >= 3 && (strings.Contains(f[2], "(") || f[2] == "[local]" || strings.HasPrefix(f[2], "127.") || f[2] == "::1"):
		role := f[0]
		if r, ok := strings.CutPrefix(role, "clawsvc_"); ok {
			return r
		}
		if strings.HasPrefix(role, "claw_") {
			return PartCustomers
		}
		return role
	case len(f) >= 2 && f[0] == "autovacuum":
		return "autovacuum " + f[1]
	case len(f) >= 1:
		return strings.Join(f, " ")
	}
	return PartPostmaster
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
		own, children, err := cpuTicks(pid)
		if err != nil {
			continue // exited meanwhile
		}
		*part += ticks(own + children)
		if part == &c.Postgres {
			if c.pg == nil {
				c.pg, c.postmaster = map[int]pgProcess{}, postmaster
			}
			who := PartPostmaster
			if pid == postmaster {
				c.children = ticks(children)
			} else if title, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
				who = PostgresPart(strings.TrimRight(strings.ReplaceAll(string(title), "\x00", " "), " "))
			}
			c.pg[pid] = pgProcess{part: who, used: ticks(own)}
		}
	}
	return c, nil
}

// ticks converts clock ticks to a duration.
func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// cpuTicks is utime + stime of /proc/<pid>/stat (own), and the children's
// that were waited for (cutime + cstime: exited backends of the
// postmaster, runtimes the compute service stopped).
func cpuTicks(pid int) (own, children int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// After the name: state is field 3, utime..cstime fields 14..17.
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var t [4]int64
	for j, v := range f[11:15] {
		if t[j], err = strconv.ParseInt(v, 10, 64); err != nil {
			return 0, 0, err
		}
	}
	return t[0] + t[1], t[2] + t[3], nil
}
