// Package respond writes the runtime's JSON responses, so every answer,
// errors included, has the same shape: a JSON object, errors as
// {"error": "..."}.
package respond

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the body of every error response.
type ErrorBody struct {
	// Error is a short, human-readable reason. It never contains secrets.
	Error string `json:"error"`
}

// JSON writes v as the JSON body of a response with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// The status line is gone: a failed write (client went away) has no one
	// left to report to.
	_ = json.NewEncoder(w).Encode(v)
}

// Error writes {"error": msg} with the given status.
func Error(w http.ResponseWriter, status int, msg string) {
	JSON(w, status, ErrorBody{Error: msg})
}
