package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// openAIErrors gives the /v1 routes OpenAI's error shape for the errors the
// shared middleware writes in the runtime's own ({"error": "..."}): a
// missing or wrong key (401), the rate limit (429). OpenAI's SDKs read
// error.message and error.type and fail on a bare string. Successful
// answers, streams included, pass straight through.
func openAIErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &errorCapture{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		if !cw.capturing {
			return
		}
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(cw.buf.Bytes(), &body) != nil || body.Error == "" {
			w.WriteHeader(cw.status) // already in OpenAI's shape
			_, _ = w.Write(cw.buf.Bytes())
			return
		}
		w.Header().Del("Content-Length")
		openAIError(w, cw.status, errorType(cw.status), "", body.Error)
	})
}

// errorType is OpenAI's error type for a status.
func errorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_api_key"
	case status == http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// errorCapture holds back the body of an error answer so it can be
// rewritten; anything else goes straight to the client.
type errorCapture struct {
	http.ResponseWriter
	status    int
	capturing bool
	wrote     bool
	buf       bytes.Buffer
}

func (c *errorCapture) WriteHeader(status int) {
	if c.wrote {
		return
	}
	c.wrote = true
	if status >= 400 {
		c.status, c.capturing = status, true
		return
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *errorCapture) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	if c.capturing {
		return c.buf.Write(b)
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (flushes,
// deadlines).
func (c *errorCapture) Unwrap() http.ResponseWriter { return c.ResponseWriter }
