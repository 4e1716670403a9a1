package neon

import (
	"testing"
)

func TestPermanentStatuses(t *testing.T) {
	for status, want := range map[int]bool{400: true, 401: true, 403: true, 404: true, 422: true,
		408: false, 409: false, 423: false, 429: false, 500: false, 502: false, 503: false} {
		if got := permanent(status); got != want {
			t.Errorf("permanent(%d) = %v, want %v", status, got, want)
		}
	}
}
