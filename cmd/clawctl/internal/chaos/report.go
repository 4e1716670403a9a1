package chaos

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Report is what a chaos run sent, what it broke and what it found.
type Report struct {
	Customers   int `json:"customers"`
	Concurrency int `json:"concurrency"`
	// Acked counts the webhooks answered 200, by Stripe event type;
	// Attempts every delivery attempt; Refused the failed attempts by
	// answer (a status, or "transport" when none came), each retried.
	Acked    map[string]int `json:"acked"`
	Attempts int            `json:"attempts"`
	Refused  map[string]int `json:"refused"`
	Faults   []Fault        `json:"faults"`
	// Restarts counts the supervisor's restarts by process.
	Restarts map[string]int `json:"restarts"`
	Checks   []Check        `json:"checks"`
	// SignupP50/P99 are checkout → ready, under the faults.
	SignupP50 time.Duration `json:"signup_p50_ns"`
	SignupP99 time.Duration `json:"signup_p99_ns"`
	// LoadDone is when the last customer's script ended; Duration the
	// whole run, checks included.
	LoadDone time.Duration `json:"load_done_ns"`
	Duration time.Duration `json:"duration_ns"`
	Started  time.Time     `json:"started"`

	mu sync.Mutex
}

// Check is one invariant and what was found.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Problems lists what broke it (at most 20).
	Problems []string `json:"problems,omitempty"`
}

// OK reports whether every check passed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

func (r *Report) countDelivery(typ string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Acked == nil {
		r.Acked, r.Refused = map[string]int{}, map[string]int{}
	}
	r.Attempts++
	if err == nil {
		r.Acked[typ]++
		return
	}
	why := "transport"
	if s := err.Error(); strings.Contains(s, "webhook answered ") {
		why, _, _ = strings.Cut(strings.TrimPrefix(s[strings.Index(s, "webhook answered "):], "webhook answered "), ":")
	}
	r.Refused[why]++
}

func (r *Report) addFault(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Faults = append(r.Faults, f)
}

func (r *Report) add(c Check) {
	if len(c.Problems) > 20 {
		c.Problems = append(c.Problems[:20], fmt.Sprintf("… and %d more", len(c.Problems)-20))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Checks = append(r.Checks, c)
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	acked := 0
	for _, n := range r.Acked {
		acked += n
	}
	fmt.Fprintf(w, "chaos run: %d customers, %d at a time; load %v, run %v\n", r.Customers, r.Concurrency, r.LoadDone, r.Duration)
	fmt.Fprintf(w, "sent: %d webhooks acknowledged in %d attempts", acked, r.Attempts)
	for _, k := range slices.Sorted(maps.Keys(r.Acked)) {
		fmt.Fprintf(w, "; %s %d", k, r.Acked[k])
	}
	fmt.Fprintln(w)
	if len(r.Refused) > 0 {
		fmt.Fprint(w, "  refused (then retried):")
		for _, k := range slices.Sorted(maps.Keys(r.Refused)) {
			fmt.Fprintf(w, " %s ×%d", k, r.Refused[k])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  signup → ready under faults: p50 %v, p99 %v\n", r.SignupP50, r.SignupP99)
	fmt.Fprintln(w, "killed:")
	for _, f := range r.Faults {
		fmt.Fprintf(w, "  %8v  %-10s %s", f.At, f.Target, f.What)
		if f.PID != 0 {
			fmt.Fprintf(w, " pid %d", f.PID)
		}
		if f.Back != 0 {
			fmt.Fprintf(w, ", back at %v", f.Back)
		}
		fmt.Fprintf(w, " (%d customers started)", f.Customers)
		if f.Err != "" {
			fmt.Fprintf(w, " ERROR %s", f.Err)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "  restarted by the supervisor:")
	if len(r.Restarts) == 0 {
		fmt.Fprint(w, " none")
	}
	for _, k := range slices.Sorted(maps.Keys(r.Restarts)) {
		fmt.Fprintf(w, " %s ×%d", k, r.Restarts[k])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "found:")
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, c.Name, c.Detail)
		for _, p := range c.Problems {
			fmt.Fprintf(w, "         - %s\n", p)
		}
	}
	if r.OK() {
		fmt.Fprintln(w, "every invariant held")
	} else {
		fmt.Fprintln(w, "INVARIANTS BROKEN")
	}
}
