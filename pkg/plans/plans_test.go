package plans_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/plans"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		id   string
		want plans.Plan
	}{
		{
			id: "starter",
			want: plans.Plan{
				ID: "starter", Name: "Starter", PriceCents: 2900, MonthlyMessages: 5000, MonthlyTokens: 10_000_000, StorageBytes: 256 << 20, MaxAgents: 3,
				Skills: []string{"chat", "memory", "web-search"},
				VCPUs:  0.5, MemoryMB: 512, TrialDays: 14, Model: "claude-haiku-4-5", Engine: "runtime",
			},
		},
		{
			id: "pro",
			want: plans.Plan{
				ID: "pro", Name: "Pro", PriceCents: 7900, MonthlyMessages: 20000, MonthlyTokens: 10_000_000, StorageBytes: 1 << 30, MaxAgents: 10,
				Skills: []string{"chat", "memory", "web-search", "gmail", "calendar", "browser"},
				VCPUs:  1, MemoryMB: 1024, TrialDays: 14, Model: "claude-sonnet-4-5", Engine: "runtime",
			},
		},
		{
			id: "team",
			want: plans.Plan{
				ID: "team", Name: "Team", PriceCents: 19900, MonthlyMessages: 100000, MonthlyTokens: 25_000_000, StorageBytes: 4 << 30, MaxAgents: 0,
				Skills: []string{"chat", "memory", "web-search", "gmail", "calendar", "browser", "slack", "github", "documents"},
				VCPUs:  2, MemoryMB: 2048, TrialDays: 14, Model: "claude-sonnet-4-5", Engine: "runtime",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got, err := plans.Lookup(tt.id)
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tt.id, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%q) mismatch (-want +got):\n%s", tt.id, diff)
			}
		})
	}
}

func TestLookupRejectsOtherSpellings(t *testing.T) {
	for _, id := range []string{"", "Starter", "PRO", " team", "team ", "enterprise", "starter\n", "pro\x00"} {
		t.Run(id, func(t *testing.T) {
			p, err := plans.Lookup(id)
			if !errors.Is(err, plans.ErrUnknownPlan) {
				t.Fatalf("Lookup(%q) error = %v, want ErrUnknownPlan", id, err)
			}
			if p.ID != "" {
				t.Errorf("Lookup(%q) returned plan %q alongside the error", id, p.ID)
			}
		})
	}
}

func TestAllOrderAndInvariants(t *testing.T) {
	all := plans.All()
	var ids []string
	for _, p := range all {
		ids = append(ids, p.ID)
	}
	if diff := cmp.Diff([]string{plans.Starter, plans.Pro, plans.Team}, ids); diff != "" {
		t.Fatalf("All() ids (-want +got):\n%s", diff)
	}

	skillName := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	for i, p := range all {
		if p.ID != strings.ToLower(strings.TrimSpace(p.ID)) {
			t.Errorf("plan id %q is not lowercase and trimmed", p.ID)
		}
		if p.TrialDays != 14 {
			t.Errorf("%s: TrialDays = %d, want 14", p.ID, p.TrialDays)
		}
		if !strings.HasPrefix(p.Model, "claude-") {
			t.Errorf("%s: Model = %q, want a claude-* id", p.ID, p.Model)
		}
		if p.VCPUs <= 0 || p.MemoryMB <= 0 || p.PriceCents <= 0 || p.MonthlyMessages <= 0 || p.StorageBytes <= 0 {
			t.Errorf("%s: non-positive size, price or quota: %+v", p.ID, p)
		}
		seen := map[string]bool{}
		for _, s := range p.Skills {
			if !skillName.MatchString(s) {
				t.Errorf("%s: skill %q is not a lowercase hyphenated name", p.ID, s)
			}
			if seen[s] {
				t.Errorf("%s: skill %q listed twice", p.ID, s)
			}
			seen[s] = true
		}
		if i == 0 {
			continue
		}
		// Each plan costs more, includes more messages and is at least as large
		// as the one below, and grants every skill the smaller plan grants.
		prev := all[i-1]
		if p.PriceCents <= prev.PriceCents || p.MonthlyMessages <= prev.MonthlyMessages {
			t.Errorf("%s is not strictly above %s in price and messages", p.ID, prev.ID)
		}
		if p.VCPUs < prev.VCPUs || p.MemoryMB < prev.MemoryMB || p.StorageBytes <= prev.StorageBytes {
			t.Errorf("%s is smaller than %s", p.ID, prev.ID)
		}
		for _, s := range prev.Skills {
			if !p.Allows(s) {
				t.Errorf("%s does not allow %q, which %s allows", p.ID, s, prev.ID)
			}
		}
	}
}

func TestAllows(t *testing.T) {
	tests := []struct {
		plan  string
		skill string
		want  bool
	}{
		{plans.Starter, plans.SkillChat, true},
		{plans.Starter, plans.SkillMemory, true},
		{plans.Starter, plans.SkillWebSearch, true},
		{plans.Starter, plans.SkillGmail, false},
		{plans.Starter, plans.SkillBrowser, false},
		{plans.Pro, plans.SkillGmail, true},
		{plans.Pro, plans.SkillCalendar, true},
		{plans.Pro, plans.SkillBrowser, true},
		{plans.Pro, plans.SkillSlack, false},
		{plans.Pro, plans.SkillGitHub, false},
		{plans.Team, plans.SkillSlack, true},
		{plans.Team, plans.SkillGitHub, true},
		{plans.Team, plans.SkillDocuments, true},
		{plans.Team, "Gmail", false},
		{plans.Team, "", false},
		{plans.Team, "shell", false},
	}
	for _, tt := range tests {
		t.Run(tt.plan+"/"+tt.skill, func(t *testing.T) {
			p, err := plans.Lookup(tt.plan)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Allows(tt.skill); got != tt.want {
				t.Errorf("%s.Allows(%q) = %v, want %v", tt.plan, tt.skill, got, tt.want)
			}
		})
	}
}

func TestTeamIsUnlimited(t *testing.T) {
	p, err := plans.Lookup(plans.Team)
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxAgents != plans.UnlimitedAgents {
		t.Errorf("team MaxAgents = %d, want UnlimitedAgents", p.MaxAgents)
	}
}

// TestCopiesDoNotAliasCatalog guards the catalog against callers that modify
// what they were given.
func TestCopiesDoNotAliasCatalog(t *testing.T) {
	p, err := plans.Lookup(plans.Starter)
	if err != nil {
		t.Fatal(err)
	}
	p.Skills[0] = "hacked"
	p.Skills = append(p.Skills, "gmail")
	all := plans.All()
	all[0].Skills[1] = "hacked"
	all[0].PriceCents = 1

	again, err := plans.Lookup(plans.Starter)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"chat", "memory", "web-search"}, again.Skills); diff != "" {
		t.Errorf("catalog skills changed through a returned copy (-want +got):\n%s", diff)
	}
	if again.PriceCents != 2900 {
		t.Errorf("catalog price changed through a returned copy: %d", again.PriceCents)
	}
	pro, err := plans.Lookup(plans.Pro)
	if err != nil {
		t.Fatal(err)
	}
	if pro.Skills[0] != "chat" || pro.Allows("hacked") {
		t.Errorf("pro skills share memory with starter: %v", pro.Skills)
	}
}

func TestWithEngine(t *testing.T) {
	tests := []struct {
		plan, engine string
		wantErr      error
	}{
		{plan: "team", engine: "openclaw"},
		{plan: "team", engine: "runtime"},
		{plan: "starter", engine: "runtime"},
		{plan: "pro", engine: "openclaw", wantErr: plans.ErrEngineTooSmall},
		{plan: "starter", engine: "openclaw", wantErr: plans.ErrEngineTooSmall},
		{plan: "team", engine: "OpenClaw", wantErr: plans.ErrUnknownEngine},
		{plan: "team", engine: "", wantErr: plans.ErrUnknownEngine},
	}
	for _, tt := range tests {
		t.Run(tt.plan+"/"+tt.engine, func(t *testing.T) {
			p, _ := plans.Lookup(tt.plan)
			got, err := p.WithEngine(tt.engine)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("WithEngine(%q) error = %v, want %v", tt.engine, err, tt.wantErr)
			}
			if err == nil && got.Engine != tt.engine {
				t.Errorf("Engine = %q, want %q", got.Engine, tt.engine)
			}
			if again, _ := plans.Lookup(tt.plan); again.Engine != plans.EngineRuntime {
				t.Errorf("catalog changed: %s engine %q", tt.plan, again.Engine)
			}
		})
	}
}
