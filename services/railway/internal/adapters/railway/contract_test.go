package railway_test

import (
	"testing"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/drivertest"
)

// TestDriverContract runs the compute contract, the one the process driver
// passes, against a fake Railway.
func TestDriverContract(t *testing.T) {
	drivertest.RunDriverContract(t, func(t *testing.T) drivertest.Subject {
		h := newHarness(t)
		return drivertest.Subject{
			Driver:     h.driver(t),
			NewRequest: func(t *testing.T) app.ProvisionRequest { return h.request(t) },
			Running: func(t *testing.T, customerID string) int {
				return h.srv.Running(names.Service(customerID))
			},
			Health: h.srv.Health,
		}
	})
}
