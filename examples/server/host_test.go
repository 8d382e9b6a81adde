package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/slackverify"
)

// Tests of how the example is wired as a host: the Slack endpoint never
// decides an unverified click, organisations do not see each other's
// requests, the whole app works under a prefix, and one setting admits
// loopback URLs.

// Outside the sandbox, without SLACK_SIGNING_SECRET, the Slack endpoint
// refuses every request (503) and says why in the log, instead of
// deciding clicks nobody verified (issue 8, defect 3).
func TestSlackEndpointRefusesUnverifiedClicksOutsideTheSandbox(t *testing.T) {
	var logs syncbuf.Buffer
	h := newTestHostLogging(t, map[string]string{"SLACK_SIGNING_SECRET": ""}, slog.New(slog.NewTextHandler(&logs, nil)))
	assert.Contains(t, logs.String(), "SLACK_SIGNING_SECRET is not set", "a warning at start-up")
	require.Len(t, h.app.warnings, 1, "%q", h.app.warnings)
	assert.Contains(t, h.app.warnings[0], "refuses every request (503)")

	e := &e2eHost{testHost: h, slackChannel: "C0UNSIGNED"}
	h.botChannel(t, "Unsigned", e.slackChannel)
	req := h.createApproval(t, map[string]any{"id": "unsigned-1", "title": "Wipe the cluster"})
	click := e.clickPayload(h.fake.ResponseURL(e.slackChannel, "1.000001"), "1.000001", "approval_actions", approveAction, req.ID,
		map[string]any{"id": "U0MALLORY1", "name": "mallory"})

	for _, tc := range []struct {
		name string
		sign func(http.Header)
	}{
		{"unsigned", func(http.Header) {}},
		{"signed with some secret", func(hd http.Header) { slackverify.Sign(hd, click, time.Now(), testSigning) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hd := http.Header{}
			tc.sign(hd)
			status, answer := e.postClick(t, hd, click)
			assert.Equal(t, http.StatusServiceUnavailable, status)
			assert.JSONEq(t, `{"error":"`+slackDisabled+`"}`, answer)
		})
	}
	assert.Contains(t, logs.String(), `level=WARN msg="refused a Slack interaction: SLACK_SIGNING_SECRET is not set, so it cannot be verified"`)
	got := h.getApproval(t, req.ID)
	assert.Equal(t, approval.StatusPending, got.Status, "nothing was decided")
	assert.Empty(t, h.audit(t, "?approval_id="+req.ID))
	assert.Empty(t, h.requests("response_url"), "nothing was answered to Slack")
}

// A request of another organisation does not exist for the API's
// callers: reading or deciding it is 404, its ID can be used again
// without a 409 that would reveal it, and its audit entries never show.
func TestOrganisationsAreIsolated(t *testing.T) {
	h := newTestHost(t, nil)
	theirs, err := h.app.svc.Create(t.Context(), approval.Request{ID: "shared-1", OrgID: "other-org", Title: "Their secret request"})
	require.NoError(t, err)
	_, err = h.app.svc.Create(t.Context(), approval.Request{ID: "shared-2", OrgID: "other-org", Title: "Decided over there"})
	require.NoError(t, err)
	_, err = h.app.svc.Review(t.Context(), "other-org", "shared-2", approval.Deny, approval.Reviewer{ID: "eve", Name: "eve", Verified: true}, approval.SourceAPI)
	require.NoError(t, err)

	t.Run("reading is 404", func(t *testing.T) {
		for _, token := range []string{testAdminToken, testViewerToken} {
			r := h.call(t, "GET", "/v1/approvals/shared-1", token, nil)
			assert.Equal(t, http.StatusNotFound, r.Status)
			assert.Equal(t, "Approval request not found", r.errorText(t))
			assert.NotContains(t, string(r.Body), "Their secret request")
		}
	})
	t.Run("deciding is 404 and changes nothing", func(t *testing.T) {
		r := h.admin(t, "POST", "/v1/approvals/shared-1/decision", map[string]any{"decision": "approve"})
		assert.Equal(t, http.StatusNotFound, r.Status)
		assert.Equal(t, "Approval request not found", r.errorText(t))
		got, err := h.app.store.GetApproval(t.Context(), "other-org", theirs.ID)
		require.NoError(t, err)
		assert.Equal(t, approval.StatusPending, got.Status)
	})
	t.Run("the same ID is a new request of ours, not a conflict", func(t *testing.T) {
		r := h.admin(t, "POST", "/v1/approvals", map[string]any{"id": "shared-1", "title": "Our request"})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		ours := h.getApproval(t, "shared-1")
		assert.Equal(t, "Our request", ours.Title)
		assert.Equal(t, defaultOrg, ours.OrgID)

		r = h.admin(t, "POST", "/v1/approvals/shared-1/decision", map[string]any{"decision": "approve"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		got, err := h.app.store.GetApproval(t.Context(), "other-org", "shared-1")
		require.NoError(t, err)
		assert.Equal(t, approval.StatusPending, got.Status, "their request with the same ID is untouched")
	})
	t.Run("the audit trail shows only ours", func(t *testing.T) {
		entries := h.audit(t, "")
		require.Len(t, entries, 1, "%+v", entries)
		assert.Equal(t, "shared-1", entries[0].ApprovalID)
		assert.Equal(t, defaultOrg, entries[0].OrgID)
		assert.Empty(t, h.audit(t, "?approval_id=shared-2"), "their decision")
	})
}

// The whole example mounted under /chatnotify on a chi router, with
// PUBLIC_URL including the prefix: the API answers there, Location
// headers carry the prefix, and a Teams card's Approve link (built from
// PUBLIC_URL) opens the confirmation page and decides.
func TestWholeAppUnderAPrefixWithChi(t *testing.T) {
	const prefix = "/chatnotify"
	fake := notifytest.New()
	t.Cleanup(fake.Close)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	vars := map[string]string{
		"DATABASE_URL":         "memory:",
		"ADMIN_TOKEN":          testAdminToken,
		"SLACK_API_URL":        fake.SlackAPIURL(),
		"ALLOW_INSECURE_URLS":  "1",
		"SLACK_SIGNING_SECRET": testSigning,
		"ACTION_TOKEN_SECRET":  testActionKey,
		"PUBLIC_URL":           base + prefix,
	}
	a, err := newApp(t.Context(), loadConfig(func(k string) string { return vars[k] }), slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	// The host's router: chi's Mount keeps the prefix in the path, so
	// strip it for the example's mux, which answers from the root.
	r := chi.NewRouter()
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("the host's own page")) })
	r.Mount(prefix, http.StripPrefix(prefix, a))
	srv.Config.Handler = r
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, a.Close(ctx))
	})
	h := &testHost{app: a, url: base + prefix, fake: fake}

	assert.Equal(t, http.StatusOK, h.send(t, "GET", "/healthz", "", "", nil).Status)
	assert.Equal(t, http.StatusNotFound, (&testHost{url: base}).admin(t, "GET", "/v1/audit", nil).Status, "nothing answers outside the prefix")
	teamsURL := fake.TeamsWorkflowsURL("prefixed")
	h.createChannel(t, map[string]any{"channel_type": "teams", "name": "Prefixed", "config": map[string]any{"webhook_url": teamsURL}})

	created := h.admin(t, "POST", "/v1/approvals", map[string]any{"id": "prefixed-1", "title": "Rotate the signing keys", "expires_in_seconds": 600})
	require.Equal(t, http.StatusCreated, created.Status, "%s", created.Body)
	assert.Equal(t, prefix+"/v1/approvals/prefixed-1", created.Header.Get("Location"), "the Location resolves under the prefix")

	e := &e2eHost{testHost: h, teamsPath: urlPath(teamsURL)}
	card := e.waitTeamsCard(t, "Rotate the signing keys")
	approve := teamsLinks(card)["Approve"]
	require.True(t, strings.HasPrefix(approve, base+prefix+approval.TeamsInteractionsPath+"?token="), approve)

	resp, err := http.Get(approve)
	require.NoError(t, err)
	page := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	assert.Contains(t, page, "Rotate the signing keys")
	assert.Contains(t, page, `<form method="post">`)

	u, err := url.Parse(approve)
	require.NoError(t, err)
	resp, err = http.PostForm(approve, url.Values{"token": {u.Query().Get("token")}, "name": {"Pat Prefix"}})
	require.NoError(t, err)
	page = readAll(t, resp)
	assert.Equal(t, http.StatusOK, resp.StatusCode, page)
	assert.Contains(t, page, "Approved by Pat Prefix")

	got := h.getApproval(t, "prefixed-1")
	assert.Equal(t, approval.StatusApproved, got.Status)
	assert.Equal(t, approval.SourceTeams, got.ReviewSource)
	assert.Equal(t, "Pat Prefix", got.ReviewedBy)
	e.waitTeamsResult(t, "prefixed-1")
}

// ALLOW_INSECURE_URLS is the one loopback setting: it is
// notify.SenderOptions.AllowLoopbackURLs, which the settings API
// validates with too. Without it a loopback webhook URL is refused with
// a reason naming that setting, not the channel.
func TestAllowInsecureURLsIsTheOneLoopbackSetting(t *testing.T) {
	fake := notifytest.New()
	t.Cleanup(fake.Close)
	body := map[string]any{"channel_type": "slack", "name": "Loopback", "config": map[string]any{"webhook_url": fake.SlackWebhookURL("loop")}}

	off := newTestHost(t, map[string]string{"ALLOW_INSECURE_URLS": ""})
	r := off.admin(t, "POST", "/v1/settings/notifications", body)
	assert.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Contains(t, r.errorText(t), "SenderOptions.AllowLoopbackURLs")

	on := newTestHost(t, map[string]string{"ALLOW_INSECURE_URLS": "1"})
	on.fake = fake
	id := on.createChannel(t, body)
	r = on.admin(t, "POST", "/v1/settings/notifications/"+id+"/test", nil)
	assert.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.JSONEq(t, `{"ok":true}`, string(r.Body))
	hooks := on.requests("webhook")
	require.Len(t, hooks, 1)
	assert.Equal(t, "This is a test notification from "+productName+".", hooks[0].Text)
}
