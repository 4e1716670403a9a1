package customerdb

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSkillSettings(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	got, err := SkillSettings(ctx, pool)
	if err != nil || len(got) != 0 {
		t.Fatalf("fresh settings = %v, %v", got, err)
	}
	for _, s := range []struct {
		name string
		on   bool
	}{{"gmail", false}, {"chat", true}, {"gmail", true}, {"browser", false}, {"browser", false}} {
		if err := SetSkillEnabled(ctx, pool, s.name, s.on); err != nil {
			t.Fatal(err)
		}
	}
	got, err = SkillSettings(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"gmail": true, "chat": true, "browser": false}, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

func TestReadFiles(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	if err := PutFiles(ctx, pool, File{"SOUL.md", "soul"}, File{"USER.md", "user"}, File{"x.md", "x"}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFiles(ctx, pool, "USER.md", "SOUL.md", "missing.md")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]File{{"SOUL.md", "soul"}, {"USER.md", "user"}}, got); diff != "" {
		t.Errorf("ReadFiles (-want +got):\n%s", diff)
	}
}
