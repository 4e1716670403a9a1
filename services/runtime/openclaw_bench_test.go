package runtime_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/llm/openaitest"
)

// BenchmarkOpenClawChat measures the openclaw engine with a real gateway
// and the test model server: how long the instance takes to be ready (the
// gateway's start), the gateway's idle memory (RSS of every process in its
// sandbox), and one chat turn through the front door (the customer's key,
// quota, metering and conversation storage, then the gateway) against the
// same turn sent to the gateway directly with its token.
//
//	go test -run '^$' -bench OpenClawChat -benchtime 50x ./services/runtime
func BenchmarkOpenClawChat(b *testing.B) {
	dir := openclawDir(b)
	model := openaitest.New(b)
	state := filepath.Join(b.TempDir(), "openclaw")
	start := time.Now()
	in := startInstance(b, "cus_openclaw_bench", plans.Team,
		withOpenAI(model, "test-model"),
		withConfig(func(c *runtime.Config) {
			c.Env.Engines = "team=openclaw"
			c.Env.OpenClawDir = dir
		}),
		withOptions(runtime.Options{OpenClawStateDir: state, RatePerSecond: -1}),
		func(s *setup) { s.healthWait = gatewayReady })
	b.Logf("ready: %.1f s from start to /health 200", time.Since(start).Seconds())
	key := in.addKey(b)
	_, token := gatewayProcs(b, state)
	gw := gatewayURL(b, state)
	// What the front door sends the gateway for this turn, so both paths
	// ask the gateway for the same work.
	body := map[string]any{"model": "openclaw/default", "max_tokens": 4096, "messages": []map[string]any{{"role": "user", "content": "hello"}}}
	send := func(url, bearer string) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d", url, resp.StatusCode)
		}
	}
	// The first turn loads the agent's code (tens of seconds); then idle.
	send(gw+"/v1/chat/completions", token)
	time.Sleep(5 * time.Second)
	pids, _ := gatewayProcs(b, state)
	b.Logf("idle RSS: %.0f MB in %d processes", float64(rssKB(pids))/1024, len(pids))

	// Alternated, so drift of the gateway (its sessions, the machine's
	// load) falls on both alike.
	// The median is reported beside the mean: a gateway turn varies by
	// hundreds of milliseconds on a shared machine.
	timed := func(b *testing.B, url, bearer string) {
		var ms []float64
		for b.Loop() {
			t0 := time.Now()
			send(url, bearer)
			ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
		}
		sort.Float64s(ms)
		b.ReportMetric(ms[len(ms)/2], "p50-ms")
	}
	for _, round := range []string{"1", "2", "3"} {
		b.Run("gateway-direct-"+round, func(b *testing.B) { timed(b, gw+"/v1/chat/completions", token) })
		b.Run("front-door-"+round, func(b *testing.B) { timed(b, in.url+"/v1/chat/completions", key) })
	}
	model.Reset()
}

// rssKB sums the resident memory of pids, in KiB.
func rssKB(pids []int) int64 {
	var total int64
	for _, p := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				total += kb
			}
		}
	}
	return total
}
