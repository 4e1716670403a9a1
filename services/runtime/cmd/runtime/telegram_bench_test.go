package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/pkg/telegramtest"
)

// modelClock sits between the runtime and the fake Messages API and adds
// up the time spent in model calls, so a figure can leave the model out.
type modelClock struct {
	mu    sync.Mutex
	spent time.Duration
}

func (c *modelClock) wrap(tb testing.TB, target string) string {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		proxy.ServeHTTP(w, r)
		c.mu.Lock()
		c.spent += time.Since(t0)
		c.mu.Unlock()
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// take returns the model time since the last take.
func (c *modelClock) take() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.spent
	c.spent = 0
	return d
}

// BenchmarkBinaryTelegram runs the real runtime binary (Starter's
// GOMEMLIMIT and GOMAXPROCS) against the Telegram test server and a fake
// Messages API, and measures one owner message: from the update being
// available to getUpdates to the reply reaching sendMessage, minus the time
// spent in model calls (measured by a proxy in front of the model). It
// reports the runtime's resident memory with no bot, with a bot polling,
// and after 500 answered messages; the timed loop gives p50 and p99.
func BenchmarkBinaryTelegram(b *testing.B) { benchTelegram(b, false) }

// BenchmarkBinaryTelegramWebhook is BenchmarkBinaryTelegram in webhook
// mode: the instance has a public https URL (a TLS edge in front of it, as
// Railway's), and the test server POSTs each update through it the moment
// it is sent; the figure runs from then to the reply reaching sendMessage,
// the model excluded.
func BenchmarkBinaryTelegramWebhook(b *testing.B) { benchTelegram(b, true) }

func benchTelegram(b *testing.B, webhook bool) {
	clock := &modelClock{}
	in := startTelegramInstanceWith(b, func(in *tgInstance) {
		for i, kv := range in.env {
			if v, ok := strings.CutPrefix(kv, "ANTHROPIC_BASE_URL="); ok {
				in.env[i] = "ANTHROPIC_BASE_URL=" + clock.wrap(b, v)
			}
		}
		if webhook {
			withEdge(b, in)
		}
	})
	rssNoBot := statusKB(b, in.cmd.Process.Pid, "VmRSS")

	token := in.tg.AddBot("bench_bot")
	var conn tgState
	if code := in.api(b, http.MethodPut, "/api/channels/telegram", map[string]string{"bot_token": token}, &conn); code != http.StatusOK {
		b.Fatalf("PUT = %d", code)
	}
	owner := telegramtest.User{ID: 77, FirstName: "Owner"}
	in.tg.SendText(token, owner, "/start "+conn.PairingCode)
	in.tg.WaitSent(b, token, 1, 30*time.Second)
	time.Sleep(2 * time.Second) // a few long polls in
	rssRunning := statusKB(b, in.cmd.Process.Pid, "VmRSS")

	sent := 1
	message := func(i int) time.Duration {
		clock.take()
		t0 := time.Now()
		in.tg.SendText(token, owner, fmt.Sprintf("message %d: what do you remember?", i))
		sent++
		got := in.tg.WaitSent(b, token, sent, 30*time.Second)
		return got[sent-1].Time.Sub(t0) - clock.take()
	}
	for i := range 500 {
		message(i)
		if i%100 == 99 {
			in.model.Reset()
		}
	}
	rssAfter := statusKB(b, in.cmd.Process.Pid, "VmRSS")

	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		lat = append(lat, message(i))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms-excl-model")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms-excl-model")
	b.ReportMetric(rssNoBot/1024, "RSS-no-bot-MB")
	if webhook {
		b.ReportMetric(rssRunning/1024, "RSS-webhook-MB")
	} else {
		b.ReportMetric(rssRunning/1024, "RSS-polling-MB")
	}
	b.ReportMetric(rssAfter/1024, "RSS-after-500-msgs-MB")
}
