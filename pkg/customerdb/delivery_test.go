package customerdb

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDeliverFirstWritesAllThenOnlyThePlans(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	hash, prefix := newKey(t)
	first := Delivery{
		Files: []DeliveredFile{
			{Path: "USER.md", Content: "Ada"},
			{Path: "BOOTSTRAP.md", Content: "hello"},
			{Path: "skills/memory/SKILL.md", Content: "memory v1", PlanManaged: true},
		},
		APIKey: DeliveredKey{Hash: hash, Prefix: prefix},
	}
	if err := Deliver(ctx, pool, first); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if !check(t, pool, hash) {
		t.Fatal("the delivered key does not work")
	}
	// Replayed: nothing changes, and a key revoked since stays revoked.
	if err := RevokeAPIKeys(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := Deliver(ctx, pool, first); err != nil {
		t.Fatalf("Deliver again: %v", err)
	}
	if check(t, pool, hash) {
		t.Error("delivering again brought a revoked key back")
	}

	// The customer's edits survive a later delivery (a returning customer's
	// new key); the plan's files follow the new render.
	if err := PutFiles(ctx, pool, File{"USER.md", "Ada Lovelace"}); err != nil {
		t.Fatal(err)
	}
	if _, err := DeleteFiles(ctx, pool, "BOOTSTRAP.md"); err != nil {
		t.Fatal(err)
	}
	hash2, prefix2 := newKey(t)
	second := Delivery{
		Files: []DeliveredFile{
			{Path: "USER.md", Content: "Ada"},
			{Path: "BOOTSTRAP.md", Content: "hello"},
			{Path: "skills/memory/SKILL.md", Content: "memory v2", PlanManaged: true},
			{Path: "skills/browser/SKILL.md", Content: "browser", PlanManaged: true},
		},
		APIKey: DeliveredKey{Hash: hash2, Prefix: prefix2},
	}
	if err := Deliver(ctx, pool, second); err != nil {
		t.Fatalf("Deliver into a workspace: %v", err)
	}
	want := []File{
		{"USER.md", "Ada Lovelace"},
		{"skills/browser/SKILL.md", "browser"},
		{"skills/memory/SKILL.md", "memory v2"},
	}
	if diff := cmp.Diff(want, readAll(t, pool)); diff != "" {
		t.Errorf("workspace (-want +got):\n%s", diff)
	}
	if !check(t, pool, hash2) {
		t.Error("the second delivery's key does not work")
	}
}

func TestDeliverRefusesABadDeliveryWhole(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	hash, prefix := newKey(t)
	for name, d := range map[string]Delivery{
		"short hash":    {APIKey: DeliveredKey{Hash: hash[:16], Prefix: prefix}},
		"no prefix":     {APIKey: DeliveredKey{Hash: hash}},
		"long prefix":   {APIKey: DeliveredKey{Hash: hash, Prefix: string(make([]byte, MaxKeyPrefixLen+1))}},
		"empty path":    {Files: []DeliveredFile{{Path: "A.md"}, {Path: ""}}, APIKey: DeliveredKey{Hash: hash, Prefix: prefix}},
		"path twice":    {Files: []DeliveredFile{{Path: "A.md"}, {Path: "A.md"}}, APIKey: DeliveredKey{Hash: hash, Prefix: prefix}},
		"no key at all": {Files: []DeliveredFile{{Path: "A.md"}}},
	} {
		t.Run(name, func(t *testing.T) {
			err := Deliver(ctx, pool, d)
			if !errors.Is(err, ErrInvalidDelivery) {
				t.Fatalf("Deliver = %v, want ErrInvalidDelivery", err)
			}
			if name == "empty path" || name == "path twice" {
				if !errors.Is(err, ErrInvalidFiles) {
					t.Errorf("Deliver = %v, want it to match ErrInvalidFiles too", err)
				}
			}
		})
	}
	if got := readAll(t, pool); len(got) != 0 {
		t.Errorf("refused deliveries wrote %v", got)
	}
	if check(t, pool, hash) {
		t.Error("a refused delivery added its key")
	}
}
