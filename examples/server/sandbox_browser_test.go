package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
)

// The end-to-end test of the sandbox page in headless Chromium (Debian's
// chromium package). It skips when Chromium is absent, except under CI
// (CI=true), where that is a failure.
//
// With CHATNOTIFY_SCREENSHOTS=DIR (relative to the repository root, e.g.
// docs/screenshots) it also saves the README's screenshots there.

// chromiumPath finds Chromium or skips (fails under CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed (apt-get install chromium); CI must run the browser test")
	}
	t.Skip("Chromium is not installed (apt-get install chromium): skipping the browser test")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile and no
// background traffic (the machine may be offline).
func newBrowser(t *testing.T, execPath string) context.Context {
	t.Helper()
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Registered after TempDir, so it runs first: the browser is gone
	// before its profile is removed.
	t.Cleanup(func() {
		chromedp.Cancel(ctx)
		cancel()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(ctx), "starting Chromium")
	return ctx
}

// screenshots saves PNGs of the page when CHATNOTIFY_SCREENSHOTS is set.
type screenshots struct{ dir string }

func newScreenshots(t *testing.T) screenshots {
	dir := os.Getenv("CHATNOTIFY_SCREENSHOTS")
	if dir == "" || filepath.IsAbs(dir) {
		return screenshots{dir}
	}
	// Relative to the repository root (go test runs in the package).
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return screenshots{filepath.Join(root, dir)}
}

// take scrolls the page so that sel is near the top (or to the very top
// when sel is "") and saves the viewport as name.
func (s screenshots) take(t *testing.T, ctx context.Context, name, sel string) {
	t.Helper()
	if s.dir == "" {
		return
	}
	scroll := `window.scrollTo(0, 0)`
	if sel != "" {
		scroll = `document.querySelector('` + sel + `').scrollIntoView({block: "start"}); window.scrollBy(0, -20)`
	}
	_, err := chromedp.Run(ctx, chromedp.Evaluate[any](scroll+`; document.activeElement && document.activeElement.blur()`))
	require.NoError(t, err)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(s.dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(s.dir, name), png, 0o644))
	t.Logf("saved %s", filepath.Join(s.dir, name))
}

// waitFor polls a JavaScript condition until it is true.
func waitFor(ctx context.Context, what, js string) error {
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		return errors.New("waiting for " + what + ": " + err.Error())
	}
	return nil
}

// listedApproval waits until the page lists a request titled title and
// returns its ID. The page lists only the requests it created, each
// remembered when POST /v1/approvals answers, so once the request is
// listed the page has taken note of it and may be navigated away from.
// Other requests, listed before or after, do not count.
func listedApproval(ctx context.Context, title string) (string, error) {
	js := `(() => {
		const li = Array.from(document.querySelectorAll('#approvals li[data-approval-id]'))
			.find(li => li.querySelector('.ap-title')?.textContent === ` + strconv.Quote(title) + `);
		return li ? li.dataset.approvalId : "";
	})()`
	id, err := chromedp.Run(ctx, chromedp.Poll[string](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		return "", errors.New("waiting for the request " + strconv.Quote(title) + " to be listed: " + err.Error())
	}
	return id, nil
}

func TestSandboxInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	s := startSandboxApp(t)
	shots := newScreenshots(t)
	ctx := newBrowser(t, chromium)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1440, 900),
		chromedp.Navigate(s.base+"/sandbox"),
		chromedp.WaitVisible(`#channel-form`),
		chromedp.WaitVisible(`#live`),
	))

	// Slack, bot token: create the channel, raise a request, click Approve.
	const slackPane = `.channel[data-kind="bot"]`
	var approvalID string
	t.Run("Slack: Approve replaces the message and approves the request", func(t *testing.T) {
		const title = "Delete production database backups" // the form's default
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(`#create-channel`),
			chromedp.WaitVisible(slackPane),
			chromedp.Click(`#raise-approval`),
		))
		var err error
		approvalID, err = listedApproval(ctx, title)
		require.NoError(t, err)
		require.NoError(t, waitFor(ctx, "the request's Slack message with its buttons", `(() => {
			const msgs = document.querySelectorAll('`+slackPane+` .sk-msg');
			return msgs.length === 1 && msgs[0].innerText.includes(`+strconv.Quote(title)+`) &&
				!!msgs[0].querySelector('.sk-btn[data-action-id="approve_action"]');
		})()`))
		before, err := chromedp.Run(ctx, chromedp.Text(slackPane+` .sk-msg`))
		require.NoError(t, err)
		assert.Contains(t, before, "Approval requested")
		assert.Contains(t, before, "Delete production database backups")
		shots.take(t, ctx, "sandbox-slack-approval.png", "")

		require.NoError(t, chromedp.Do(ctx, chromedp.Click(slackPane+` .sk-btn[data-action-id="approve_action"]`)))
		require.NoError(t, waitFor(ctx, "the APPROVED replacement, through both paths", `(() => {
			const m = document.querySelector('`+slackPane+` .sk-msg');
			const edits = m ? Array.from(m.querySelectorAll('.sk-meta .chip'), c => c.textContent) : [];
			return !!m && m.innerText.includes("APPROVED by amy") && !m.querySelector("[data-action-id]") &&
				edits.includes("response_url") && edits.includes("chat.update");
		})()`))
		require.NoError(t, waitFor(ctx, "the approved status", `document.querySelector('#approvals li[data-approval-id="`+approvalID+`"] .status')?.textContent === "approved"`))
		require.NoError(t, waitFor(ctx, "the audit entry", `document.querySelector('#audit')?.innerText.includes("amy (verified) via slack")`))
		notes, err := chromedp.Run(ctx, chromedp.Text(`#approvals li[data-approval-id="`+approvalID+`"] .ap-notes`))
		require.NoError(t, err)
		assert.Contains(t, notes, "Approved by amy via Slack")

		// The "Click as" line is text as a reader sees it, not raw mrkdwn.
		status, err := chromedp.Run(ctx, chromedp.Text(`#click-result`))
		require.NoError(t, err)
		assert.Contains(t, status, "answered 200: \u2705 APPROVED by amy")
		assert.NotContains(t, status, "*")
		assert.NotContains(t, status, ":white_check_mark:")
		// The risk reads as in the messages: the score, then the level.
		meta, err := chromedp.Run(ctx, chromedp.Text(`#approvals li[data-approval-id="`+approvalID+`"] .ap-meta`))
		require.NoError(t, err)
		assert.Contains(t, meta, "risk 82 (high)")
		audit, err := chromedp.Run(ctx, chromedp.Text(`#audit`))
		require.NoError(t, err)
		assert.Contains(t, audit, "risk 82 (high)")
		shots.take(t, ctx, "sandbox-slack-approved.png", "")

		var got approval.Request
		s.call(t, "GET", "/v1/approvals/"+approvalID, nil, &got)
		assert.Equal(t, approval.StatusApproved, got.Status)
		assert.Equal(t, approval.SourceSlack, got.ReviewSource)
		assert.Equal(t, "amy", got.ReviewedBy)
	})

	// Teams: create the channel, raise a request, follow the card's
	// signed Approve link and confirm.
	const teamsPane = `.channel[data-kind="teams"]`
	t.Run("Teams: the Approve link decides and a result card follows", func(t *testing.T) {
		const title = "Rotate the production API keys"
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(`#channel-kind button[data-kind="teams"]`),
			chromedp.Click(`#create-channel`),
			chromedp.WaitVisible(teamsPane),
			chromedp.SetValue(`#approval-form input[name="title"]`, title),
			chromedp.SetValue(`#approval-form input[name="risk_score"]`, "55"),
			chromedp.SetValue(`#approval-form input[name="agent"]`, "secrets-bot"),
			chromedp.SetValue(`#approval-form input[name="action"]`, "kms:RotateKey"),
			chromedp.SetValue(`#approval-form textarea[name="description"]`, "Scheduled rotation of the keys used by the payments API."),
			chromedp.Click(`#raise-approval`),
		))
		// Before leaving the page for the link: the page must have taken
		// note of the new request, or it will not list it on return.
		id, err := listedApproval(ctx, title)
		require.NoError(t, err)
		require.NotEqual(t, approvalID, id)
		require.NoError(t, waitFor(ctx, "the request's Teams card with its links", `(() => {
			const cards = document.querySelectorAll('`+teamsPane+` .ac-card');
			return cards.length === 1 && cards[0].innerText.includes(`+strconv.Quote(title)+`) &&
				!!cards[0].querySelector('.ac-action[data-title="Approve"]');
		})()`))
		card, err := chromedp.Run(ctx, chromedp.Text(teamsPane+` .ac-card`))
		require.NoError(t, err)
		assert.Contains(t, card, title)
		shots.take(t, ctx, "sandbox-teams-card.png", teamsPane)

		href, err := chromedp.Run(ctx, chromedp.AttributeValue(teamsPane+` .ac-action[data-title="Approve"]`, "href"))
		require.NoError(t, err)
		require.True(t, href.Exists)
		link := href.Value
		require.True(t, strings.HasPrefix(link, s.base+approval.TeamsInteractionsPath+"?token="), link)

		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(link),
			chromedp.WaitVisible(`input[name="name"]`),
			chromedp.SetValue(`input[name="name"]`, "Jordan Lee"),
			chromedp.Click(`button[type="submit"]`),
			chromedp.WaitVisible(`main p.msg.good`), // the result page; the form has no message
		))
		page, err := chromedp.Run(ctx, chromedp.Text(`main`))
		require.NoError(t, err)
		assert.Contains(t, page, "Approved by Jordan Lee")

		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(s.base+"/sandbox"),
			chromedp.WaitVisible(teamsPane),
		))
		require.NoError(t, waitFor(ctx, "the Teams result card", `(() => {
			const cards = document.querySelectorAll('`+teamsPane+` .ac-card');
			return cards.length === 2 && cards[1].innerText.includes("APPROVED by Jordan Lee");
		})()`))
		require.NoError(t, waitFor(ctx, "the Slack copy rewritten with chat.update", `Array.from(document.querySelectorAll('`+slackPane+` .sk-msg'))
			.some(m => m.innerText.includes(`+strconv.Quote(title)+`) && m.innerText.includes("APPROVED by Jordan Lee") && !m.querySelector("[data-action-id]"))`))
		shots.take(t, ctx, "sandbox-teams-result.png", teamsPane)

		require.NoError(t, waitFor(ctx, "the newest request listed first", `document.querySelector('#approvals li[data-approval-id]')?.dataset.approvalId === `+strconv.Quote(id)))
		require.NoError(t, waitFor(ctx, "the approved status", `document.querySelector('#approvals li[data-approval-id="`+id+`"] .status')?.textContent === "approved"`))
		// The "Click as" line no longer shows the Slack click's answer: it
		// reports the Teams decision made while the page was away.
		require.NoError(t, waitFor(ctx, "the Teams decision on the Click as line",
			`document.querySelector('#click-result')?.textContent === `+strconv.Quote("\u201c"+title+"\u201d: Approved by Jordan Lee via Teams.")))
		meta, err := chromedp.Run(ctx, chromedp.Text(`#approvals li[data-approval-id="`+id+`"] .ap-meta`))
		require.NoError(t, err)
		assert.Contains(t, meta, "risk 55 (medium)")
		var got approval.Request
		s.call(t, "GET", "/v1/approvals/"+id, nil, &got)
		assert.Equal(t, approval.StatusApproved, got.Status)
		assert.Equal(t, approval.SourceTeams, got.ReviewSource)
		assert.Equal(t, "Jordan Lee", got.ReviewedBy)
	})

	// Teams through the bot: add the bot to a team (a signed
	// conversationUpdate), create the channel from the discovered
	// conversation, raise a request, click Approve in the card (a signed
	// adaptiveCard/action invoke): the card is replaced in place.
	const botPane = `.channel[data-kind="teams-bot"]`
	t.Run("Teams bot: Approve in the card replaces it in place", func(t *testing.T) {
		const title = "Grant production database access"
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(`#channel-kind button[data-kind="teamsbot"]`),
			chromedp.WaitVisible(`#add-bot`),
			chromedp.Click(`#add-bot`),
		))
		require.NoError(t, waitFor(ctx, "the discovered conversation", `(() => {
			const o = document.querySelector('#conversation option:checked');
			return !!o && o.value !== "" && o.textContent.includes("Contoso Security") &&
				document.querySelector('#conversation-ref').textContent.includes("@thread.tacv2");
		})()`))
		status, err := chromedp.Run(ctx, chromedp.Text(`#channel-result`))
		require.NoError(t, err)
		assert.Contains(t, status, "answered 200")
		shots.take(t, ctx, "sandbox-teams-bot-discovery.png", "")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(`#create-channel`),
			chromedp.WaitVisible(botPane),
			chromedp.SetValue(`#approval-form input[name="title"]`, title),
			chromedp.SetValue(`#approval-form input[name="risk_score"]`, "91"),
			chromedp.SetValue(`#approval-form input[name="agent"]`, "db-admin-bot"),
			chromedp.SetValue(`#approval-form input[name="action"]`, "rds:ModifyDBInstance"),
			chromedp.SetValue(`#approval-form textarea[name="description"]`, "Temporary read-write access to the orders database for a data fix."),
			chromedp.Click(`#raise-approval`),
		))
		id, err := listedApproval(ctx, title)
		require.NoError(t, err)
		require.NoError(t, waitFor(ctx, "the bot's card with its Approve and Deny buttons", `(() => {
			const cards = document.querySelectorAll('`+botPane+` .ac-card');
			return cards.length === 1 && cards[0].innerText.includes(`+strconv.Quote(title)+`) &&
				!!cards[0].querySelector('.ac-action[data-verb="approve"]:not([disabled])') &&
				!!cards[0].querySelector('.ac-action[data-verb="deny"]');
		})()`))
		shots.take(t, ctx, "sandbox-teams-bot-card.png", botPane)

		require.NoError(t, chromedp.Do(ctx, chromedp.Click(botPane+` .ac-action[data-verb="approve"]`)))
		// The invoke's answer replaces the card at once; the decision's
		// PUT of every copy follows with the same card.
		require.NoError(t, waitFor(ctx, "the card replaced in place: green, APPROVED, the reviewer", `(() => {
			const cards = document.querySelectorAll('`+botPane+` .ac-card');
			const msg = document.querySelector('`+botPane+` .tm-msg');
			const edits = msg ? Array.from(msg.querySelectorAll('.tm-meta .chip'), c => c.textContent) : [];
			return cards.length === 1 && !!cards[0].querySelector('.ac-container.ac-style-good') &&
				cards[0].innerText.includes("APPROVED by Megan Bowen") && !cards[0].querySelector(".ac-action") &&
				edits.includes("invoke response") && edits.includes("updateActivity");
		})()`))
		card, err := chromedp.Run(ctx, chromedp.Text(botPane+` .ac-card`))
		require.NoError(t, err)
		assert.Contains(t, card, title)
		assert.Contains(t, card, "Megan Bowen")
		assert.Contains(t, card, "91 (critical)")
		status, err = chromedp.Run(ctx, chromedp.Text(`#click-result`))
		require.NoError(t, err)
		assert.Contains(t, status, "answered 200 with the card that replaced the clicked one: APPROVED by Megan Bowen")
		require.NoError(t, waitFor(ctx, "the approved status", `document.querySelector('#approvals li[data-approval-id="`+id+`"] .status')?.textContent === "approved"`))
		require.NoError(t, waitFor(ctx, "the audit entry", `document.querySelector('#audit')?.innerText.includes("Megan Bowen (verified) via teams")`))
		require.NoError(t, waitFor(ctx, "the Slack copy rewritten with chat.update", `Array.from(document.querySelectorAll('`+slackPane+` .sk-msg'))
			.some(m => m.innerText.includes(`+strconv.Quote(title)+`) && m.innerText.includes("APPROVED by Megan Bowen") && !m.querySelector("[data-action-id]"))`))
		shots.take(t, ctx, "sandbox-teams-bot-approved.png", botPane)

		var got approval.Request
		s.call(t, "GET", "/v1/approvals/"+id, nil, &got)
		assert.Equal(t, approval.StatusApproved, got.Status)
		assert.Equal(t, approval.SourceTeams, got.ReviewSource)
		assert.Equal(t, "Megan Bowen", got.ReviewedBy)
		assert.Equal(t, guidOf("aad Megan Bowen"), got.ReviewerID, "the verified aadObjectId")
	})
}

// The page works with the app mounted under a prefix (its assets and
// API calls are relative): a channel created there is drawn, and a
// signed Slack click through the prefixed PUBLIC_URL decides.
func TestSandboxInBrowserUnderAPrefix(t *testing.T) {
	chromium := chromiumPath(t)
	s := startSandboxAppAt(t, "/tools/chatnotify")
	ctx := newBrowser(t, chromium)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	const slackPane = `.channel[data-kind="bot"]`
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1440, 900),
		chromedp.Navigate(s.base+"/sandbox"),
		chromedp.WaitVisible(`#channel-form`),
		chromedp.Click(`#create-channel`),
		chromedp.WaitVisible(slackPane),
		chromedp.Click(`#raise-approval`),
	))
	id, err := listedApproval(ctx, "Delete production database backups")
	require.NoError(t, err)
	require.NoError(t, waitFor(ctx, "the Approve button", `!!document.querySelector('`+slackPane+` .sk-btn[data-action-id="approve_action"]')`))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(slackPane+` .sk-btn[data-action-id="approve_action"]`)))
	require.NoError(t, waitFor(ctx, "the approved status", `document.querySelector('#approvals li[data-approval-id="`+id+`"] .status')?.textContent === "approved"`))
	var got approval.Request
	require.Equal(t, 200, s.call(t, "GET", "/v1/approvals/"+id, nil, &got))
	assert.Equal(t, "Approved by amy via Slack", got.ReviewNotes)
}
