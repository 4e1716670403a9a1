// Command saga runs the saga coordinator as its own process.
package main

import (
	"os"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/saga"
)

func main() { os.Exit(service.Main("saga", saga.Run)) }
