// Command neon runs the database service as its own process.
package main

import (
	"os"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/neon"
)

func main() { os.Exit(service.Main("neon", neon.Run)) }
