package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Memory is what the processes of a running platform hold, by proportional
// set size (PSS: shared pages, such as the runtime binary's text, divided
// among the processes that share them, so the sum is what they cost the
// machine).
type Memory struct {
	// Runtimes is how many customer runtimes run, and RuntimesPSS what they
	// hold together, in bytes.
	Runtimes    int
	RuntimesPSS int64
	// Postgres is the Postgres server's processes, PostgresPSS their PSS.
	Postgres    int
	PostgresPSS int64
	// MemAvailable is the machine's /proc/meminfo MemAvailable, in bytes.
	MemAvailable int64
}

// MeasureMemory sums the PSS of the processes running runtimeBinary and of
// the Postgres server whose postmaster has pid postmaster (itself and its
// children; 0 counts none).
func MeasureMemory(runtimeBinary string, postmaster int) (Memory, error) {
	var m Memory
	want, err := filepath.EvalSymlinks(runtimeBinary)
	if err != nil {
		return m, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return m, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			continue // gone, or a kernel thread
		}
		isRuntime := exe == want
		isPostgres := postmaster > 0 && filepath.Base(exe) == "postgres" && (pid == postmaster || parentOf(pid) == postmaster)
		if !isRuntime && !isPostgres {
			continue
		}
		pss, err := pssOf(pid)
		if err != nil {
			continue // exited meanwhile
		}
		if isRuntime {
			m.Runtimes++
			m.RuntimesPSS += pss
		} else {
			m.Postgres++
			m.PostgresPSS += pss
		}
	}
	m.MemAvailable, err = memAvailable()
	return m, err
}

// parentOf is pid's parent, 0 if unknown.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "PPid:"); ok {
			ppid, _ := strconv.Atoi(strings.TrimSpace(rest))
			return ppid
		}
	}
	return 0
}

// Postmaster reads the postmaster's pid from a data directory's
// postmaster.pid.
func Postmaster(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// pssOf reads the Pss line of /proc/<pid>/smaps_rollup, in bytes.
func pssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	return kBField(b, "Pss:")
}

func memAvailable() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	return kBField(b, "MemAvailable:")
}

// kBField reads a "Name:   123 kB" line of a /proc file, in bytes.
func kBField(b []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		return kb << 10, err
	}
	return 0, fmt.Errorf("no %s line", name)
}
