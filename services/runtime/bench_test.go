package runtime_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
)

// vocabulary makes n distinct pronounceable words ("kalomi", "tresu", ...)
// that the English stemmer leaves as they are, in a fixed order.
func vocabulary(n int) []string {
	onsets := []string{"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "kr", "tr", "st"}
	vowels := []string{"a", "e", "i", "o", "u"}
	seen := map[string]bool{}
	var words []string
	r := rand.New(rand.NewPCG(1, 2))
	for len(words) < n {
		var b strings.Builder
		for range 2 + r.IntN(2) {
			b.WriteString(onsets[r.IntN(len(onsets))])
			b.WriteString(vowels[r.IntN(len(vowels))])
		}
		w := b.String()
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// corpus draws memories of 8 to 25 words from a Zipf distribution over a
// 20,000-word vocabulary, offset so that the commonest word is in about 2%
// of memories — content words after stop-word removal, not "the" — with up
// to two of 30 tags. It returns a word sampler for queries too.
type corpus struct {
	r     *rand.Rand
	zipf  *rand.Zipf
	words []string
	tags  []string
}

func newCorpus() *corpus {
	r := rand.New(rand.NewPCG(3, 4))
	c := &corpus{r: r, zipf: rand.NewZipf(r, 1.07, 150, 19_999), words: vocabulary(20_000)}
	for i := range 30 {
		c.tags = append(c.tags, fmt.Sprintf("tag%02d", i))
	}
	return c
}

func (c *corpus) word() string { return c.words[c.zipf.Uint64()] }

func (c *corpus) memory() (string, []string) {
	n := 8 + c.r.IntN(18)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = c.word()
	}
	var tags []string
	for range c.r.IntN(3) {
		tags = append(tags, c.tags[c.r.IntN(len(c.tags))])
	}
	return strings.Join(ws, " "), tags
}

// query is what a person types: one to three words of the corpus, or a tag.
func (c *corpus) query() string {
	switch p := c.r.IntN(10); {
	case p == 0:
		return c.tags[c.r.IntN(len(c.tags))]
	case p < 7:
		return c.word() + " " + c.word()
	default:
		return c.word()
	}
}

// seedMemories copies n memories into the instance's database with COPY,
// with the search index built afterwards and the table vacuumed, as
// autovacuum leaves a table that has been in use.
func seedMemories(b *testing.B, in *instance, c *corpus, n int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	if _, err := in.pool.Exec(ctx, "DROP INDEX memories_search"); err != nil {
		b.Fatal(err)
	}
	at := time.Now().Add(-time.Duration(n) * time.Minute)
	rows := make([][]any, n)
	for i := range rows {
		content, tags := c.memory()
		if tags == nil {
			tags = []string{}
		}
		rows[i] = []any{content, tags, at.Add(time.Duration(i) * time.Minute)}
	}
	if _, err := in.pool.CopyFrom(ctx, pgx.Identifier{"memories"}, []string{"content", "tags", "created_at"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{"CREATE INDEX memories_search ON memories USING gin (search)", "VACUUM ANALYZE memories"} {
		if _, err := in.pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d memories in %s", n, time.Since(start).Round(time.Millisecond))
}

// reportPercentiles adds p50 and p99 of lat, in milliseconds.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}

// BenchmarkMemorySearch is GET /api/memory/search over HTTP on an instance
// holding 100,000 memories, with queries of one to three corpus words or a
// tag. It reports p50 and p99 latency as seen by the client.
func BenchmarkMemorySearch(b *testing.B) {
	in := startInstance(b, "cus_BENCHSEARCH", plans.Team, withOptions(runtime.Options{RatePerSecond: -1}))
	key := in.addKey(b)
	c := newCorpus()
	seedMemories(b, in, c, 100_000)
	queries := make([]string, 1000)
	for i := range queries {
		queries[i] = "/api/memory/search?limit=20&q=" + url.QueryEscape(c.query())
	}
	client := &http.Client{}
	get := func(path string) {
		req, _ := http.NewRequest(http.MethodGet, in.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
	}
	for _, q := range queries[:50] { // warm the caches and the pool
		get(q)
	}
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		get(queries[i%len(queries)])
		lat = append(lat, time.Since(start))
		i++
	}
	reportPercentiles(b, lat)
}

// BenchmarkChatOverhead is POST /api/chat over HTTP against a fake Messages
// API that answers at once, so the time is the runtime's own: checking the
// key and the quota, storing the message, reading the workspace, skills,
// relevant memories (among 1,000) and history, building the prompt, the
// SDK's request, storing the reply with its usage — plus the loopback round
// trip to the fake, which a real model call dwarfs. It reports p50 and p99.
func BenchmarkChatOverhead(b *testing.B) {
	model := anthropictest.New(b)
	in := startInstance(b, "cus_BENCHCHAT", plans.Team, withAnthropic(model), withOptions(runtime.Options{RatePerSecond: -1}))
	key := in.addKey(b)
	team, _ := plans.Lookup(plans.Team)
	in.putFiles(b, workspace(b, time.Now(), "Europe/Berlin", team)...)
	c := newCorpus()
	seedMemories(b, in, c, 1000)

	turn := func(msg chatReq) string {
		var res struct {
			ConversationID string `json:"conversation_id"`
		}
		in.call(b, http.MethodPost, "/api/chat", key, msg, http.StatusOK, &res)
		return res.ConversationID
	}
	for range 50 { // warm the pools, caches and prepared statements
		turn(chatReq{Message: "warming up " + c.query()})
	}
	var lat []time.Duration
	conv := ""
	i := 0
	for b.Loop() {
		if i%20 == 0 {
			conv = "" // a new conversation every 20 turns
		}
		msg := chatReq{Message: "Remind me about " + c.query() + " and " + c.query(), ConversationID: conv}
		start := time.Now()
		conv = turn(msg)
		lat = append(lat, time.Since(start))
		if i%100 == 99 {
			model.Reset()
		}
		i++
	}
	reportPercentiles(b, lat)
}
