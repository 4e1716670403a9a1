// Command railway runs the compute service on its own; see package
// clawdbot.cloud/services/railway for what it does and pkg/service for the
// platform-wide settings. Its own: COMPUTE_DRIVER (process or railway);
// for process RUNTIME_BINARY, RUNTIME_VERSION, RUNTIME_START_TIMEOUT,
// RUNTIME_STOP_GRACE; for railway RAILWAY_TOKEN, RAILWAY_TOKEN_KIND,
// RAILWAY_PROJECT_ID, RAILWAY_ENVIRONMENT_ID, RAILWAY_RUNTIME_IMAGE and the
// optional RAILWAY_REGION, RAILWAY_API_URL, RAILWAY_RATE_PER_SECOND,
// RAILWAY_RATE_PER_HOUR, RAILWAY_POLL_INTERVAL, RAILWAY_DEPLOY_TIMEOUT.
package main

import (
	"os"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/railway"
)

func main() { os.Exit(service.Main("railway", railway.Run)) }
