package saga_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/proto/subjects"
)

// The admin API is a NATS service: `nats micro ls|info|stats` show it, its
// endpoints on the admin subjects, and count its requests and errors.
func TestAdminIsANATSService(t *testing.T) {
	f := newLifecycle(t, func(cmd) action { return reply })
	f.start()
	nc := f.sim.bus.Conn()
	ping, err := micro.ControlSubject(micro.PingVerb, "saga-admin", "")
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Eventually(t, 10*time.Second, "the admin service to answer a ping", func() bool {
		_, err := nc.Request(ping, nil, time.Second)
		return err == nil
	})
	var r adminReply
	f.admin(subjects.AdminSagaGet, map[string]string{"saga_id": "signup-cs_nobody"}, &r)
	if r.Code != "not_found" {
		t.Fatalf("unknown saga: %+v", r)
	}
	control := func(verb micro.Verb, dst any) {
		t.Helper()
		subject, err := micro.ControlSubject(verb, "saga-admin", "")
		if err != nil {
			t.Fatal(err)
		}
		m, err := nc.Request(subject, nil, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		if err := json.Unmarshal(m.Data, dst); err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
	}
	var info micro.Info
	control(micro.InfoVerb, &info)
	var got []string
	for _, e := range info.Endpoints {
		got = append(got, e.Subject)
	}
	want := []string{subjects.AdminSagaCustomerGet, subjects.AdminSagaList, subjects.AdminSagaGet,
		subjects.AdminSagaRetry, subjects.AdminSagaCustomerDeprovision}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("endpoints %v, want %v", got, want)
	}
	// micro counts a request after its handler returns, and the handler has
	// already replied: the stats can trail the reply by a moment.
	getStats := func() string {
		var stats micro.Stats
		control(micro.StatsVerb, &stats)
		for _, e := range stats.Endpoints {
			if e.Subject == subjects.AdminSagaGet {
				return fmt.Sprintf("%d requests, %d errors", e.NumRequests, e.NumErrors)
			}
		}
		return "no such endpoint"
	}
	const wantStats = "1 requests, 1 errors"
	seen := getStats()
	for deadline := time.Now().Add(5 * time.Second); seen != wantStats && time.Now().Before(deadline); seen = getStats() {
		time.Sleep(20 * time.Millisecond)
	}
	if seen != wantStats {
		t.Errorf("%s: %s; want %s", subjects.AdminSagaGet, seen, wantStats)
	}
}
