// Package runtimeconfig is the configuration document every compute driver
// hands a customer runtime: on its standard input (process driver) or as
// RUNTIME_CONFIG_JSON (railway driver). The runtime decodes it strictly
// (services/runtime/internal/config rejects unknown fields), so the drivers'
// contract tests, which start the real runtime, catch any drift.
package runtimeconfig

// Document is the runtime's configuration document.
type Document struct {
	CustomerID  string `json:"customer_id"`
	Plan        string `json:"plan"`
	ListenAddr  string `json:"listen_addr"`
	DatabaseURL string `json:"database_url"`
	InstanceID  string `json:"instance_id"`
	Version     string `json:"version"`
	// InstanceToken opens the runtime's /status for the platform.
	InstanceToken string `json:"instance_token,omitempty"`
	Provider      string `json:"provider,omitempty"`
	Model         string `json:"model,omitempty"`
	// Engine is the engine the compute service chose for the plan
	// ("runtime" or "openclaw", pkg/plans), so the compute service alone
	// decides it (RUNTIME_ENGINES is its setting, not the runtime's).
	Engine string `json:"engine,omitempty"`
	// PublicURL is where the internet reaches the runtime: the railway
	// driver's https domain, so its Telegram channel takes updates by
	// webhook. The process driver's runtimes listen on loopback and have
	// none: they poll.
	PublicURL string `json:"public_url,omitempty"`
}

// ValidID mirrors the runtime's rule for customer and instance ids, so a
// customer it would refuse is rejected before a runtime crash-loops on it.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
