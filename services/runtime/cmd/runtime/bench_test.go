package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/testbuf"
)

// statusKB reads a "VmRSS:"-style field of /proc/<pid>/status, in kB.
func statusKB(tb testing.TB, pid int, field string) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// BenchmarkBinaryMemory starts the real runtime binary (as the process
// compute driver does: config on stdin, provider in the environment, the
// Starter plan's GOMEMLIMIT and GOMAXPROCS) and reports its resident
// memory idle, after serving 1,000 chat turns against a fake Messages API,
// and its peak. The timed loop is further chat turns, so ns/op is the
// client-side latency of a turn against an instant model.
func BenchmarkBinaryMemory(b *testing.B) {
	c := startChatInstance(b, "starter")
	resp, err := http.Get(c.url + "/health")
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	idle := statusKB(b, c.pid, "VmRSS")

	var lat []time.Duration
	conv := ""
	for i := range 1000 {
		if i%20 == 0 {
			conv = "" // a new conversation every 20 turns
		}
		start := time.Now()
		conv = c.chat(b, fmt.Sprintf("turn %d: what did we talk about before?", i), conv)
		lat = append(lat, time.Since(start))
		if i%100 == 99 {
			c.model.Reset() // the fake's own record of requests
		}
	}
	after := statusKB(b, c.pid, "VmRSS")
	peak := statusKB(b, c.pid, "VmHWM")

	b.ResetTimer()
	for b.Loop() {
		conv = c.chat(b, "one more", conv)
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(idle/1024, "idle-RSS-MB")
	b.ReportMetric(after/1024, "RSS-after-1000-turns-MB")
	b.ReportMetric(peak/1024, "peak-RSS-MB")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "turn-p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "turn-p99-ms")
}

// BenchmarkBinaryIdle reports what an instance nobody uses costs the
// machine: the real binary (Starter's limits) answers one chat turn, then
// sits idle, probed on /health every 30 s as the health service does;
// over a window of idleWindow after its database connections closed,
// the CPU time of all its threads (schedstat, nanoseconds, not clock
// ticks) and their context switches, per second. Each loop is one window.
func BenchmarkBinaryIdle(b *testing.B) {
	const (
		settle     = 7 * time.Second // past DBIdle (5 s): no connection left
		idleWindow = 30 * time.Second
	)
	c := startChatInstance(b, "starter")
	c.chat(b, "hello", "")
	time.Sleep(settle)
	var cpu, switches float64
	var windows int
	for b.Loop() {
		cpu0, sw0 := threadTimes(b, c.pid)
		resp, err := http.Get(c.url + "/health") // one probe per window, as the health service
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		time.Sleep(idleWindow)
		cpu1, sw1 := threadTimes(b, c.pid)
		cpu += float64(cpu1-cpu0) / 1e6 / idleWindow.Seconds()
		switches += float64(sw1-sw0) / idleWindow.Seconds()
		windows++
	}
	b.ReportMetric(cpu/float64(windows), "idle-cpu-ms/s")
	b.ReportMetric(switches/float64(windows), "idle-switches/s")
}

// threadTimes sums, over every thread of pid, the time spent on a CPU
// (/proc/<pid>/task/<tid>/schedstat, ns) and the context switches.
func threadTimes(tb testing.TB, pid int) (ns, switches int64) {
	tb.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, t := range tasks {
		dir := fmt.Sprintf("/proc/%d/task/%s/", pid, t.Name())
		sched, err := os.ReadFile(dir + "schedstat")
		if err != nil {
			continue // the thread exited
		}
		if f := strings.Fields(string(sched)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			ns += n
		}
		status, err := os.ReadFile(dir + "status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				switches += n
			}
		}
	}
	return ns, switches
}

// BenchmarkBinaryStart measures what a signup waits for from the compute
// service: the runtime binary started with its configuration on stdin until
// its /health answers, on a customer database that already carries the
// schema (a clone of the migrated template). Polled every millisecond.
// from-config is the same from the moment a runtime already started (and
// blocked reading stdin) gets its configuration; from-warm, from the moment
// a runtime started warm (connected to the database, the schema checked:
// a warm pool entry) gets it.
func BenchmarkBinaryStart(b *testing.B) {
	bin := buildBinary(b)
	dbURL := pgtest.NewDatabase(b)
	port := freePort(b)
	cfg, err := json.Marshal(map[string]any{
		"customer_id": "cus_BINSTART", "plan": "starter", "listen_addr": fmt.Sprintf("127.0.0.1:%d", port),
		"database_url": dbURL, "instance_id": "bin-start", "version": "v-bin", "instance_token": instanceToken,
	})
	if err != nil {
		b.Fatal(err)
	}
	health := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	warm, err := json.Marshal(map[string]any{"warm": true, "database_url": dbURL, "instance_id": "bin-start-warm"})
	if err != nil {
		b.Fatal(err)
	}
	// run starts the runtime; spawned first, it waits until the process
	// is blocked reading its configuration before the clock starts;
	// started warm, until it has connected and checked the schema.
	run := func(spawned, warmed bool) time.Duration {
		begin := time.Now()
		cmd := exec.Command(bin)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GOMAXPROCS=1"}
		logs := &testbuf.Buffer{}
		cmd.Stderr = logs
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		switch {
		case spawned:
			time.Sleep(300 * time.Millisecond)
			begin = time.Now()
		case warmed:
			if _, err := stdin.Write(warm); err != nil {
				b.Fatal(err)
			}
			for !strings.Contains(logs.String(), "warm: connected") {
				if time.Since(begin) > 30*time.Second {
					b.Fatalf("runtime not warm within 30s:\n%s", logs)
				}
				time.Sleep(time.Millisecond)
			}
			begin = time.Now()
		}
		if _, err := stdin.Write(cfg); err != nil {
			b.Fatal(err)
		}
		stdin.Close()
		for time.Since(begin) < 30*time.Second {
			if resp, err := client.Get(health); err == nil {
				resp.Body.Close()
				return time.Since(begin)
			}
			time.Sleep(time.Millisecond)
		}
		b.Fatal("runtime not answering /health within 30s")
		return 0
	}
	run(false, false) // migrates the database once, as the template carries it
	var cold, spawned, warmed []time.Duration
	for b.Loop() {
		cold = append(cold, run(false, false))
		spawned = append(spawned, run(true, false))
		warmed = append(warmed, run(false, true))
	}
	for _, m := range []struct {
		name string
		lat  []time.Duration
	}{{"start", cold}, {"from-config", spawned}, {"from-warm", warmed}} {
		sort.Slice(m.lat, func(i, j int) bool { return m.lat[i] < m.lat[j] })
		b.ReportMetric(float64(m.lat[len(m.lat)/2].Microseconds())/1000, m.name+"-p50-ms")
		b.ReportMetric(float64(m.lat[len(m.lat)*99/100].Microseconds())/1000, m.name+"-p99-ms")
	}
}

// freePort returns a loopback port free right now.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
