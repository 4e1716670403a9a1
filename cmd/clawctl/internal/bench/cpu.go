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
}

// Total is the sum of the parts.
func (c CPUTime) Total() time.Duration { return c.Services + c.Runtimes + c.Postgres }

// Sub is c minus earlier, part by part.
func (c CPUTime) Sub(earlier CPUTime) CPUTime {
	return CPUTime{c.Services - earlier.Services, c.Runtimes - earlier.Runtimes, c.Postgres - earlier.Postgres}
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
		t, err := cpuTicks(pid)
		if err != nil {
			continue // exited meanwhile
		}
		*part += time.Duration(t) * time.Second / clockTicks
	}
	return c, nil
}

// cpuTicks is utime + stime of /proc/<pid>/stat, plus the children's that
// were waited for (cutime + cstime: exited backends of the postmaster,
// runtimes the compute service stopped).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// After the name: state is field 3, utime..cstime fields 14..17.
	if len(f) < 15 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var sum int64
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}
