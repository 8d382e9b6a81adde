package notify_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/store/memstore"
)

// The settings API mounted under /api, with an in-memory store, a bearer
// token check standing in for the host's authentication, and a sender
// delivering to a fake Slack. Secrets go in once and only ever come out
// masked; the test notification names the host's product.
func ExampleNewSettingsHandler() {
	fake := notifytest.New()
	defer fake.Close()
	store := memstore.New()
	sender, _ := notify.NewSender(&notify.SenderOptions{SlackAPIURL: fake.SlackAPIURL()})
	auth := func(r *http.Request) (notify.Caller, error) {
		if r.Header.Get("Authorization") != "Bearer admin-token" {
			return notify.Caller{}, notify.ErrUnauthenticated
		}
		return notify.Caller{OrgID: "acme", Admin: true}, nil
	}
	settings, err := notify.NewSettingsHandler(store, sender, auth, &notify.SettingsOptions{ProductName: "Acme Guard"})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", settings))

	do := func(method, path, token, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	// show prints a channel without its generated ID and timestamps.
	show := func(raw json.RawMessage) {
		var ch map[string]any
		json.Unmarshal(raw, &ch)
		delete(ch, "id")
		delete(ch, "created_at")
		delete(ch, "updated_at")
		out, _ := json.Marshal(ch)
		fmt.Println(string(out))
	}

	w := do("POST", "/api/v1/settings/notifications", "admin-token", `{
		"channel_type": "slack",
		"name": "Security Alerts",
		"config": {"bot_token": "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOp", "channel_id": "C0123456789"},
		"events": ["approval_request", "drift_alert"]
	}`)
	fmt.Println("create:", w.Code)
	show(w.Body.Bytes())

	w = do("GET", "/api/v1/settings/notifications", "admin-token", "")
	var list struct{ Channels []json.RawMessage }
	json.Unmarshal(w.Body.Bytes(), &list)
	fmt.Println("list:", w.Code, len(list.Channels))

	var created struct{ ID string }
	json.Unmarshal(list.Channels[0], &created)
	w = do("POST", "/api/v1/settings/notifications/"+created.ID+"/test", "admin-token", "")
	fmt.Print("test: ", w.Code, " ", w.Body.String())
	for _, r := range fake.Requests() {
		fmt.Printf("slack: %s to %s: %q\n", r.Method, r.Channel, r.Text)
	}

	w = do("GET", "/api/v1/settings/notifications", "wrong-token", "")
	fmt.Print("no credentials: ", w.Code, " ", w.Body.String())

	// Output:
	// create: 201
	// {"channel_type":"slack","config":{"bot_token":"xoxb-…MnOp","channel_id":"C0123456789"},"enabled":true,"events":["approval_request","drift_alert"],"name":"Security Alerts"}
	// list: 200 1
	// test: 200 {"ok":true}
	// slack: chat.postMessage to C0123456789: "This is a test notification from Acme Guard."
	// no credentials: 401 {"error":"authentication required"}
}
