package telegram

import (
	"strings"
	"testing"
	"unicode/utf16"
)

func TestSplit(t *testing.T) {
	emoji := "😀" // two UTF-16 units
	for _, c := range []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"fits", "hello", 10, []string{"hello"}},
		{"at a space", "hello world again", 12, []string{"hello world", "again"}},
		{"at a line", "one two\nthree four", 14, []string{"one two", "three four"}},
		{"at a paragraph", "aaaa\n\nbb cc dd", 10, []string{"aaaa", "bb cc dd"}},
		{"no break", strings.Repeat("x", 10), 4, []string{"xxxx", "xxxx", "xx"}},
		{"surrogate pair kept whole", "ab" + emoji + emoji, 3, []string{"ab", emoji, emoji}},
		{"trailing blank", "hi   \n\n", 3, []string{"hi"}},
		{"empty", "  ", 4, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Split(c.text, c.limit)
			if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
				t.Fatalf("Split(%q, %d) = %q, want %q", c.text, c.limit, got, c.want)
			}
			for _, p := range got {
				if n := len(utf16.Encode([]rune(p))); n > c.limit {
					t.Errorf("part of %d units", n)
				}
			}
		})
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("hello world", 5)
	f.Add(strings.Repeat("😀 a\n", 50), 7)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if limit < 2 || limit > 5000 {
			return
		}
		for _, p := range Split(text, limit) {
			if n := len(utf16.Encode([]rune(p))); n > limit || strings.TrimSpace(p) == "" {
				t.Fatalf("part %q: %d units, limit %d", p, n, limit)
			}
		}
	})
}

func TestSealer(t *testing.T) {
	a, err := NewSealer("instance-token-a-0123456789abcdef0123")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSealer("instance-token-b-0123456789abcdef0123")
	sealed := a.Seal("123:secret")
	if got, err := a.Open(sealed); err != nil || got != "123:secret" {
		t.Fatalf("Open = %q %v", got, err)
	}
	if _, err := b.Open(sealed); err == nil {
		t.Fatal("another instance's key opened the token")
	}
	if _, err := NewSealer(""); err == nil {
		t.Fatal("a sealer without a key")
	}
}
