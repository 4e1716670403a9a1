// Package bench measures signup → instance ready latency against a running
// platform.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
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
