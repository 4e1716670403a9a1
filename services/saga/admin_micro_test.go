package saga_test

import (
	"encoding/json"
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
	var stats micro.Stats
	control(micro.StatsVerb, &stats)
	for _, e := range stats.Endpoints {
		if e.Subject == subjects.AdminSagaGet && (e.NumRequests != 1 || e.NumErrors != 1) {
			t.Errorf("%s: %d requests, %d errors; want 1 and 1", e.Subject, e.NumRequests, e.NumErrors)
		}
	}
}
