// Command railway runs the compute service on its own; see package
// clawdbot.cloud/services/railway for what it does and pkg/service for the
// platform-wide settings. Its own: COMPUTE_DRIVER (process), RUNTIME_BINARY,
// RUNTIME_VERSION, RUNTIME_START_TIMEOUT, RUNTIME_STOP_GRACE.
package main

import (
	"os"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/railway"
)

func main() { os.Exit(service.Main("railway", railway.Run)) }
