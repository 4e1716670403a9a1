package telegram

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxMessageLen is Telegram's limit of one message, in UTF-16 code units.
const MaxMessageLen = 4096

// Split cuts text into messages of at most limit UTF-16 code units (as
// Telegram counts), preferring to cut after a blank line, then a line, then
// a space, and never inside a character (a surrogate pair stays whole).
func Split(text string, limit int) []string {
	var parts []string
	for strings.TrimSpace(text) != "" {
		cut := prefixFitting(text, limit)
		if cut == 0 {
			// A limit below one character: send the character alone.
			_, cut = utf8.DecodeRuneInString(text)
		}
		if cut == len(text) {
			parts = append(parts, strings.TrimRightFunc(text, unicode.IsSpace))
			break
		}
		head := text[:cut]
		for _, sep := range []string{"\n\n", "\n", " "} {
			// A break past the first third is worth a shorter message.
			if i := strings.LastIndex(head, sep); i > 0 && i >= len(head)/3 {
				cut = i + len(sep)
				break
			}
		}
		if p := strings.TrimRightFunc(text[:cut], unicode.IsSpace); strings.TrimSpace(p) != "" {
			parts = append(parts, p)
		}
		text = text[cut:]
	}
	return parts
}

// prefixFitting returns the byte length of the longest prefix of s that is
// at most limit UTF-16 code units.
func prefixFitting(s string, limit int) int {
	units := 0
	for i, r := range s {
		n := 1
		if utf16.RuneLen(r) == 2 {
			n = 2
		}
		if units+n > limit {
			return i
		}
		units += n
	}
	return len(s)
}
