package ingress_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/services/ingress"
)

// A webhook in flight when shutdown begins is finished and answered; new
// connections are refused meanwhile.
func TestGracefulShutdown(t *testing.T) {
	h := start(t)
	payload := checkout{EventID: "evt_inflight", SessionID: "cs_test_inflight1", Plan: "pro"}.payload(t)
	addr := strings.TrimPrefix(h.base, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Expect: 100-continue makes the server say "100 Continue" when the
	// handler starts reading the body: then the request is surely in flight.
	fmt.Fprintf(conn, "POST /webhooks/stripe HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\n"+
		"Expect: 100-continue\r\nStripe-Signature: %s\r\nContent-Length: %d\r\n\r\n", sign(payload, time.Now(), secret), len(payload))
	br := bufio.NewReader(conn)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	cont, err := http.ReadResponse(br, nil)
	if err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v %v", cont, err)
	}

	stopped := make(chan struct{})
	go func() { h.stop(); close(stopped) }()
	t.Cleanup(func() { <-stopped }) // before servicetest's own stop, which is not safe to call concurrently
	servicetest.Eventually(t, 10*time.Second, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case <-stopped:
		t.Fatal("the service stopped with a request in flight")
	default:
	}

	if _, err := conn.Write(payload); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("in-flight request answered %d", res.StatusCode)
	}
	<-stopped
	if n := len(h.signedUp(t)); n != 1 {
		t.Errorf("%d published, want 1", n)
	}
}

func TestConfig(t *testing.T) {
	_, err := ingress.LoadConfig(config.FromMap(map[string]string{
		"INGRESS_ADDR": "nonsense", "STRIPE_WEBHOOK_SECRET": " ", "PUBLIC_URL": "ftp://x", "INGRESS_PUBLISH_TIMEOUT": "soon",
	}))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"STRIPE_WEBHOOK_SECRET", "INGRESS_ADDR", "PUBLIC_URL", "INGRESS_PUBLISH_TIMEOUT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	_, err = ingress.LoadConfig(config.FromMap(map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_leakcheck", "INGRESS_ADDR": "x"}))
	if err == nil || strings.Contains(err.Error(), "whsec_leakcheck") {
		t.Errorf("error %v: want one that does not carry the secret", err)
	}
	c, err := ingress.LoadConfig(config.FromMap(map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_x", "PUBLIC_URL": "https://claw.example/"}))
	if err != nil || c.Addr != "127.0.0.1:8080" || c.PublicURL != "https://claw.example" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
}
