package render

import "testing"

func TestOneLine(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"  Ada \n\t Lovelace  ", 100, "Ada Lovelace"},
		{"a\r\nb\u2028c\u2029d\u0085e", 100, "a b c d e"},
		{"ev\u202eil\u200b\ufeff", 100, "evil"},
		{"👩\u200d👩\u200d👧", 100, "👩\u200d👩\u200d👧"},
		{"\xff", 100, "\uFFFD"},
		{"abcdef", 4, "abc…"},
		{"abc def", 5, "abc…"},
		{"abcd", 4, "abcd"},
		{"", 4, ""},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in, tt.max); got != tt.want {
			t.Errorf("oneLine(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestMarkdownInline(t *testing.T) {
	got := markdownInline("a_b *c* `d` [e](f) <g> & #h |i| ~j~ !k \\")
	want := `a\_b \*c\* \` + "`" + `d\` + "`" + ` \[e\](f) \<g\> \& \#h \|i\| \~j\~ \!k \\`
	if got != want {
		t.Errorf("markdownInline = %q, want %q", got, want)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 5000: "5,000", 100000: "100,000", 1234567: "1,234,567", -20000: "-20,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
