package process

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// isRuntime reports whether pid is a live runtime started from binary for
// service: its /proc/<pid>/cmdline starts with binary and its environment
// carries the instance marker. Both are needed: after a restart of the host
// or of the service the recorded pid may belong to anything.
func isRuntime(pid int, binary, service string) bool {
	if pid <= 0 || !alive(pid) {
		return false
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	if string(argv0) != binary {
		return false
	}
	environ, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return false
	}
	marker := []byte(MarkerEnv + "=" + service)
	for kv := range bytes.SplitSeq(environ, []byte{0}) {
		if bytes.Equal(kv, marker) {
			return true
		}
	}
	return false
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself
	// contain parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X'
}

// PIDs lists the live processes running binary for serviceID (see
// MarkerEnv): exactly one while the instance runs, none after Delete. It is
// for operators and tests.
func PIDs(binary, serviceID string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		if isRuntime(pid, binary, serviceID) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// killLeftover stops a runtime that an earlier run of the service left
// behind (it is not our child, so it cannot be waited for): SIGTERM to its
// group, SIGKILL after grace, and polling until it is gone.
func killLeftover(pid int, grace time.Duration) error {
	signal := func(sig syscall.Signal) {
		if err := syscall.Kill(-pid, sig); err != nil {
			_ = syscall.Kill(pid, sig) // not a group leader after all
		}
	}
	signal(syscall.SIGTERM)
	if gone(pid, grace) {
		return nil
	}
	signal(syscall.SIGKILL)
	if gone(pid, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("process %d survived SIGKILL", pid)
}

// gone polls until pid has exited or timeout passes.
func gone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// portAnswers reports whether an HTTP server answers /health on port.
func portAnswers(port int) bool {
	resp, err := probeClient.Get(instanceURL(port) + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}
