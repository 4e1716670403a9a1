package bench

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestMeasureMemoryCountsTheBinarysProcesses: two processes of a binary are
// found by their executable and their PSS summed; nothing else counts.
func TestMeasureMemoryCountsTheBinarysProcesses(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	before, err := MeasureMemory(sleep, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		cmd := exec.Command(sleep, "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	after, err := MeasureMemory(sleep, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Runtimes != before.Runtimes+2 || after.RuntimesPSS <= before.RuntimesPSS {
		t.Errorf("found %d processes holding %d B, want %d more than %d B", after.Runtimes, after.RuntimesPSS, 2, before.RuntimesPSS)
	}
	if after.MemAvailable <= 0 {
		t.Errorf("MemAvailable = %d", after.MemAvailable)
	}
	if _, err := MeasureMemory(os.DevNull+"/missing", 0); err == nil {
		t.Error("a missing binary must be an error")
	}
}

// TestCPUCountsThisProcess: the sample grows by what this process spends,
// as getrusage(2) counts it (spinning until it has spent 200 ms, however
// loaded the machine is).
func TestCPUCountsThisProcess(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before, err := CPU(sleep, 0)
	if err != nil {
		t.Fatal(err)
	}
	spent := rusage()
	for deadline := time.Now().Add(30 * time.Second); rusage()-spent < 200*time.Millisecond && time.Now().Before(deadline); {
	}
	spent = rusage() - spent
	after, err := CPU(sleep, 0)
	if err != nil {
		t.Fatal(err)
	}
	// /proc counts in 10 ms ticks.
	if got := after.Sub(before).Services; got < spent-20*time.Millisecond {
		t.Errorf("CPU grew by %v while getrusage counted %v", got, spent)
	}
}
