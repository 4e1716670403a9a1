package render

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Zero-width joiners are format characters that real names need (emoji
// sequences, Persian and Indic scripts); every other format character is
// dropped.
const (
	zeroWidthNonJoiner = '\u200C'
	zeroWidthJoiner    = '\u200D'
)

// oneLine reduces user-supplied text to a single line of at most max runes:
// invalid UTF-8 becomes U+FFFD; control characters, line and paragraph
// separators and all other whitespace become single spaces; invisible format
// characters (bidi overrides, zero-width spaces, BOMs) are removed; the
// result is trimmed and, if too long, cut with an ellipsis.
func oneLine(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	pendingSpace := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r):
			pendingSpace = b.Len() > 0
			continue
		case unicode.Is(unicode.Cf, r) && r != zeroWidthJoiner && r != zeroWidthNonJoiner:
			continue
		}
		if pendingSpace {
			b.WriteByte(' ')
			pendingSpace = false
		}
		b.WriteRune(r)
		// Stop early so a megabyte of input costs no more than max runes of work.
		if b.Len() > 4*(max+1) {
			break
		}
	}
	return truncate(b.String(), max)
}

// truncate cuts s to at most max runes, marking a cut with "…".
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	kept := []rune(s)[:max-1]
	return strings.TrimRightFunc(string(kept), unicode.IsSpace) + "…"
}

// markdownEscaper backslash-escapes the ASCII punctuation that Markdown
// (CommonMark and GitHub Flavored Markdown) interprets inside a line:
// emphasis, code spans, links and images, raw HTML and entities, tables,
// strikethrough and headings. CommonMark defines a backslash before any ASCII
// punctuation as that literal character, so the text reads the same.
var markdownEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
	`<`, `\<`, `>`, `\>`, `&`, `\&`, `#`, `\#`, `|`, `\|`, `~`, `\~`, `!`, `\!`,
)

// markdownInline escapes a value produced by oneLine for inline use in
// Markdown. Templates only place such values after a label on a line, so
// block syntax at the start of a line ("---", "- ", "1. ") cannot arise.
func markdownInline(s string) string {
	return markdownEscaper.Replace(s)
}

// zoneName is the shape of an IANA zone name ("America/Argentina/Buenos_Aires",
// "Etc/GMT+5").
var zoneName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,3}$`)

// location resolves a checkout timezone. It reports false, and returns UTC,
// for an empty, malformed or unknown zone; "Local" is refused because it
// would make the output depend on the machine that renders.
func location(name string) (*time.Location, bool) {
	name = strings.TrimSpace(name)
	if name == "" || name == "Local" || len(name) > 64 || !zoneName.MatchString(name) {
		return time.UTC, false
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC, false
	}
	return loc, true
}
