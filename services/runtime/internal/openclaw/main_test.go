package openclaw

import (
	"testing"

	"clawdbot.cloud/pkg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
