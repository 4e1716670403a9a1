package app

import "time"

// SetRedelivery shortens the consumer's redelivery policy so tests reach a
// command's last delivery quickly. Compiled into tests only.
func SetRedelivery(a *App, maxDeliver int, base time.Duration) {
	a.consumer.MaxDeliver = maxDeliver
	a.consumer.RetryBase = base
	a.consumer.RetryMax = base
}
