// Command healthcheck is the HEALTHCHECK of every image (which have no
// shell, curl or wget): it exits 0 when a GET answers 200 within 3 seconds,
// and 1 otherwise.
//
//	healthcheck       the runtime: http://127.0.0.1:$PORT/health (the runtime
//	                  answers 503 while its database is unreachable)
//	healthcheck ops   a platform service: /readyz on the port of $OPS_ADDR
//	                  (503 while NATS or its database is unreachable)
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	url, err := target(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(2)
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck:", url, "answered", resp.Status)
		os.Exit(1)
	}
}

// target is the URL to probe for the command line args.
func target(args []string) (string, error) {
	if len(args) > 0 && args[0] == "ops" {
		_, port, err := net.SplitHostPort(os.Getenv("OPS_ADDR"))
		if err != nil || port == "" {
			return "", fmt.Errorf("OPS_ADDR %q has no port", os.Getenv("OPS_ADDR"))
		}
		return "http://127.0.0.1:" + port + "/readyz", nil
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	return "http://127.0.0.1:" + port + "/health", nil
}
