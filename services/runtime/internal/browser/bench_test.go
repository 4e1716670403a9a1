package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/services/runtime/internal/tools"
)

// treePSS sums the proportional set size (kB) of pid and its descendants:
// Chromium's browser, renderer, GPU and utility processes, shared pages
// counted once across them.
func treePSS(tb testing.TB, root int) float64 {
	tb.Helper()
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; cut after ')'.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 {
			ppid, _ := strconv.Atoi(fields[1])
			children[ppid] = append(children[ppid], pid)
		}
	}
	var total float64
	stack := []int{root}
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		stack = append(stack, children[pid]...)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				total += kb
			}
		}
	}
	return total
}

// BenchmarkBrowserOpen measures the browser tool against a local page:
// time to the first page text from a stopped browser (Chromium starts),
// then with it running (a new conversation's context, and the same
// conversation again), and the memory of the running Chromium (PSS of its
// process tree, in MB).
func BenchmarkBrowserOpen(b *testing.B) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>Bench</title><h1>Benchmark page</h1><p>Some text to read.</p><script>document.write("<p>by script</p>")</script>`)
	}))
	defer site.Close()
	open := func(br *Browser, conv string) time.Duration {
		var tool tools.Tool
		for _, t := range br.Tools(nil) {
			if t.Spec.Name == "browser_open" {
				tool = t
			}
		}
		in, _ := json.Marshal(map[string]string{"url": site.URL})
		start := time.Now()
		out, err := tool.Run(context.Background(), tools.Call{ConversationID: conv, Input: in, Now: time.Now()})
		if err != nil || !strings.Contains(out, "by script") {
			b.Fatalf("browser_open = %q, %v", out, err)
		}
		return time.Since(start)
	}
	var cold, warmNew, warmSame time.Duration
	var mem float64
	n := 0
	for b.Loop() {
		br := New(Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
		cold += open(br, "c1")
		warmNew += open(br, fmt.Sprintf("c2-%d", n))
		warmSame += open(br, "c1")
		mem += treePSS(b, br.PID()) / 1024
		br.Close()
		n++
	}
	b.ReportMetric(float64(cold.Milliseconds())/float64(n), "cold-first-text-ms")
	b.ReportMetric(float64(warmNew.Milliseconds())/float64(n), "warm-new-conversation-ms")
	b.ReportMetric(float64(warmSame.Milliseconds())/float64(n), "warm-same-conversation-ms")
	b.ReportMetric(mem/float64(n), "chromium-PSS-MB")
}
