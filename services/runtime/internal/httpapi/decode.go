package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"clawdbot.cloud/services/runtime/internal/respond"
)

// decode reads a JSON request body into v, strictly: one object, known
// fields only. On failure it writes a 4xx that says what is wrong and
// returns false:
//   - 415 for a Content-Type that is not JSON's (see jsonContentType);
//   - 413 for a body over MaxBodyBytes;
//   - 400 for bad JSON, an unknown field or a value of the wrong type.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if !jsonContentType(r) {
		respond.Error(w, http.StatusUnsupportedMediaType, "send the body as JSON with Content-Type: application/json")
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		respond.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over %d bytes", MaxBodyBytes))
	case errors.Is(err, io.EOF):
		respond.Error(w, http.StatusBadRequest, "request body is empty; send a JSON object")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		respond.Error(w, http.StatusBadRequest, "request body is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			respond.Error(w, http.StatusBadRequest, "request body must be a JSON object")
			return false
		}
		respond.Error(w, http.StatusBadRequest, fmt.Sprintf("field %q must be a JSON %s", field, jsonType(typ.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		respond.Error(w, http.StatusBadRequest, "unknown field "+strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		respond.Error(w, http.StatusBadRequest, "invalid request body: "+err.Error())
	}
	return false
}

// jsonContentType reports whether a body may be read as JSON: declared as
// JSON (application/json, application/*+json), sent without a
// Content-Type, or sent as curl -d sends it (application/x-www-form-urlencoded),
// as the product's documentation shows customers doing. Such a body that
// is not JSON is still a 400. Any other type (text/plain, multipart) is
// refused. Accepting the form type opens no cross-site hole: every route
// that reads a body needs an Authorization header, which no form can send
// and which itself forces a CORS preflight.
func jsonContentType(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "application/x-www-form-urlencoded" ||
		strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	default:
		return "number"
	}
}

// Page sizes of the list endpoints.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// limitParam reads ?limit= (1 to maxLimit, default defaultLimit); false
// means a 400 was written.
func limitParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultLimit, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		respond.Error(w, http.StatusBadRequest, fmt.Sprintf("limit must be a whole number from 1 to %d", maxLimit))
		return 0, false
	}
	return n, true
}
