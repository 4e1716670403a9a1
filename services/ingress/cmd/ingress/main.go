// Command ingress runs the public edge (Stripe webhooks, provisioning API)
// as its own process; see package clawdbot.cloud/services/ingress.
package main

import (
	"os"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/ingress"
)

func main() { os.Exit(service.Main("ingress", ingress.Run)) }
