package approval

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/chatnotify/chatnotify/internal/httpjson"
	"github.com/chatnotify/chatnotify/internal/teamsmsg"
	"github.com/chatnotify/chatnotify/teams"
)

// TeamsBotMessagesPath is the path the handler of [NewTeamsBotHandler]
// answers: the bot's messaging endpoint. The host's Azure Bot
// registration names the host's public URL (with any prefix the handler
// is mounted under) and this path as its messaging endpoint.
const TeamsBotMessagesPath = "/v1/webhooks/teams/messages"

const (
	// defaultTeamsBotMaxBodyBytes bounds an activity: Teams sends a few
	// KiB.
	defaultTeamsBotMaxBodyBytes = 256 << 10
	// teamsChannelID is the channelId of activities from Microsoft Teams.
	teamsChannelID = "msteams"
	// teamsBotCardVersion is the version of the cards the bot answers
	// with: the version of Action.Execute.
	teamsBotCardVersion = "1.5"
)

// BotAuthenticator verifies requests to the bot's messaging endpoint
// (Bot Framework JWT validation). teams/botauth.Validator implements it;
// package approval imports no JWT library.
type BotAuthenticator interface {
	// Authenticate verifies the request whose Authorization header is
	// authorization: it must check the header first and only then call
	// activity, which reads the request body and returns the activity's
	// channelId and serviceUrl, so that it can bind them to the token
	// (the signing key endorses channelId, the token's serviceurl claim
	// equals serviceUrl). It returns nil for an authentic request and an
	// error otherwise, or activity's error. It must not keep activity
	// past its return.
	Authenticate(ctx context.Context, authorization string, activity func() (channelID, serviceURL string, err error)) error
}

// TeamsBotOptions configures the handler of [NewTeamsBotHandler].
// Authenticator and OrgID are required.
type TeamsBotOptions struct {
	// Authenticator verifies every request before its body is read.
	// Required: there is no way to run the endpoint without it.
	Authenticator BotAuthenticator
	// OrgID returns the organisation of Microsoft Entra tenant tenantID
	// (the activity's channelData.tenant.id, else conversation.tenantId):
	// the organisation whose requests a click decides and under which a
	// discovered conversation is recorded. An error or "" means the host
	// serves no organisation in that tenant: the request is refused
	// (403) and nothing is decided or recorded (the error is logged,
	// never shown). Required.
	OrgID func(ctx context.Context, tenantID string) (string, error)
	// Conversations records the conversations the bot is added to and
	// removed from, for the settings API to list. Defaults to nil:
	// conversationUpdate and installationUpdate activities are answered
	// and not recorded.
	Conversations teams.ConversationStore
	// MaxBodyBytes bounds an activity; a longer one is answered 413.
	// Defaults to 256 KiB.
	MaxBodyBytes int64
	// Logger receives refused and failed requests, never a token.
	// Defaults to discarding.
	Logger *slog.Logger
}

// teamsBotHandler is the handler NewTeamsBotHandler returns.
type teamsBotHandler struct {
	svc     *Service
	auth    BotAuthenticator
	orgID   func(ctx context.Context, tenantID string) (string, error)
	convs   teams.ConversationStore
	maxBody int64
	log     *slog.Logger
}

// NewTeamsBotHandler returns the handler of POST [TeamsBotMessagesPath],
// the messaging endpoint of the host's Teams bot, deciding through svc.
// It answers the clicks on cards the bot sent (Action.Execute, and its
// Action.Submit fallback) and records the conversations the bot is added
// to. Mount it on that path, under any prefix (with
// [http.StripPrefix]); other paths get 404 and other methods 405:
//
//	v, err := botauth.New(botauth.Config{AppID: appID})
//	h, err := approval.NewTeamsBotHandler(svc, &approval.TeamsBotOptions{
//		Authenticator: v,
//		OrgID: func(ctx context.Context, tenantID string) (string, error) {
//			return orgOfTenant(ctx, tenantID)
//		},
//		Conversations: store,
//	})
//	mux.Handle(approval.TeamsBotMessagesPath, h)
//
// It refuses to build without opts, an Authenticator or OrgID.
//
// # Authentication
//
// Every request goes through [TeamsBotOptions.Authenticator] first: the
// Authorization header is checked before the body is read, then the body
// (at most [TeamsBotOptions.MaxBodyBytes]) is read for the activity's
// channelId and serviceUrl, which the token must cover. A request it
// refuses is answered 403 {"error": "Forbidden"} and nothing is decided
// or recorded; the reason goes to the logger only. A body over the limit
// is answered 413, one that is not a JSON object 400. Activities from
// another channel than Microsoft Teams (channelId "msteams") are
// answered 200 and ignored: only Teams vouches for the user in from.
//
// # Clicks
//
// The data of the approval card's buttons is {"action": "approve" |
// "deny", "approval_id": "…"}, without an action token: the token and
// the Bot Connector vouch for the activity, the organisation is
// [TeamsBotOptions.OrgID]'s for the activity's tenant, and the reviewer is
// the verified Teams user of from (from.aadObjectId as ID, else from.id;
// from.name, cleaned, as name). The decision goes through
// [Service.Review] with [SourceTeams].
//
// An adaptiveCard/action invoke (an Action.Execute click; its verb stands
// for a missing data action) is answered 200 with an
// AdaptiveCardInvokeResponse whose card, version 1.5, replaces the
// clicked one in place: "**APPROVED** by <name>" on green or
// "**DENIED** by <name>" on red, with the reviewer, time, review notes,
// risk and request ID, and no buttons. It is the very card notify then
// puts over every bot copy of the request, the clicked one included, so
// the card does not change a second time. Teams retries an invoke answered late, and reviewers click
// twice: a click on a request decided before answers the same card,
// showing the decision on record, and decides nothing. An expired
// request answers "Approval request has expired" on amber; an unknown
// request, or another organisation's, "Approval request not found". A
// click the host's policy refuses ([Options.Policy], self-approval)
// leaves the card as it is and shows the clicker the [Message] text (an
// invoke response of type application/vnd.microsoft.activity.message),
// as does a failure to record the decision, which the clicker may retry.
// An invoke whose action is not an Action.Execute is answered 400 with
// the Bot Framework's error response (code NotSupported); one without
// approval_id, or with an action other than approve or deny, 400 with
// code BadRequest.
//
// A message activity whose value is that data (the Action.Submit
// fallback of older clients) is decided the same way and answered 200
// with an empty body: a bot cannot answer a Submit with a card, so the
// card is brought up to date by the decision's [FollowUp], which
// rewrites every posted copy, the clicked one included. Other messages
// are answered 200 and ignored.
//
// # Discovery
//
// With [TeamsBotOptions.Conversations], the bot's conversationUpdate
// (the bot among membersAdded or membersRemoved; channelData.eventType
// teamDeleted or channelDeleted) and installationUpdate (action add,
// add-upgrade, remove, remove-upgrade) activities are recorded as a
// [teams.Conversation] of the tenant's organisation, added or removed.
// Its ID is the channel the user picked when adding the bot
// (channelData.settings.selectedChannel.id), else the event's channel
// (channelData.channel.id), else conversation.id, which Teams sets to the
// team's ID in later events. When the bot leaves a team (removed,
// uninstalled, or the team deleted), every conversation recorded for that
// team is marked removed. Fields an event does not carry keep their
// recorded values. Every other activity is answered 200 with an empty
// body.
func NewTeamsBotHandler(svc *Service, opts *TeamsBotOptions) (http.Handler, error) {
	switch {
	case svc == nil:
		return nil, errors.New("approval: NewTeamsBotHandler needs a Service")
	case opts == nil || opts.Authenticator == nil:
		return nil, errors.New("approval: NewTeamsBotHandler needs TeamsBotOptions.Authenticator: every request to the bot's endpoint must carry a valid Bot Framework token (see teams/botauth)")
	case opts.OrgID == nil:
		return nil, errors.New("approval: NewTeamsBotHandler needs TeamsBotOptions.OrgID to tell which organisation a Teams tenant belongs to")
	case opts.MaxBodyBytes < 0:
		return nil, errors.New("approval: TeamsBotOptions.MaxBodyBytes is negative")
	}
	h := &teamsBotHandler{
		svc:     svc,
		auth:    opts.Authenticator,
		orgID:   opts.OrgID,
		convs:   opts.Conversations,
		maxBody: cmp.Or(opts.MaxBodyBytes, defaultTeamsBotMaxBodyBytes),
		log:     opts.Logger,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TeamsBotMessagesPath, h.serve)
	return mux, nil
}

// botActivity holds the fields of an activity the handler reads.
type botActivity struct {
	Type         string    `json:"type"`
	Name         string    `json:"name"`
	ChannelID    string    `json:"channelId"`
	ServiceURL   string    `json:"serviceUrl"`
	From         teamsUser `json:"from"`
	Recipient    teamsUser `json:"recipient"`
	Conversation struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		TenantID string `json:"tenantId"`
	} `json:"conversation"`
	ChannelData struct {
		EventType string `json:"eventType"`
		Tenant    struct {
			ID string `json:"id"`
		} `json:"tenant"`
		Team struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"team"`
		Channel struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"channel"`
		Settings struct {
			SelectedChannel struct {
				ID string `json:"id"`
			} `json:"selectedChannel"`
		} `json:"settings"`
	} `json:"channelData"`
	MembersAdded   []teamsUser     `json:"membersAdded"`
	MembersRemoved []teamsUser     `json:"membersRemoved"`
	Action         string          `json:"action"` // installationUpdate
	Value          json.RawMessage `json:"value"`
}

// tenant is the activity's Entra tenant.
func (a *botActivity) tenant() string {
	return cmp.Or(a.ChannelData.Tenant.ID, a.Conversation.TenantID)
}

// errBotBody is the activity callback's error for a body that is not a
// JSON object.
var errBotBody = errors.New("approval: the activity is not a JSON object")

// serve authenticates a request, then dispatches its activity.
func (h *teamsBotHandler) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var (
		body    []byte
		read    bool
		readErr error
		peek    struct {
			ChannelID  string `json:"channelId"`
			ServiceURL string `json:"serviceUrl"`
		}
	)
	activity := func() (string, string, error) {
		if !read {
			read = true
			body, readErr = io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
			if readErr == nil {
				if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &peek) != nil {
					readErr = errBotBody
				}
			}
		}
		return peek.ChannelID, peek.ServiceURL, readErr
	}
	err := h.auth.Authenticate(ctx, r.Header.Get("Authorization"), activity)
	if err == nil {
		// An authenticator that did not look at the activity still gets
		// its body read, bounded, here.
		_, _, err = activity()
	}
	if err != nil {
		h.refuse(ctx, w, readErr, err)
		return
	}
	var a botActivity
	if err := json.Unmarshal(body, &a); err != nil {
		h.log.InfoContext(ctx, "teams bot: malformed activity", "err", err)
		httpjson.WriteError(w, http.StatusBadRequest, "Malformed activity")
		return
	}
	if a.ChannelID != teamsChannelID {
		h.log.InfoContext(ctx, "teams bot: activity of another channel than msteams ignored", "channel_id", a.ChannelID, "type", a.Type)
		w.WriteHeader(http.StatusOK)
		return
	}
	switch a.Type {
	case "invoke":
		if a.Name == teamsInvokeName {
			h.invoke(w, r, &a)
			return
		}
	case "message":
		h.submit(w, r, &a)
		return
	case "conversationUpdate", "installationUpdate":
		h.discover(w, r, &a)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// refuse answers a request that did not authenticate: 413 or 400 when
// its body could not be read as an activity (readErr), 403 otherwise.
func (h *teamsBotHandler) refuse(ctx context.Context, w http.ResponseWriter, readErr, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](readErr); ok {
		h.log.WarnContext(ctx, "teams bot: activity too large", "limit", h.maxBody)
		httpjson.WriteError(w, http.StatusRequestEntityTooLarge, "Request body is too large")
		return
	}
	if errors.Is(readErr, errBotBody) {
		h.log.InfoContext(ctx, "teams bot: malformed activity", "err", readErr)
		httpjson.WriteError(w, http.StatusBadRequest, "Malformed activity")
		return
	}
	h.log.WarnContext(ctx, "teams bot: request refused", "reason", err.Error())
	httpjson.WriteError(w, http.StatusForbidden, "Forbidden")
}

// org returns the organisation of a's tenant, or "" after answering 403.
func (h *teamsBotHandler) org(w http.ResponseWriter, r *http.Request, a *botActivity) string {
	tenant := a.tenant()
	var (
		org string
		err error
	)
	if tenant != "" {
		org, err = h.orgID(r.Context(), tenant)
	}
	if tenant == "" || err != nil || org == "" {
		h.log.WarnContext(r.Context(), "teams bot: request of a tenant the host serves no organisation in refused",
			"tenant_id", tenant, "type", a.Type, "err", err)
		httpjson.WriteError(w, http.StatusForbidden, "Forbidden")
		return ""
	}
	return org
}

// botReviewer is the verified Teams user who clicked.
func botReviewer(from teamsUser) Reviewer {
	return Reviewer{ID: cmp.Or(from.AADObjectID, from.ID), Name: cleanTeamsName(from.Name), Verified: true}
}

// botInvokeValue is the value of an adaptiveCard/action invoke.
type botInvokeValue struct {
	Action struct {
		Type string          `json:"type"`
		Verb string          `json:"verb"`
		Data json.RawMessage `json:"data"`
	} `json:"action"`
}

// botError is the Bot Framework's error answer to an invoke
// (AdaptiveCardInvokeResponse of type application/vnd.microsoft.error),
// as botbuilder writes it.
func botError(w http.ResponseWriter, status int, code, message string) {
	type errValue struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	httpjson.Write(w, status, struct {
		StatusCode int      `json:"statusCode"`
		Type       string   `json:"type"`
		Value      errValue `json:"value"`
	}{status, "application/vnd.microsoft.error", errValue{code, message}})
}

// botMessage answers an invoke with text shown to the clicker, leaving
// the card as it is (AdaptiveCardInvokeResponse of type
// application/vnd.microsoft.activity.message).
func botMessage(w http.ResponseWriter, text string) {
	httpjson.Write(w, http.StatusOK, struct {
		StatusCode int    `json:"statusCode"`
		Type       string `json:"type"`
		Value      string `json:"value"`
	}{http.StatusOK, "application/vnd.microsoft.activity.message", text})
}

// clickData returns the decision and approval ID of a button's data,
// with verb standing for a missing action, or the reason it has none.
func clickData(raw json.RawMessage, verb string) (Decision, string, string) {
	var d teamsData
	if v := bytes.TrimSpace(raw); len(v) > 0 && v[0] == '{' {
		if json.Unmarshal(v, &d) != nil {
			return "", "", "Malformed action data"
		}
	}
	switch {
	case d.ApprovalID == "":
		return "", "", teamsErrNoID
	case d.Action == "":
		d.Action = verb
	case verb != "" && verb != d.Action:
		return "", "", teamsErrAction
	}
	if dec := Decision(d.Action); dec == Approve || dec == Deny {
		return dec, d.ApprovalID, ""
	}
	return "", "", teamsErrAction
}

// invoke answers an adaptiveCard/action invoke: an Action.Execute click.
func (h *teamsBotHandler) invoke(w http.ResponseWriter, r *http.Request, a *botActivity) {
	ctx := r.Context()
	var v botInvokeValue
	if b := bytes.TrimSpace(a.Value); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &v) != nil {
		botError(w, http.StatusBadRequest, "BadRequest", "Missing value property")
		return
	}
	if v.Action.Type != "Action.Execute" {
		botError(w, http.StatusBadRequest, "NotSupported", fmt.Sprintf("The action '%s' is not supported.", v.Action.Type))
		return
	}
	d, id, msg := clickData(v.Action.Data, v.Action.Verb)
	if msg != "" {
		h.log.InfoContext(ctx, "teams bot: malformed click", "reason", msg)
		botError(w, http.StatusBadRequest, "BadRequest", msg)
		return
	}
	rv := botReviewer(a.From)
	if rv.ID == "" && rv.Name == "" {
		botError(w, http.StatusBadRequest, "BadRequest", "The activity does not say who clicked (from)")
		return
	}
	org := h.org(w, r, a)
	if org == "" {
		return
	}
	req, err := h.svc.Review(ctx, org, id, d, rv, SourceTeams)
	card, ok := botOutcome(req, err)
	if !ok {
		if teamsStatus(err) == http.StatusInternalServerError {
			h.log.ErrorContext(ctx, "teams bot: decision failed", "err", err, "org_id", org, "approval_id", id)
		}
		botMessage(w, Message(err))
		return
	}
	httpjson.Write(w, http.StatusOK, teams.NewInvokeResponse(card))
}

// botOutcome is the card, version 1.5, that shows the result of
// Service.Review to the bot's clicker, and false when the card is to
// stay as it is (a refused reviewer, a failure). A decided or expired
// request shows internal/teamsmsg's result card, the one notify puts
// over every copy of the request (the clicked one included), so the
// card the click replaces and the copies show the same; a request
// decided before shows its decision, as the first click's answer did. A
// request not found (or another organisation's) shows nothing of it.
func botOutcome(r Request, err error) (teams.Card, bool) {
	var c teams.Card
	switch status, res := teamsOutcome(r, err); {
	case status == http.StatusNotFound:
		c = teams.ResultCard(res)
	case err == nil,
		errors.Is(err, ErrNotPending) && (r.Status == StatusApproved || r.Status == StatusDenied),
		errors.Is(err, ErrExpired) && r.Status == StatusExpired:
		c = teamsmsg.ResultCard(resultOutcome(r))
	case errors.Is(err, ErrExpired):
		c = teams.ResultCard(res) // past its deadline, not yet recorded as expired
	default:
		return teams.Card{}, false
	}
	c.Version = teamsBotCardVersion
	return c, true
}

// resultOutcome is what the result card shows of r.
func resultOutcome(r Request) teamsmsg.Outcome {
	var at time.Time
	if r.ReviewedAt != nil {
		at = *r.ReviewedAt
	}
	return teamsmsg.Outcome{
		ID: r.ID, Title: r.Title, Status: string(r.Status),
		ReviewedBy: r.ReviewedBy, ReviewedAt: at, Notes: r.ReviewNotes,
		RiskScore: r.RiskScore, RiskLevel: r.RiskLevel(),
	}
}

// submit handles a message activity: an Action.Submit fallback click when
// its value is a button's data, anything else ignored.
func (h *teamsBotHandler) submit(w http.ResponseWriter, r *http.Request, a *botActivity) {
	ctx := r.Context()
	v := bytes.TrimSpace(a.Value)
	if len(v) == 0 || v[0] != '{' {
		w.WriteHeader(http.StatusOK) // a message typed to the bot
		return
	}
	d, id, msg := clickData(v, "")
	if msg != "" {
		h.log.InfoContext(ctx, "teams bot: message value is not an approval click; ignored", "reason", msg)
		w.WriteHeader(http.StatusOK)
		return
	}
	rv := botReviewer(a.From)
	if rv.ID == "" && rv.Name == "" {
		h.log.InfoContext(ctx, "teams bot: click without from; ignored", "approval_id", id)
		w.WriteHeader(http.StatusOK)
		return
	}
	org := h.org(w, r, a)
	if org == "" {
		return
	}
	_, err := h.svc.Review(ctx, org, id, d, rv, SourceTeams)
	switch teamsStatus(err) {
	case http.StatusOK:
	case http.StatusInternalServerError:
		h.log.ErrorContext(ctx, "teams bot: decision failed", "err", err, "org_id", org, "approval_id", id)
	default:
		h.log.InfoContext(ctx, "teams bot: click decided nothing", "reason", Message(err), "org_id", org, "approval_id", id)
	}
	w.WriteHeader(http.StatusOK)
}

// discovery is what a conversationUpdate or installationUpdate says of
// the bot.
type discovery int

const (
	discoveryNone discovery = iota
	discoveryAdded
	discoveryRemoved     // from this conversation
	discoveryTeamRemoved // from the whole team
)

// classify reads a discovery activity.
func (a *botActivity) classify() discovery {
	bot := a.Recipient.ID
	has := func(ms []teamsUser) bool {
		for _, m := range ms {
			if bot != "" && m.ID == bot {
				return true
			}
		}
		return false
	}
	team := discoveryRemoved
	if a.ChannelData.Team.ID != "" {
		team = discoveryTeamRemoved
	}
	if a.Type == "installationUpdate" {
		switch a.Action {
		case "add", "add-upgrade":
			return discoveryAdded
		case "remove", "remove-upgrade":
			return team
		}
		return discoveryNone
	}
	switch {
	case has(a.MembersRemoved), a.ChannelData.EventType == "teamDeleted":
		return team
	case a.ChannelData.EventType == "channelDeleted":
		return discoveryRemoved
	case has(a.MembersAdded):
		return discoveryAdded
	}
	return discoveryNone
}

// discover records a conversationUpdate or installationUpdate about the
// bot.
func (h *teamsBotHandler) discover(w http.ResponseWriter, r *http.Request, a *botActivity) {
	ctx := r.Context()
	kind := a.classify()
	if kind == discoveryNone || h.convs == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	cd := a.ChannelData
	c := teams.Conversation{
		ConversationID: cmp.Or(cd.Settings.SelectedChannel.ID, cd.Channel.ID, a.Conversation.ID),
		ServiceURL:     a.ServiceURL,
		TenantID:       a.tenant(),
		TeamID:         cd.Team.ID,
		TeamName:       cd.Team.Name,
		Name:           cmp.Or(cd.Channel.Name, a.Conversation.Name),
		Removed:        kind != discoveryAdded,
		UpdatedAt:      h.svc.opts.Now().UTC(),
	}
	if c.ConversationID == "" {
		h.log.InfoContext(ctx, "teams bot: discovery activity without a conversation ID; ignored", "type", a.Type)
		w.WriteHeader(http.StatusOK)
		return
	}
	org := h.org(w, r, a)
	if org == "" {
		return
	}
	c.OrgID = org
	if err := h.record(ctx, c, kind == discoveryTeamRemoved); err != nil {
		h.log.ErrorContext(ctx, "teams bot: conversation could not be recorded", "err", err, "org_id", org, "conversation_id", c.ConversationID)
		httpjson.WriteError(w, http.StatusInternalServerError, "The conversation could not be recorded")
		return
	}
	h.log.InfoContext(ctx, "teams bot: conversation recorded", "org_id", org, "conversation_id", c.ConversationID, "removed", c.Removed)
	w.WriteHeader(http.StatusOK)
}

// record saves c, keeping the recorded values of the fields the event
// left empty; with team, every other conversation recorded for c's team
// is marked removed too.
func (h *teamsBotHandler) record(ctx context.Context, c teams.Conversation, team bool) error {
	known, err := h.convs.ListConversations(ctx, c.OrgID)
	if err != nil {
		return err
	}
	var others []teams.Conversation
	for _, k := range known {
		switch {
		case k.ConversationID == c.ConversationID:
			c.ServiceURL, c.TenantID = cmp.Or(c.ServiceURL, k.ServiceURL), cmp.Or(c.TenantID, k.TenantID)
			c.TeamID, c.TeamName, c.Name = cmp.Or(c.TeamID, k.TeamID), cmp.Or(c.TeamName, k.TeamName), cmp.Or(c.Name, k.Name)
		case team && !k.Removed && k.TeamID == c.TeamID:
			k.Removed, k.UpdatedAt = true, c.UpdatedAt
			others = append(others, k)
		}
	}
	if err := h.convs.SaveConversation(ctx, c); err != nil {
		return err
	}
	for _, k := range others {
		if err := h.convs.SaveConversation(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
