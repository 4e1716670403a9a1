package httpapi

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 document of this API (openapi.json), served at
// GET /openapi.json without a key. The runtime's tests validate the
// responses they receive against it.
//
//go:embed openapi.json
var OpenAPI []byte

// openAPI serves OpenAPI.
func openAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(OpenAPI) // the client may be gone; nothing to do about it
	})
}
