package runtime_test

import (
	"bytes"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/googletest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/google"
	"clawdbot.cloud/services/runtime/internal/httpapi"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
)

const testInstanceToken = "instance-token-0123456789abcdefghijklmnop"

var googleScopes = []string{googletest.ScopeGmailReadonly, googletest.ScopeGmailCompose, googletest.ScopeCalendarEvents}

// withGoogle points the instance at a Google test server.
func withGoogle(g *googletest.Server) option {
	return withConfig(func(c *runtime.Config) {
		c.InstanceToken = testInstanceToken
		c.Env.GoogleClientID, c.Env.GoogleClientSecret = g.ClientID(), g.ClientSecret()
		c.Env.GoogleOAuthBaseURL, c.Env.GoogleAPIBaseURL = g.URL, g.URL
	})
}

// googleInstance is a Pro instance in Europe/Berlin with Google connected.
func googleInstance(t *testing.T, g *googletest.Server, plan string) (*instance, *anthropictest.Server, string, googletest.TokenAnswer) {
	t.Helper()
	model := anthropictest.New(t)
	in := startInstance(t, "cus_GOOGLE", plan, withAnthropic(model), withGoogle(g))
	p, err := plans.Lookup(plan)
	if err != nil {
		t.Fatal(err)
	}
	in.putFiles(t, workspace(t, time.Now(), "Europe/Berlin", p)...)
	key := in.addKey(t)
	tok := g.Grant(t, googleScopes...)
	var st google.Status
	in.call(t, http.MethodPut, "/api/google", key, tok, http.StatusOK, &st)
	if !st.Connected || st.Email != "ada@example.com" || len(st.Scopes) != 3 {
		t.Fatalf("connected: %+v", st)
	}
	return in, model, key, tok
}

// turn runs one chat turn whose model makes calls, then answers "ok"; it
// returns the tool results the model got.
func turn(t *testing.T, in *instance, model *anthropictest.Server, key, conv, message string, calls ...llm.ToolCall) ([]llm.ToolResult, httpapi.ChatResponse) {
	t.Helper()
	model.Reset()
	model.Enqueue(llmtest.Answer{ToolCalls: calls}, llmtest.Answer{Text: "ok"})
	var res httpapi.ChatResponse
	in.call(t, http.MethodPost, "/api/chat", key, chatReq{Message: message, ConversationID: conv}, http.StatusOK, &res)
	reqs := model.Requests()
	return llmtest.ToolResults(reqs[len(reqs)-1]), res
}

// TestGoogleTools drives every Gmail and Calendar tool against the test
// server, which checks each request against Google's discovery documents.
func TestGoogleTools(t *testing.T) {
	g := googletest.New(t, googletest.Options{})
	long := strings.Repeat("All work and no play. ", 2_000)
	g.AddMessage(googletest.Message{From: "Bob <bob@example.com>", Subject: "Quarterly report", Body: long})
	g.AddMessage(googletest.Message{From: "Carol <carol@example.com>", Subject: "Lunch?", Body: "Lunch on Friday?"})
	day := time.Now().UTC().AddDate(0, 0, 2).Truncate(24 * time.Hour)
	evID := g.AddEvent(googletest.Event{Summary: "Standup", Start: day.Add(9 * time.Hour), End: day.Add(9*time.Hour + 30*time.Minute)})
	in, model, key, _ := googleInstance(t, g, plans.Pro)

	// Offered on Pro.
	results, res := turn(t, in, model, key, "", "what's new in my mail from bob?", call("gmail_search", `{"query":"from:bob"}`))
	names := llmtest.ToolNames(model.Requests()[0])
	for _, n := range []string{"gmail_search", "gmail_read", "gmail_draft", "gmail_send_draft", "calendar_list", "calendar_create", "calendar_move"} {
		if !slices.Contains(names, n) {
			t.Errorf("Pro offers %v, lacks %s", names, n)
		}
	}
	conv := res.ConversationID
	if len(results) != 1 || results[0].IsError || !strings.Contains(results[0].Content, "Quarterly report") || strings.Contains(results[0].Content, "Lunch") {
		t.Fatalf("gmail_search: %+v", results)
	}
	id := regexp.MustCompile(`id (\S+) \|`).FindStringSubmatch(results[0].Content)[1]

	results, _ = turn(t, in, model, key, conv, "read it", call("gmail_read", `{"id":"`+id+`"}`))
	if r := results[0]; r.IsError || !strings.Contains(r.Content, "Subject: Quarterly report") || !strings.HasSuffix(r.Content, "[mail cut here]") || len(r.Content) > 9_000 {
		t.Fatalf("gmail_read: error %v, %d chars: %.200q", r.IsError, len(r.Content), r.Content)
	}

	// A reply is drafted; the model trying to send it in the same turn
	// sends nothing: the customer has not said "send <code>".
	results, _ = turn(t, in, model, key, conv, "draft a reply saying thanks",
		call("gmail_draft", `{"reply_to_id":"`+id+`","body":"Thanks, Bob!\nAda"}`))
	m := regexp.MustCompile(`Confirmation code: ([A-Z0-9]{6})`).FindStringSubmatch(results[0].Content)
	if m == nil {
		t.Fatalf("gmail_draft: %+v", results)
	}
	code := m[1]
	drafts := g.Drafts()
	if len(drafts) != 1 || drafts[0].Message.To != `"Bob" <bob@example.com>` || drafts[0].Message.Subject != "Re: Quarterly report" ||
		drafts[0].Message.ThreadID != id || drafts[0].Message.InReplyTo == "" || drafts[0].Sent {
		t.Fatalf("drafts %+v", drafts)
	}
	for _, tc := range []struct{ name, message, conv string }{
		{"model alone", "looks good, go ahead", conv},
		{"other code", "send ABCDEF", conv},
		{"other conversation", "send " + code, ""},
	} {
		results, _ = turn(t, in, model, key, tc.conv, tc.message, call("gmail_send_draft", `{"code":"`+code+`"}`))
		if !results[0].IsError || g.Drafts()[0].Sent {
			t.Fatalf("%s: gmail_send_draft gave %+v and sent %v", tc.name, results[0], g.Drafts()[0].Sent)
		}
	}
	results, _ = turn(t, in, model, key, conv, "Yes, send "+strings.ToLower(code)+" please", call("gmail_send_draft", `{"code":"`+code+`"}`))
	if results[0].IsError || !strings.HasPrefix(results[0].Content, `Sent to "Bob" <bob@example.com>`) || !g.Drafts()[0].Sent {
		t.Fatalf("confirmed send: %+v", results[0])
	}
	results, _ = turn(t, in, model, key, conv, "send "+code, call("gmail_send_draft", `{"code":"`+code+`"}`))
	if !results[0].IsError || g.Count("gmail.users.drafts.send") != 1 {
		t.Fatalf("second send: %+v, drafts.send called %d times", results[0], g.Count("gmail.users.drafts.send"))
	}

	// Calendar, in the customer's timezone (Berlin: UTC+1 in winter, +2 in summer).
	berlin, _ := time.LoadLocation("Europe/Berlin")
	local := day.Format(time.DateOnly)
	results, _ = turn(t, in, model, key, conv, "what's on?", call("calendar_list", `{"from":"`+local+`","to":"`+local+`"}`))
	wantStart := day.Add(9 * time.Hour).In(berlin).Format("15:04")
	if r := results[0]; r.IsError || !strings.Contains(r.Content, "Standup") || !strings.Contains(r.Content, wantStart) || !strings.Contains(r.Content, "Europe/Berlin") {
		t.Fatalf("calendar_list: %+v (want the standup at %s Berlin time)", r, wantStart)
	}
	results, _ = turn(t, in, model, key, conv, "book the dentist", call("calendar_create", `{"summary":"Dentist","start":"`+local+`T15:00"}`))
	evs := g.Events()
	wantDentist := time.Date(day.Year(), day.Month(), day.Day(), 15, 0, 0, 0, berlin)
	if results[0].IsError || len(evs) != 2 || !evs[1].Start.Equal(wantDentist) || evs[1].End.Sub(evs[1].Start) != time.Hour || evs[1].TimeZone != "Europe/Berlin" {
		t.Fatalf("calendar_create: %+v, events %+v", results[0], evs)
	}
	results, _ = turn(t, in, model, key, conv, "move standup to 11", call("calendar_move", `{"event_id":"`+evID+`","start":"`+local+`T11:00"}`))
	evs = g.Events()
	wantMoved := time.Date(day.Year(), day.Month(), day.Day(), 11, 0, 0, 0, berlin)
	if results[0].IsError || !evs[0].Start.Equal(wantMoved) || evs[0].End.Sub(evs[0].Start) != 30*time.Minute {
		t.Fatalf("calendar_move: %+v, event %+v", results[0], evs[0])
	}
	if r := g.Refused(); len(r) > 0 {
		t.Errorf("the Google test server refused requests: %v", r)
	}

	// Sealed: the database holds no token in clear.
	var access, refresh []byte
	if err := in.pool.QueryRow(t.Context(), `SELECT access_token, refresh_token FROM google_account`).Scan(&access, &refresh); err != nil {
		t.Fatal(err)
	}
	for _, tok := range g.Grants() {
		if bytes.Contains(access, []byte(tok)) || bytes.Contains(refresh, []byte(tok)) || strings.Contains(in.logs.String(), tok) {
			t.Error("a Google token is stored or logged in clear")
		}
	}
}

// TestGoogleRefreshBeforeExpiry: an access token with less than
// google.RefreshMargin left is replaced before the call; one with more is used.
func TestGoogleRefreshBeforeExpiry(t *testing.T) {
	g := googletest.New(t, googletest.Options{TokenTTL: google.RefreshMargin - time.Minute})
	in, model, key, _ := googleInstance(t, g, plans.Pro)
	results, _ := turn(t, in, model, key, "", "mail?", call("gmail_search", `{"query":"x"}`))
	if results[0].IsError || g.Count("token:refresh_token") != 1 {
		t.Fatalf("search %+v after %d refreshes, want 1", results[0], g.Count("token:refresh_token"))
	}
	var st google.Status
	in.get(t, "/api/google", key, &st)
	if st.RefreshedAt == nil {
		t.Errorf("status after a refresh: %+v", st)
	}

	g2 := googletest.New(t, googletest.Options{TokenTTL: time.Hour})
	in2, model2, key2, _ := googleInstance(t, g2, plans.Pro)
	turn(t, in2, model2, key2, "", "mail?", call("gmail_search", `{"query":"x"}`))
	if n := g2.Count("token:refresh_token"); n != 0 {
		t.Errorf("an hour-long token was refreshed %d times", n)
	}
}

// TestGoogleDisconnectRevokes: DELETE revokes the grant at Google and
// forgets the tokens; the tools then say Google is not connected.
func TestGoogleDisconnectRevokes(t *testing.T) {
	g := googletest.New(t, googletest.Options{})
	in, model, key, tok := googleInstance(t, g, plans.Team)
	var out httpapi.GoogleDisconnected
	in.call(t, http.MethodDelete, "/api/google", key, nil, http.StatusOK, &out)
	if !out.WasConnected || !out.Revoked || g.Granted(tok.RefreshToken) {
		t.Fatalf("disconnect: %+v, still granted at Google: %v", out, g.Granted(tok.RefreshToken))
	}
	var st google.Status
	in.get(t, "/api/google", key, &st)
	if st.Connected {
		t.Errorf("after disconnect: %+v", st)
	}
	results, _ := turn(t, in, model, key, "", "mail?", call("gmail_search", `{"query":"x"}`))
	if !results[0].IsError || !strings.Contains(results[0].Content, "not connected") {
		t.Errorf("search after disconnect: %+v", results[0])
	}
	in.call(t, http.MethodDelete, "/api/google", key, nil, http.StatusOK, &out)
	if out.WasConnected {
		t.Errorf("second disconnect: %+v", out)
	}
	// Tokens Google refuses are not stored.
	bad := tok
	bad.AccessToken = "ya29.made-up"
	in.call(t, http.MethodPut, "/api/google", key, bad, http.StatusUnprocessableEntity, nil)
}

// TestGoogleNotOnStarter: Starter is refused the connection and offered no
// Google tool; a Pro customer downgraded to Starter loses the tools on the
// next turn, without a restart.
func TestGoogleNotOnStarter(t *testing.T) {
	g := googletest.New(t, googletest.Options{})
	model := anthropictest.New(t)
	starter := startInstance(t, "cus_STARTER", plans.Starter, withAnthropic(model), withGoogle(g))
	skey := starter.addKey(t)
	starter.call(t, http.MethodPut, "/api/google", skey, g.Grant(t, googleScopes...), http.StatusForbidden, nil)
	turn(t, starter, model, skey, "", "mail?")
	if names := llmtest.ToolNames(model.Requests()[0]); slices.ContainsFunc(names, isGoogleTool) {
		t.Errorf("Starter offers %v", names)
	}

	in, pmodel, key, _ := googleInstance(t, g, plans.Pro)
	if err := customerdb.SetPlan(t.Context(), in.pool, plans.Starter); err != nil {
		t.Fatal(err)
	}
	results, _ := turn(t, in, pmodel, key, "", "mail?", call("gmail_search", `{"query":"x"}`))
	if names := llmtest.ToolNames(pmodel.Requests()[0]); slices.ContainsFunc(names, isGoogleTool) {
		t.Errorf("after the downgrade, offered %v", names)
	}
	if !results[0].IsError || g.Count("gmail.users.messages.list") != 0 {
		t.Errorf("a Google tool ran after the downgrade: %+v", results[0])
	}
}

func isGoogleTool(name string) bool {
	return strings.HasPrefix(name, "gmail_") || strings.HasPrefix(name, "calendar_")
}
