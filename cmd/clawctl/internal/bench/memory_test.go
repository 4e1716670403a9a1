package bench

import (
	"os"
	"os/exec"
	"testing"
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
