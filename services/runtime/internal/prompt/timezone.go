package prompt

import (
	"strings"
	"time"

	// The customer's zone dates their daily notes; embedding the zone
	// database keeps that right in images without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Timezone returns the customer's timezone as USER.md states it, on the
// line "- **Timezone:** Europe/Berlin ..." the workspace renders and the
// assistant keeps up to date, or UTC when the file says none that is valid.
func Timezone(userMD string) *time.Location {
	for _, line := range strings.Split(userMD, "\n") {
		_, rest, ok := strings.Cut(line, "**Timezone:**")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		name := strings.Trim(fields[0], "`*_,.;")
		if name == "" || name == "Local" {
			break
		}
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
		break
	}
	return time.UTC
}
