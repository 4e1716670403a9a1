// Command health runs the health service as its own process; see package
// clawdbot.cloud/services/health for what it does and its settings.
package main

import (
	"os"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/health"
)

func main() { os.Exit(service.Main("health", health.Run)) }
