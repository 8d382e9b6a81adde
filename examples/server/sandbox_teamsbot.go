package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
	"github.com/chatnotify/chatnotify/notify/notifytest"
	"github.com/chatnotify/chatnotify/teams/botauth/botauthtest"
)

// The sandbox's Teams bot. The app is configured with the fake's bot
// (its app ID, client secret and tenant), so that the sender gets its
// tokens from the fake Entra and posts its cards to the fake Bot
// Connector, both reached through the sandbox client under their real
// hosts; the bot endpoint's validator trusts the fake issuer. The page
// asks the sandbox to act as Teams:
//
//   - install: someone adds the bot to a team's channel. The sandbox sends
//     the conversationUpdate Teams sends then, signed, to the real
//     /v1/webhooks/teams/messages, which records the conversation; the page
//     lists it (GET /v1/settings/notifications/teams/conversations) to
//     create the channel from.
//   - click: someone clicks Approve or Deny on a card. The sandbox sends
//     the adaptiveCard/action invoke, signed, and shows the card the
//     endpoint answers in place of the clicked one, as Teams does, until
//     the card is replaced again (the decision's PUT of every copy).
//   - remove: someone removes the bot from the channel: a signed
//     conversationUpdate, and the fake Bot Connector refuses the bot's
//     posts there from then on, as the real one does.

const (
	// sandboxServiceHost and sandboxServiceURL are the Bot Connector of
	// the sandbox's conversations: Teams' Americas service URL, which the
	// sandbox client routes to the fake.
	sandboxServiceHost = "smba.trafficmanager.net"
	sandboxServiceURL  = "https://" + sandboxServiceHost + "/amer/"
	// entraHost is Microsoft Entra's, whose token endpoint the sender
	// uses for the fake bot's tenant.
	entraHost = "login.microsoftonline.com"
	// invokeEdit names, in a card's edits, its replacement by the invoke
	// response.
	invokeEdit = "invoke response"
)

// teamsBot is the Teams bot configuration of the sandbox: the fake's
// credentials, Microsoft Entra's token URL (routed to the fake) and the
// fake issuer's metadata.
func (s *sandbox) teamsBot() teamsConfig {
	b := s.fake.TeamsBot()
	return teamsConfig{AppID: b.AppID, AppSecret: b.AppSecret, AppTenant: b.Tenant, MetadataURL: s.issuer.MetadataURL()}
}

// invokedCard is the card an invoke was answered with, shown in place of
// the clicked card while the fake holds no later replacement: edits is
// how many replacements the card had before the click.
type invokedCard struct {
	card  map[string]any
	edits int
}

// botCards returns the cards of the bot message m as Teams shows them,
// and its edits: an invoke's answer replaces the clicked card until the
// fake's card is replaced after the click.
func (s *sandbox) botCards(m notifytest.Message) ([]map[string]any, []string) {
	s.mu.Lock()
	inv, ok := s.invoked[m.Channel+" "+m.ActivityID]
	s.mu.Unlock()
	if !ok || inv.edits > len(m.Edits) {
		return m.Cards, m.Edits
	}
	edits := slices.Insert(slices.Clone(m.Edits), inv.edits, invokeEdit)
	if len(m.Edits) > inv.edits {
		return m.Cards, edits // replaced since
	}
	return []map[string]any{inv.card}, edits
}

// botIdentity is a Teams user, as activities name them: a Bot Framework
// ID and a Microsoft Entra object ID, both made stable from the name.
func botIdentity(name string) map[string]any {
	sum := sha256.Sum256([]byte("teams user " + name))
	return map[string]any{"id": "29:1" + hex.EncodeToString(sum[:20]), "name": name, "aadObjectId": guidOf("aad " + name)}
}

// sendActivity POSTs activity to the app's bot endpoint with a valid Bot
// Framework token for serviceURL, as the Bot Connector does, and returns
// the answer.
func (s *sandbox) sendActivity(ctx context.Context, base string, activity map[string]any) (int, []byte, error) {
	body, err := json.Marshal(activity)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+approval.TeamsBotMessagesPath, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	serviceURL, _ := activity["serviceUrl"].(string)
	req.Header.Set("Authorization", "Bearer "+s.issuer.Token(botauthtest.Mint{ServiceURL: serviceURL}))
	resp, err := s.direct.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, answer, nil
}

// baseURL is where the sandbox reaches the app: PUBLIC_URL, or the
// page's host.
func (s *sandbox) baseURL(r *http.Request) string {
	if base := s.app.cfg.PublicURL; base != "" {
		return base
	}
	return "http://" + r.Host
}

// botActivity is the envelope of an activity of the sandbox's Teams bot,
// from user in conversation conv (of team) of the fake's tenant.
func (s *sandbox) botActivity(kind, user, conv string, team map[string]any) map[string]any {
	b := s.fake.TeamsBot()
	now := time.Now().UTC()
	cd := map[string]any{"tenant": map[string]any{"id": b.Tenant}}
	if team != nil {
		cd["team"] = team
	}
	return map[string]any{
		"type":           kind,
		"id":             "f:" + randomHex(10),
		"timestamp":      now.Format(time.RFC3339Nano),
		"localTimestamp": now.Format(time.RFC3339Nano),
		"channelId":      "msteams",
		"serviceUrl":     sandboxServiceURL,
		"from":           botIdentity(user),
		"conversation": map[string]any{
			"isGroup": true, "conversationType": "channel", "tenantId": b.Tenant, "id": conv,
		},
		"recipient":   map[string]any{"id": "28:" + b.AppID, "name": "chatnotify"},
		"channelData": cd,
		"locale":      "en-US",
	}
}

// installRequest is what the page sends to add the bot to a channel.
type installRequest struct {
	Team    string `json:"team"`
	Channel string `json:"channel"`
	User    string `json:"user"`
}

// teamsInstall serves POST /sandbox/api/teams/install: the
// conversationUpdate Teams sends when user adds the bot to a team,
// picking a channel (MicrosoftDocs msteams-docs, "Team members added"),
// signed, to the app's bot endpoint. Its answer is reported to the page,
// with the conversation's ID.
func (s *sandbox) teamsInstall(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.app.caller(w, r, true); !ok {
		return
	}
	var in installRequest
	if err := decodeJSON(w, r, &in); err != nil {
		s.app.writeErr(w, r, err)
		return
	}
	in.Team, in.Channel = cmp.Or(oneLineText(in.Team), "Contoso Security"), cmp.Or(oneLineText(in.Channel), "General")
	teamID := "19:" + randomHex(16) + "@thread.tacv2"
	conv := teamID // the team's General channel has the team's ID
	if in.Channel != "General" {
		conv = "19:" + randomHex(16) + "@thread.tacv2"
	}
	team := map[string]any{"id": teamID, "name": in.Team, "aadGroupId": guidOf(teamID)}
	a := s.botActivity("conversationUpdate", cmp.Or(oneLineText(in.User), "Megan Bowen"), conv, team)
	a["conversation"].(map[string]any)["name"] = in.Channel
	a["membersAdded"] = []any{map[string]any{"id": a["recipient"].(map[string]any)["id"]}}
	cd := a["channelData"].(map[string]any)
	cd["eventType"] = "teamMemberAdded"
	cd["settings"] = map[string]any{"selectedChannel": map[string]any{"id": conv}}
	s.reportActivity(w, r, a, map[string]any{"conversation_id": conv})
}

// removeRequest names the Teams bot channel whose conversation the bot
// is removed from.
type removeRequest struct {
	Channel string `json:"channel"`
	User    string `json:"user"`
}

// teamsRemove serves POST /sandbox/api/teams/remove: someone removes the
// bot from the conversation of a Teams bot channel. The fake Bot
// Connector refuses the bot's posts there from then on (403
// BotNotInConversationRoster), and the sandbox sends the
// conversationUpdate Teams sends ("Team members removed"), signed, to
// the app's bot endpoint, which records the removal.
func (s *sandbox) teamsRemove(w http.ResponseWriter, r *http.Request) {
	ch, ok := s.botChannel(w, r)
	if !ok {
		return
	}
	s.fake.RemoveBot(ch.Config.ConversationID)
	a := s.botActivity("conversationUpdate", "Megan Bowen", ch.Config.ConversationID, nil)
	a["membersRemoved"] = []any{map[string]any{"id": a["recipient"].(map[string]any)["id"]}}
	a["channelData"].(map[string]any)["eventType"] = "teamMemberRemoved"
	s.reportActivity(w, r, a, nil)
}

// botChannel decodes the page's removeRequest and returns the caller's
// Teams bot channel it names, or false after answering.
func (s *sandbox) botChannel(w http.ResponseWriter, r *http.Request) (notify.Channel, bool) {
	u, ok := s.app.caller(w, r, true)
	if !ok {
		return notify.Channel{}, false
	}
	var in removeRequest
	if err := decodeJSON(w, r, &in); err != nil {
		s.app.writeErr(w, r, err)
		return notify.Channel{}, false
	}
	ch, err := s.app.store.GetChannel(r.Context(), u.OrgID, in.Channel)
	if err != nil || ch.Type != notify.Teams || ch.Config.ConversationID == "" {
		writeError(w, http.StatusNotFound, "no Teams bot channel with this id")
		return notify.Channel{}, false
	}
	return ch, true
}

// reportActivity sends activity to the bot endpoint and tells the page
// the answer, with extra.
func (s *sandbox) reportActivity(w http.ResponseWriter, r *http.Request, activity, extra map[string]any) {
	status, answer, err := s.sendActivity(r.Context(), s.baseURL(r), activity)
	if err != nil {
		s.app.logger.Warn("sandbox: sending a Teams activity", "err", err)
		writeError(w, http.StatusBadGateway, "could not reach "+approval.TeamsBotMessagesPath+" at PUBLIC_URL")
		return
	}
	out := map[string]any{"status": status, "answer": string(answer), "activity": activity}
	for k, v := range extra {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

// teamsClickRequest is what the page sends when a button of a Teams bot
// card is clicked.
type teamsClickRequest struct {
	Channel    string `json:"channel"`     // the notification channel's ID
	ActivityID string `json:"activity_id"` // the card clicked
	Verb       string `json:"verb"`        // the Action.Execute clicked
	User       string `json:"user"`        // the Teams user name to click as
}

// teamsClick serves POST /sandbox/api/teams/click: it sends what the Bot
// Connector sends when someone clicks an Action.Execute button of a card
// the bot posted, an adaptiveCard/action invoke with a Bot Framework
// token, to the app's real bot endpoint over HTTP. A card in the answer
// replaces the clicked card, as Teams does; the answer is reported to
// the page.
func (s *sandbox) teamsClick(w http.ResponseWriter, r *http.Request) {
	u, ok := s.app.caller(w, r, true)
	if !ok {
		return
	}
	var in teamsClickRequest
	if err := decodeJSON(w, r, &in); err != nil {
		s.app.writeErr(w, r, err)
		return
	}
	in.User = cmp.Or(oneLineText(in.User), "Megan Bowen")
	ch, err := s.app.store.GetChannel(r.Context(), u.OrgID, in.Channel)
	if err != nil || ch.Type != notify.Teams || ch.Config.ConversationID == "" {
		writeError(w, http.StatusNotFound, "no Teams bot channel with this id")
		return
	}
	var msg *notifytest.Message
	for _, m := range s.fake.Messages() {
		if m.Channel == ch.Config.ConversationID && m.ActivityID == in.ActivityID && in.ActivityID != "" {
			msg = &m
			break
		}
	}
	if msg == nil {
		writeError(w, http.StatusNotFound, "no such card in the conversation")
		return
	}
	cards, _ := s.botCards(*msg) // as the clicker sees it
	data, ok := findExecute(cards, in.Verb)
	if !ok {
		writeError(w, http.StatusBadRequest, "the card has no such button")
		return
	}
	a := s.botActivity("invoke", in.User, ch.Config.ConversationID+";messageid="+in.ActivityID, nil)
	a["name"] = "adaptiveCard/action"
	a["replyToId"] = in.ActivityID
	a["value"] = map[string]any{
		"action":  map[string]any{"type": "Action.Execute", "id": "", "verb": in.Verb, "data": data},
		"trigger": "manual",
	}
	// The fake's replacements of the card from now on show over the
	// answer.
	before := len(msg.Edits)
	status, answer, err := s.sendActivity(r.Context(), s.baseURL(r), a)
	if err != nil {
		s.app.logger.Warn("sandbox: sending the Teams click", "err", err)
		writeError(w, http.StatusBadGateway, "could not reach "+approval.TeamsBotMessagesPath+" at PUBLIC_URL")
		return
	}
	var resp struct {
		StatusCode int            `json:"statusCode"`
		Type       string         `json:"type"`
		Value      map[string]any `json:"value"`
	}
	if status == http.StatusOK && json.Unmarshal(answer, &resp) == nil &&
		resp.Type == "application/vnd.microsoft.card.adaptive" && resp.Value != nil {
		s.mu.Lock()
		s.invoked[msg.Channel+" "+msg.ActivityID] = invokedCard{card: resp.Value, edits: before}
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "answer": string(answer), "activity": a})
}

// findExecute returns the data of the Action.Execute button of verb in
// cards, looking through the ActionSets of their bodies (and containers)
// and their actions.
func findExecute(cards []map[string]any, verb string) (any, bool) {
	var walk func(v any) (any, bool)
	walk = func(v any) (any, bool) {
		els, _ := v.([]any)
		for _, e := range els {
			m, _ := e.(map[string]any)
			switch m["type"] {
			case "Action.Execute":
				if m["verb"] == verb && verb != "" {
					return m["data"], true
				}
			case "ActionSet":
				if d, ok := walk(m["actions"]); ok {
					return d, true
				}
			case "Container":
				if d, ok := walk(m["items"]); ok {
					return d, true
				}
			}
		}
		return nil, false
	}
	for _, c := range cards {
		for _, k := range []string{"body", "actions"} {
			if d, ok := walk(c[k]); ok {
				return d, true
			}
		}
	}
	return nil, false
}

// guidOf makes a stable GUID-looking ID from s.
func guidOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// oneLineText trims s to one line of at most 80 characters.
func oneLineText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80])
	}
	return s
}
