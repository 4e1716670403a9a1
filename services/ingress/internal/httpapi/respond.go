package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// writeJSON answers code with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do about it
}

// errorBody is every error response: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
	// Reasons lists every problem of an invalid request, when there are several.
	Reasons []string `json:"reasons,omitempty"`
}

// writeError answers code with {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// writeInvalid answers 400 with every reason the request is refused.
func writeInvalid(w http.ResponseWriter, reasons []string) {
	writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid request: " + strings.Join(reasons, "; "), Reasons: reasons})
}
