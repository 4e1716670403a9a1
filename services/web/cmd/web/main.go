// Command web runs the customer web app as its own process; see package
// clawdbot.cloud/services/web for what it does and its settings.
package main

import (
	"os"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/web"
)

func main() { os.Exit(service.Main("web", web.Run)) }
