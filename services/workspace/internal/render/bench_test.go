package render

import (
	"testing"

	"clawdbot.cloud/pkg/plans"
)

// BenchmarkRender measures rendering a Team workspace, the largest.
func BenchmarkRender(b *testing.B) {
	in := baseInput(b, plans.Team)
	for b.Loop() {
		if _, err := Render(in); err != nil {
			b.Fatal(err)
		}
	}
}
