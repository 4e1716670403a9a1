// Package bench measures signup → instance ready latency against a running
// platform.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/stripefixture"
)

// Result summarises one phase.
type Result struct {
	Ready          int
	P50, P99, Max  time.Duration
	Wall           time.Duration
	LatencySamples []time.Duration
}

// Signups runs n signups, concurrency at a time, and reports their latency.
// Every signup must become ready; the first failure is returned.
func Signups(ctx context.Context, ingressURL, secret string, n, concurrency int) (Result, error) {
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, concurrency)
	)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := signup.Run(ctx, signup.Options{
				IngressURL: ingressURL, Secret: secret, Poll: 10 * time.Millisecond,
				Checkout: stripefixture.Checkout{Email: fmt.Sprintf("bench%d@example.com", i), Name: "Bench", Plan: "starter"},
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			lats = append(lats, res.Latency)
		}()
	}
	wg.Wait()
	r := Result{Ready: len(lats), Wall: time.Since(start), LatencySamples: lats}
	if len(errs) > 0 {
		return r, fmt.Errorf("%d of %d signups failed; first: %w", len(errs), n, errs[0])
	}
	slices.Sort(lats)
	r.P50, r.P99, r.Max = Percentile(lats, 50), Percentile(lats, 99), lats[len(lats)-1]
	return r, nil
}

// Percentile returns the p-th percentile (nearest rank) of sorted samples.
func Percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1].Round(time.Millisecond)
}

// IsolatedEnv returns a configuration source for a throwaway platform in
// dir: free ports for NATS and the ingress, everything else from the
// process environment.
func IsolatedEnv(dir string) (func(string) (string, bool), error) {
	natsAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	ingressAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	webAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	over := map[string]string{"EMBEDDED_NATS_ADDR": natsAddr, "INGRESS_ADDR": ingressAddr, "WEB_ADDR": webAddr, "CLAW_DATA_DIR": dir}
	return func(k string) (string, bool) {
		if v, ok := over[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}, nil
}

// FreeAddr returns a loopback address with a port free right now, chosen
// below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768
// and up by default). A port taken from the ephemeral range could be handed
// by the kernel to any `:0` listener before the service that was meant to
// get it binds it: a customer's runtime started by another platform in the
// same test binary did exactly that, and the platform's readiness check
// then found the runtime answering on the web app's address. Ports are
// never handed out twice by one process.
func FreeAddr() (string, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		port := lowPortMin + rand.IntN(lowPortMax-lowPortMin)
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[port] = true
		return l.Addr().String(), nil
	}
	return "", fmt.Errorf("no free port in %d-%d after 200 tries", lowPortMin, lowPortMax)
}

// The range FreeAddr draws from: above the well-known and most registered
// service ports, below the ephemeral range.
const lowPortMin, lowPortMax = 20000, 32000

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// Pool is what the database service reports of its warm pool.
type Pool struct {
	Ready, Size float64
	// Made counts the entries it has made since it started
	// (claw_database_pool_fills_total{result="ok"}).
	Made float64
}

// WaitPool waits until the database service whose /metrics is metricsURL
// reports its warm pool full (claw_database_pool_ready at
// claw_database_pool_size), or timeout passes, and returns the pool then.
func WaitPool(ctx context.Context, metricsURL string, timeout time.Duration) (Pool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		p, err := ReadPool(ctx, metricsURL)
		if err == nil && p.Size > 0 && p.Ready >= p.Size {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("warm pool not full (%v of %v ready, last error %v): %w", p.Ready, p.Size, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ReadPool reads the pool's gauges and entries made from the database
// service's /metrics at metricsURL.
func ReadPool(ctx context.Context, metricsURL string) (Pool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return Pool{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Pool{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Pool{}, fmt.Errorf("%s: %s", metricsURL, resp.Status)
	}
	return parsePool(resp.Body)
}

// parsePool reads a Pool from a Prometheus text page.
func parsePool(r io.Reader) (Pool, error) {
	var p Pool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, perr := strconv.ParseFloat(value, 64)
		switch {
		case perr != nil:
		case name == "claw_database_pool_ready":
			p.Ready = v
		case name == "claw_database_pool_size":
			p.Size = v
		case name == `claw_database_pool_fills_total{result="ok"}`:
			p.Made = v
		}
	}
	return p, sc.Err()
}
