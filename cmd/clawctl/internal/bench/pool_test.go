package bench

import (
	"strings"
	"testing"
)

// TestParsePool reads the pool from the database service's /metrics page
// (the lines below as its Prometheus handler writes them, other families
// left out): the entries made are the fills that succeeded, not the
// deferred rounds or the drops.
func TestParsePool(t *testing.T) {
	page := `# HELP claw_database_pool_claims_total Customer database creates by whether a warm pool database was claimed (hit) or none was ready (miss).
# TYPE claw_database_pool_claims_total counter
claw_database_pool_claims_total{result="hit"} 40
# HELP claw_database_pool_fills_total Warm pool databases made (ok) or failed to make (error), dropped when the pool shrank (dropped), and refill rounds put off while the server was busy (deferred).
# TYPE claw_database_pool_fills_total counter
claw_database_pool_fills_total{result="deferred"} 7
claw_database_pool_fills_total{result="dropped"} 2
claw_database_pool_fills_total{result="ok"} 58
# HELP claw_database_pool_ready Warm pool databases ready to be claimed.
# TYPE claw_database_pool_ready gauge
claw_database_pool_ready 17
# HELP claw_database_pool_size Configured size of the warm pool (DATABASE_POOL_SIZE).
# TYPE claw_database_pool_size gauge
claw_database_pool_size 20
`
	got, err := parsePool(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Pool{Ready: 17, Size: 20, Made: 58}); got != want {
		t.Errorf("parsePool = %+v, want %+v", got, want)
	}
}
