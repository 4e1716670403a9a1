package browser

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/tools"
	"clawdbot.cloud/services/runtime/internal/webfetch"
)

// Bounds of the browser tools.
const (
	actionTimeout = 30 * time.Second
	maxTextChars  = 20_000
)

// Tools returns the browser tools, which store screenshots in db.
func (b *Browser) Tools(db customerdb.DB) []tools.Tool {
	tool := func(name, desc, props string, required []string, run func(context.Context, *tab, map[string]any) (string, error)) tools.Tool {
		return tools.Tool{
			Skill: plans.SkillBrowser,
			Spec:  llm.ToolSpec{Name: name, Description: desc, Schema: tools.Schema(props, required...)},
			Run: func(ctx context.Context, c tools.Call) (string, error) {
				var in map[string]any
				if err := tools.Decode(c.Input, &in); err != nil {
					return "", err
				}
				t, err := b.tab(c.ConversationID)
				if err != nil {
					return "", err
				}
				// The action's own bound, within the tab's lifetime.
				actx, cancel := context.WithTimeout(t.ctx, actionTimeout)
				defer cancel()
				stop := context.AfterFunc(ctx, cancel)
				defer stop()
				if name == "browser_screenshot" {
					png, err := chromedp.Run(actx, chromedp.CaptureScreenshot())
					if err != nil {
						return "", fmt.Errorf("screenshot: %w", err)
					}
					id, err := customerdb.AddScreenshot(ctx, db, c.ConversationID, png)
					if err != nil {
						return "", err
					}
					return fmt.Sprintf("screenshot %d stored (%d bytes): GET /api/screenshots/%d", id, len(png), id), nil
				}
				return run(actx, t, in)
			},
		}
	}
	return []tools.Tool{
		tool("browser_open", "Open a web page (http or https) in a real browser, for pages that need JavaScript or interaction; returns the page's title and text.",
			`{"url":{"type":"string","description":"The page to open."}}`, []string{"url"}, b.open),
		tool("browser_read", "Read the text of the page open in the browser.", `{}`, nil, b.read),
		tool("browser_click", "Click the first element matching a CSS selector on the open page; returns the page's text after.",
			`{"selector":{"type":"string","description":"A CSS selector."}}`, []string{"selector"}, b.click),
		tool("browser_type", "Type text into the first element matching a CSS selector; optionally press Enter after.",
			`{"selector":{"type":"string"},"text":{"type":"string"},"submit":{"type":"boolean","description":"Press Enter after typing."}}`, []string{"selector", "text"}, b.typeText),
		tool("browser_screenshot", "Take a screenshot of the open page; it is stored and linked in the conversation.", `{}`, nil, nil),
	}
}

func str(in map[string]any, key string) string {
	s, _ := in[key].(string)
	return strings.TrimSpace(s)
}

// open checks the URL and its host's addresses first (a clear refusal),
// then navigates; the proxy enforces the rules for everything after.
func (b *Browser) open(ctx context.Context, _ *tab, in map[string]any) (string, error) {
	raw := str(in, "url")
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return "", fmt.Errorf("%w: not a valid URL", tools.ErrBadInput)
	}
	if err := webfetch.CheckURL(u); err != nil {
		return "", err
	}
	if err := b.checkHost(ctx, u); err != nil {
		return "", err
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
		return "", fmt.Errorf("open %s: %v", u.Host, err)
	}
	return pageText(ctx)
}

// checkHost resolves the URL's host and refuses it if any address is not
// allowed.
func (b *Browser) checkHost(ctx context.Context, u *url.URL) error {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("open %s: the name does not resolve", host)
	}
	g := webfetch.Guard{Allow: b.o.Allow}
	for _, a := range addrs {
		if err := g.Check(net.JoinHostPort(a.Unmap().String(), port)); err != nil {
			return err
		}
	}
	return nil
}

func (b *Browser) read(ctx context.Context, _ *tab, _ map[string]any) (string, error) {
	return pageText(ctx)
}

func (b *Browser) click(ctx context.Context, _ *tab, in map[string]any) (string, error) {
	sel := str(in, "selector")
	if sel == "" {
		return "", fmt.Errorf("%w: selector is required", tools.ErrBadInput)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		return "", fmt.Errorf("click %s: %v", sel, short(err))
	}
	_ = chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("body")))
	return pageText(ctx)
}

func (b *Browser) typeText(ctx context.Context, _ *tab, in map[string]any) (string, error) {
	sel, text := str(in, "selector"), fmt.Sprint(in["text"])
	if sel == "" {
		return "", fmt.Errorf("%w: selector is required", tools.ErrBadInput)
	}
	if submit, _ := in["submit"].(bool); submit {
		text += kb.Enter
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible)); err != nil {
		return "", fmt.Errorf("type into %s: %v", sel, short(err))
	}
	_ = chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("body")))
	return pageText(ctx)
}

// pageText is the open page's URL, title and visible text.
func pageText(ctx context.Context) (string, error) {
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		return "", fmt.Errorf("read the page: %v", short(err))
	}
	loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href"))
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "", fmt.Errorf("read the page: %v", short(err))
	}
	if r := []rune(text); len(r) > maxTextChars {
		text = string(r[:maxTextChars]) + "\n[page cut here]"
	}
	return fmt.Sprintf("URL: %s\nTitle: %s\n\n%s", loc, title, strings.TrimSpace(text)), nil
}

func short(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timed out (is the selector on the page?)")
	}
	return err
}
