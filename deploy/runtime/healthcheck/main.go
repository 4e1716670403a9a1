// Command healthcheck is the runtime image's HEALTHCHECK: it exits 0 when
// GET http://127.0.0.1:$PORT/health answers 200 within 3 seconds, and 1
// otherwise. The runtime answers 503 while its database is unreachable, so
// an instance without its database is reported unhealthy.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + "/health")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: /health answered", resp.Status)
		os.Exit(1)
	}
}
