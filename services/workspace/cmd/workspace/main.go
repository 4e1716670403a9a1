// Command workspace runs the workspace service as its own process; see
// package clawdbot.cloud/services/workspace for what it does and its settings.
package main

import (
	"os"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/workspace"
)

func main() { os.Exit(service.Main("workspace", workspace.Run)) }
