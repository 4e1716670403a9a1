package webfetch

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// skipped elements hold no readable text.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Svg: true, atom.Iframe: true, atom.Head: true, atom.Canvas: true,
}

// blocks end a line of text.
var blocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Br: true, atom.Li: true, atom.Tr: true, atom.H1: true, atom.H2: true,
	atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true, atom.Section: true, atom.Article: true,
	atom.Header: true, atom.Footer: true, atom.Blockquote: true, atom.Pre: true, atom.Table: true,
	atom.Ul: true, atom.Ol: true, atom.Hr: true, atom.Dt: true, atom.Dd: true, atom.Main: true, atom.Nav: true,
}

// HTMLText returns an HTML page's title and its readable text: scripts,
// styles and markup gone, one line per block, runs of blank space folded.
func HTMLText(page []byte) (title, text string) {
	z := html.NewTokenizer(bytes.NewReader(page))
	var b strings.Builder
	var line strings.Builder
	skip := 0
	inTitle := false
	flush := func() {
		if s := strings.Join(strings.Fields(line.String()), " "); s != "" {
			b.WriteString(s)
			b.WriteByte('\n')
		}
		line.Reset()
	}
	for {
		switch z.Next() {
		case html.ErrorToken:
			flush()
			return strings.Join(strings.Fields(title), " "), strings.TrimSpace(b.String())
		case html.StartTagToken, html.SelfClosingTagToken:
			tn, _ := z.TagName()
			a := atom.Lookup(tn)
			if a == atom.Title {
				inTitle = true
			}
			if skipped[a] && a != atom.Head {
				skip++
			}
			if blocks[a] {
				flush()
			}
		case html.EndTagToken:
			tn, _ := z.TagName()
			a := atom.Lookup(tn)
			if a == atom.Title {
				inTitle = false
			}
			if skipped[a] && a != atom.Head && skip > 0 {
				skip--
			}
			if blocks[a] {
				flush()
			}
		case html.TextToken:
			t := string(z.Text())
			switch {
			case inTitle:
				title += t
			case skip == 0:
				line.WriteString(t)
				line.WriteByte(' ')
			}
		}
	}
}
