package ui

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 document of the app's JSON API (openapi.json),
// served at GET /openapi.json. The HTML pages and forms are not in it. The
// app's tests validate every JSON response they receive against it.
//
//go:embed openapi.json
var OpenAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(OpenAPI)
}
