package customerdb

import (
	"strings"
	"testing"
	"time"
)

// corpus is a small, realistic set of memories: several mention the same
// words, so ranking, not mere matching, decides what comes first.
var corpus = []struct {
	key, content string
	tags         []string
}{
	{"sister", "My sister Anna lives in Lisbon and works as an architect.", []string{"family"}},
	{"brother", "Brother Tom moved to Berlin last spring; his birthday is on 4 June.", []string{"family", "birthdays"}},
	{"dog", "Our dog Rex is a beagle; the vet appointment is every March.", []string{"pets"}},
	{"coffee", "Prefers oat milk flat white, no sugar. Hates instant coffee.", []string{"preferences", "food"}},
	{"allergy", "Allergic to peanuts — always check restaurant menus for nuts.", []string{"health", "food"}},
	{"porto-trip", "Planning a trip to Porto in October; wants restaurant tips near the river.", []string{"travel"}},
	{"work", "Works at Acme Corp as a data engineer; team standup at 9:30.", []string{"work"}},
	{"project", "Project Falcon: migrate the billing pipeline to Postgres by Q3.", []string{"work", "projects"}},
	{"gym", "Goes to the gym Monday, Wednesday and Friday mornings.", []string{"health", "routine"}},
	{"book", "Currently reading 'The Left Hand of Darkness' by Ursula K. Le Guin.", []string{"books"}},
	{"car", "The car's MOT is due in November; garage is on Baker Street.", []string{"car"}},
	{"password-manager", "Uses a password manager; never store passwords in notes.", []string{"security"}},
	{"mother", "Mum's birthday is 12 September; she likes orchids.", []string{"family", "birthdays"}},
	{"spanish", "Learning Spanish on Tuesdays and Thursdays with a tutor.", []string{"learning"}},
	{"anniversary", "Wedding anniversary on 3 May; book the Italian restaurant.", []string{"family", "dates"}},
}

func seedCorpus(t *testing.T, db TxBeginner) map[int64]string {
	t.Helper()
	keys := make(map[int64]string)
	at := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
	for i, c := range corpus {
		m, err := AddMemory(t.Context(), db, c.content, c.tags, at.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		keys[m.ID] = c.key
	}
	return keys
}

func TestSearchMemoriesRanksTheRightMemoryFirst(t *testing.T) {
	pool := migrated(t)
	keys := seedCorpus(t, pool)
	for _, tc := range []struct{ query, want string }{
		{"sister", "sister"},
		{"where does my sister live", "sister"}, // stems: live/lives; stop words dropped
		{"Lisbon", "sister"},                    // shorter, focused memory over the trip note
		{"porto trip", "porto-trip"},
		{"Lisbon architect zebra", "sister"}, // no memory has all: falls back to any word
		{"peanut allergy", "allergy"},
		{"nuts", "allergy"},
		{"birthday", "mother"},      // both birthday memories are tagged; the shorter wins
		{"Tom birthday", "brother"}, // all words beat any word
		{"restaurant -italian -river", "allergy"},
		{`"flat white"`, "coffee"},
		{"billing postgres", "project"},
		{"oat milk", "coffee"},
		{"pets", "dog"}, // tag only
		{"spanish lessons", "spanish"},
	} {
		hits, err := SearchMemories(t.Context(), pool, tc.query, 5)
		if err != nil {
			t.Fatalf("search %q: %v", tc.query, err)
		}
		if len(hits) == 0 {
			t.Errorf("search %q: no hits, want %s first", tc.query, tc.want)
			continue
		}
		if got := keys[hits[0].ID]; got != tc.want {
			var order []string
			for _, h := range hits {
				order = append(order, keys[h.ID])
			}
			t.Errorf("search %q ranks %v, want %s first", tc.query, order, tc.want)
		}
	}
	for _, q := range []string{"the and of", "zebra", ""} {
		hits, err := SearchMemories(t.Context(), pool, q, 5)
		if err != nil || len(hits) != 0 {
			t.Errorf("search %q = %d hits, %v; want none", q, len(hits), err)
		}
	}
}

func TestSearchHighlights(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	if _, err := AddMemory(ctx, pool, `Anna's <script>alert(1)</script> & "quotes": sister lives in Lisbon`, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	hits, err := SearchMemories(ctx, pool, "sister lisbon", 5)
	if err != nil || len(hits) != 1 {
		t.Fatalf("hits = %+v, %v", hits, err)
	}
	h := hits[0].Highlight
	for _, want := range []string{"<mark>sister</mark>", "<mark>Lisbon</mark>", "&amp;"} {
		if !strings.Contains(h, want) {
			t.Errorf("highlight %q lacks %q", h, want)
		}
	}
	if strings.Contains(h, "<script") || strings.ContainsAny(h, markStart+markStop) {
		t.Errorf("highlight is not safe HTML: %q", h)
	}
	if hits[0].Rank <= 0 {
		t.Errorf("rank = %v", hits[0].Rank)
	}
}

func TestRelevantMemories(t *testing.T) {
	pool := migrated(t)
	keys := seedCorpus(t, pool)
	for _, tc := range []struct{ message, want string }{
		{"Can you suggest a restaurant for our anniversary dinner?", "anniversary"},
		{"What should I get my mum for her birthday?", "mother"},
		{"Remind me what the vet said about Rex", "dog"},
		{"How is the Falcon migration going?", "project"},
	} {
		ms, err := RelevantMemories(t.Context(), pool, tc.message, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 || keys[ms[0].ID] != tc.want {
			var order []string
			for _, m := range ms {
				order = append(order, keys[m.ID])
			}
			t.Errorf("relevant to %q: %v, want %s first", tc.message, order, tc.want)
		}
	}
}

func TestHighlightHTML(t *testing.T) {
	for in, want := range map[string]string{
		"plain <b>":                                             "plain &lt;b&gt;",
		markStart + "a" + markStop + " & b":                     "<mark>a</mark> &amp; b",
		"x " + markStart + "unterminated <":                     "x <mark>unterminated &lt;</mark>",
		markStart + "1" + markStop + markStart + "2" + markStop: "<mark>1</mark><mark>2</mark>",
	} {
		if got := highlightHTML(in); got != want {
			t.Errorf("highlightHTML(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzHighlightHTML checks that a highlight is safe HTML whatever the
// memory held: the only tags are the marks.
func FuzzHighlightHTML(f *testing.F) {
	f.Add("<script>" + markStart + "x" + markStop + "</script>")
	f.Add(markStop + markStart + markStart + "&\"'")
	f.Fuzz(func(t *testing.T, s string) {
		got := strings.NewReplacer("<mark>", "", "</mark>", "").Replace(highlightHTML(s))
		if strings.ContainsAny(got, "<>\"'") {
			t.Fatalf("highlightHTML(%q) leaves markup: %q", s, got)
		}
	})
}
