package app

import (
	"testing"

	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// The event just recorded is applied as decoded off the bus; only events
// kept pending from earlier are decoded from the store.
func TestPendingEventDecodesOnce(t *testing.T) {
	fresh := &domain.Event{ID: "evt_1", Subject: subjects.CustomerCanceled, CustomerID: "cus_1"}
	stored := store.Event{ID: "evt_1", Subject: subjects.CustomerCanceled, Payload: []byte("not protojson")}
	e, err := pendingEvent(stored, fresh)
	if err != nil || e.ID != "evt_1" || e.CustomerID != "cus_1" {
		t.Errorf("fresh event = %+v, %v; want it as given", e, err)
	}
	stored.ID = "evt_0" // an older pending event: read from its payload
	if _, err := pendingEvent(stored, fresh); err == nil {
		t.Error("an older event was not decoded from the store")
	}
}
