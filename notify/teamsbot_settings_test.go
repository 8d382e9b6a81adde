package notify_test

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/internal/syncbuf"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/store/memstore"
	"github.com/chatnotify/chatnotify/teams"
)

const (
	testServiceURL = "https://smba.trafficmanager.net/amer/"
	testTenant     = "72f988bf-86f1-41af-91ab-2d7cd011db47"
)

func TestSettingsTeamsBotChannel(t *testing.T) {
	f := newFixture(t)
	body := `{"channel_type":"teams","name":"Teams via bot","config":{"service_url":" ` + testServiceURL + `","conversation_id":"` + botConv + `","tenant_id":"` + testTenant + `"}}`
	w := f.do(http.MethodPost, base, tokenAdminA, body)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	got := decode[notify.Channel](t, w)
	assert.Equal(t, notify.ChannelConfig{ServiceURL: testServiceURL, ConversationID: botConv, TenantID: testTenant}, got.Config, "not secrets: shown as stored")
	assert.Equal(t, got.Config, f.stored(orgA, got.ID).Config)

	t.Run("read back and sent back unchanged", func(t *testing.T) {
		w := f.do(http.MethodGet, base+"/"+got.ID, tokenAdminA, "")
		require.Equal(t, http.StatusOK, w.Code)
		read := decode[map[string]any](t, w)
		assert.Equal(t, map[string]any{"service_url": testServiceURL, "conversation_id": botConv, "tenant_id": testTenant}, read["config"])
		w = f.do(http.MethodPut, base+"/"+got.ID, tokenAdminA, w.Body.String())
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Equal(t, got.Config, f.stored(orgA, got.ID).Config)
	})

	t.Run("a webhook channel switched to the bot drops its URL", func(t *testing.T) {
		hook := f.seed(orgA, teamsHook())
		w := f.do(http.MethodPut, base+"/"+hook.ID, tokenAdminA,
			`{"channel_type":"teams","name":"switched","config":{"service_url":"`+testServiceURL+`","conversation_id":"`+botConv2+`","tenant_id":"`+testTenant+`"}}`)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		st := f.stored(orgA, hook.ID)
		assert.Empty(t, st.Config.WebhookURL)
		assert.Equal(t, botConv2, st.Config.ConversationID)
	})

	t.Run("validation texts", func(t *testing.T) {
		for _, tc := range []struct{ config, want string }{
			{`{}`, "Teams channels require either webhook_url or service_url + conversation_id + tenant_id"},
			{`{"webhook_url":"` + testTeamsHook + `","service_url":"` + testServiceURL + `","conversation_id":"` + botConv + `","tenant_id":"` + testTenant + `"}`,
				"Teams channels take either webhook_url or service_url + conversation_id + tenant_id, not both"},
			{`{"service_url":"` + testServiceURL + `","conversation_id":"` + botConv + `"}`, "service_url, conversation_id and tenant_id must be given together"},
			{`{"service_url":"https://evil.example/amer/","conversation_id":"` + botConv + `","tenant_id":"` + testTenant + `"}`, msgServiceURL},
			{`{"service_url":"http://127.0.0.1:8080/amer/","conversation_id":"` + botConv + `","tenant_id":"` + testTenant + `"}`,
				"service_url is on a loopback address: loopback URLs are refused unless SenderOptions.AllowLoopbackURLs is set"},
			{`{"service_url":"` + testServiceURL + `","conversation_id":"general","tenant_id":"` + testTenant + `"}`, "conversation_id must be a Teams conversation ID such as 19:…@thread.tacv2"},
			{`{"service_url":"` + testServiceURL + `","conversation_id":"` + botConv + `","tenant_id":"contoso"}`,
				"tenant_id must be a Microsoft Entra tenant ID (a GUID such as 00000000-0000-0000-0000-000000000000)"},
		} {
			w := f.do(http.MethodPost, base, tokenAdminA, `{"channel_type":"teams","name":"x","config":`+tc.config+`}`)
			require.Equal(t, http.StatusBadRequest, w.Code, tc.config)
			assert.Equal(t, tc.want, errorBody(t, w), tc.config)
		}
	})
}

func TestSettingsTeamsConversations(t *testing.T) {
	const path = base + "/teams/conversations"
	t.Run("404 without a ConversationStore", func(t *testing.T) {
		f := newFixture(t)
		w := f.do(http.MethodGet, path, tokenAdminA, "")
		assert.Equal(t, http.StatusNotFound, w.Code)
	})

	convs := memstore.New()
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	for _, c := range []teams.Conversation{
		{OrgID: orgA, ConversationID: botConv, ServiceURL: testServiceURL, TenantID: testTenant, TeamID: "19:team@thread.tacv2", TeamName: "Security", Name: "General", UpdatedAt: at},
		{OrgID: orgA, ConversationID: botConv2, ServiceURL: testServiceURL, TenantID: testTenant, Name: "Old", Removed: true, UpdatedAt: at.Add(time.Hour)},
		{OrgID: orgB, ConversationID: "19:b@thread.tacv2", ServiceURL: "https://smba.trafficmanager.net/emea/", TenantID: testTenant, Name: "B's", UpdatedAt: at},
	} {
		require.NoError(t, convs.SaveConversation(t.Context(), c))
	}
	f := newFixture(t, withOptions(func(o *notify.SettingsOptions) { o.Conversations = convs }))

	w := f.do(http.MethodGet, path, tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"conversations":[
		{"conversation_id":"`+botConv2+`","service_url":"`+testServiceURL+`","tenant_id":"`+testTenant+`","name":"Old","removed":true,"updated_at":"2026-11-01T10:00:00Z"},
		{"conversation_id":"`+botConv+`","service_url":"`+testServiceURL+`","tenant_id":"`+testTenant+`","team_id":"19:team@thread.tacv2","team_name":"Security","name":"General","removed":false,"updated_at":"2026-11-01T09:00:00Z"}
	]}`, w.Body.String(), "newest first, removed ones marked, no org")

	w = f.do(http.MethodGet, path, tokenAdminB, "")
	require.Equal(t, http.StatusOK, w.Code)
	list := decode[struct{ Conversations []teams.Conversation }](t, w)
	require.Len(t, list.Conversations, 1, "only the caller's organisation")
	assert.Equal(t, "19:b@thread.tacv2", list.Conversations[0].ConversationID)

	assert.Equal(t, http.StatusForbidden, f.do(http.MethodGet, path, tokenViewer, "").Code)
	assert.Equal(t, http.StatusUnauthorized, f.do(http.MethodGet, path, "", "").Code)
	w = f.do(http.MethodPost, path, tokenAdminA, "{}")
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, "GET, HEAD", w.Header().Get("Allow"))

	t.Run("an empty organisation", func(t *testing.T) {
		empty := newFixture(t, withOptions(func(o *notify.SettingsOptions) { o.Conversations = memstore.New() }))
		w := empty.do(http.MethodGet, path, tokenAdminA, "")
		require.Equal(t, http.StatusOK, w.Code)
		assert.JSONEq(t, `{"conversations":[]}`, w.Body.String())
	})

	t.Run("a picked conversation makes a channel", func(t *testing.T) {
		c := list.Conversations[0]
		w := f.do(http.MethodPost, base, tokenAdminB, mustJSON(t, map[string]any{"channel_type": "teams", "name": "picked",
			"config": map[string]string{"service_url": c.ServiceURL, "conversation_id": c.ConversationID, "tenant_id": c.TenantID}}))
		assert.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	})
}

func TestSettingsTestMessageThroughTheBot(t *testing.T) {
	fk := newFakes(t)
	sender := fk.botSender(t, nil)
	st := memstore.New()
	logs := &syncbuf.Buffer{}
	h, err := notify.NewSettingsHandler(st, sender, authorize, &notify.SettingsOptions{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), ProductName: "Acme"})
	require.NoError(t, err)
	ch := seedChannel(t, st, orgA, fk.teamsBotChannel(botConv))

	w := serve(t, h, http.MethodPost, base+"/"+ch.ID+"/test", tokenAdminA, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"ok":true}`, w.Body.String())
	reqs := fk.requests("sendToConversation")
	require.Len(t, reqs, 1)
	assert.Equal(t, botConv, reqs[0].Channel)
	assert.Contains(t, reqs[0].AllText, "This is a test notification from Acme.")

	fk.srv.RemoveBot(botConv)
	w = serve(t, h, http.MethodPost, base+"/"+ch.ID+"/test", tokenAdminA, "")
	require.Equal(t, http.StatusBadGateway, w.Code)
	assert.JSONEq(t, `{"ok":false,"error":"`+msgRoster+`"}`, w.Body.String())

	secret := fk.srv.TeamsBot().AppSecret
	assert.NotContains(t, logs.String(), secret)
	assert.NotContains(t, w.Body.String(), secret)
}
