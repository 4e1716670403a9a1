package railwaytest

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Fault is a failure the server injects into the requests that match it.
type Fault struct {
	// Field is the root field of the operations it hits (serviceCreate,
	// deployment, ...); "" hits any operation.
	Field string
	// Times is how many matching requests it hits; 0 means 1.
	Times int
	// Status answers with this HTTP status (429, 500, 502, ...) instead of
	// the operation's result.
	Status int
	// RetryAfter is the Retry-After header sent with Status.
	RetryAfter string
	// Applied carries the operation out before answering with Status: the
	// answer of a change that happened is lost.
	Applied bool
	// Hang holds the answer until the client gives up (its timeout), then
	// drops it: a timeout. With Applied, the change happens first.
	Hang bool
	// Delay answers late by this much: a slow answer (keep it tiny).
	Delay time.Duration
	// Message is the error message answered with Status (default the
	// status text), e.g. one that quotes the request as some servers do.
	Message string
}

// Inject adds faults; each hits the next matching requests, in order of
// injection.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		if f.Times == 0 {
			f.Times = 1
		}
		s.faults = append(s.faults, &f)
	}
}

// FailDeployments makes the next n deployments end with status (FAILED or
// CRASHED) instead of SUCCESS.
func (s *Server) FailDeployments(status string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.st.failNext = append(s.st.failNext, status)
	}
}

// fault takes the first pending fault that matches an operation with the
// given root fields. The caller holds s.mu.
func (s *Server) fault(fields []string) *Fault {
	for i, f := range s.faults {
		if f.Field != "" && !slices.Contains(fields, f.Field) {
			continue
		}
		f.Times--
		if f.Times == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return f
	}
	return nil
}

// answerFault writes the status of f (with its Retry-After).
func answerFault(w http.ResponseWriter, f *Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	msg := f.Message
	if msg == "" {
		msg = "injected fault: " + http.StatusText(f.Status)
	}
	b, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"message": msg}}})
	_, _ = w.Write(b)
}
