package botauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/teams/botauth"
	"github.com/chatnotify/chatnotify/teams/botauth/botauthtest"
)

// A messaging endpoint of the host's own: the header is checked before
// the body is read, then the activity's channelId and serviceUrl are
// bound to the token. (Hosts using package approval's Teams bot handler
// pass the Validator to it instead.) The fake issuer stands in for
// login.botframework.com.
func ExampleValidator_Authenticate() {
	const appID = "00000000-aaaa-bbbb-cccc-000000000001"
	issuer := botauthtest.NewIssuer(nil, appID)
	v, err := botauth.New(botauth.Config{AppID: appID, MetadataURL: issuer.MetadataURL()})
	if err != nil {
		log.Fatal(err)
	}

	messages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var activity struct {
			Type       string `json:"type"`
			ChannelID  string `json:"channelId"`
			ServiceURL string `json:"serviceUrl"`
		}
		err := v.Authenticate(r.Context(), r.Header.Get("Authorization"), func() (string, string, error) {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
			if err != nil {
				return "", "", err
			}
			if err := json.Unmarshal(body, &activity); err != nil {
				return "", "", err
			}
			return activity.ChannelID, activity.ServiceURL, nil
		})
		if err != nil {
			// log err; never show it
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "handled: %s", activity.Type)
	})

	const serviceURL = "https://smba.trafficmanager.net/amer/"
	post := func(name, token string) {
		body := `{"type":"invoke","name":"adaptiveCard/action","channelId":"msteams","serviceUrl":"` + serviceURL + `"}`
		req := httptest.NewRequest(http.MethodPost, "/v1/webhooks/teams/messages", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		messages.ServeHTTP(rec, req)
		fmt.Printf("%s: %d %s\n", name, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	post("valid token", issuer.Token(botauthtest.Mint{ServiceURL: serviceURL}))
	post("no token", "")
	post("token for another bot", issuer.Token(botauthtest.Mint{AppID: "another-bot", ServiceURL: serviceURL}))
	post("token for another serviceUrl", issuer.Token(botauthtest.Mint{ServiceURL: "https://evil.example/"}))
	// Output:
	// valid token: 200 handled: invoke
	// no token: 403 forbidden
	// token for another bot: 403 forbidden
	// token for another serviceUrl: 403 forbidden
}

// The Validator is what package approval's Teams bot handler takes as
// its Authenticator. In production Config.MetadataURL stays unset
// (Microsoft's); the handler is mounted where the Azure Bot
// registration's messaging endpoint points. (Not run: svc stands for the
// host's approval service.)
func Example_approvalHandler() {
	var svc *approval.Service // the host's, from approval.NewService
	v, err := botauth.New(botauth.Config{AppID: os.Getenv("TEAMS_APP_ID")})
	if err != nil {
		log.Fatal(err) // no app ID
	}
	h, err := approval.NewTeamsBotHandler(svc, &approval.TeamsBotOptions{
		Authenticator: v,
		OrgID: func(ctx context.Context, tenantID string) (string, error) {
			return "acme", nil // the host's tenant → organisation mapping
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(approval.TeamsBotMessagesPath, h)
}

// Validator implements approval.BotAuthenticator.
var _ approval.BotAuthenticator = (*botauth.Validator)(nil)
