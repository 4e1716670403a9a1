package httpapi

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 document of this API (openapi.json), served at
// GET /openapi.json without authentication. The ingress's tests validate
// every response they receive against it.
//
//go:embed openapi.json
var OpenAPI []byte

// RouteOpenAPI serves OpenAPI.
const RouteOpenAPI = "GET /openapi.json"

// serveOpenAPI answers with the document.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(OpenAPI) // the client may be gone; nothing to do about it
}
