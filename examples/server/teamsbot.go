package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/teams/botauth"
)

// The Teams bot (TEAMS_APP_ID, TEAMS_APP_SECRET, TEAMS_APP_TENANT): Teams
// channels reached through the host's Azure Bot, whose cards carry real
// Approve and Deny buttons (Action.Execute) that are decided and
// replaced in place. The sender posts and updates the cards through the
// Bot Connector with the bot's credentials (notify.SenderOptions.Teams*),
// and the bot's messaging endpoint, approval.TeamsBotMessagesPath,
// receives the clicks and the activities that say which conversations the
// bot was added to, each checked by botauth.Validator before its body is
// read. Without the bot's credentials that endpoint answers 503.

// teamsBotDisabled is the answer of the bot's endpoint without the bot's
// credentials.
const teamsBotDisabled = "The Teams bot is not configured: the server has no TEAMS_APP_ID, TEAMS_APP_SECRET and TEAMS_APP_TENANT to verify its requests with"

// checkTeamsBot checks the bot's configuration and parses
// TEAMS_TENANT_ORGS into a.tenantOrgs. Errors name the variable, never
// the client secret.
func (a *app) checkTeamsBot() error {
	t := a.cfg.Teams
	if !t.configured() {
		if t.TenantOrgs != "" || t.TokenURL != "" || t.MetadataURL != "" {
			return errors.New("TEAMS_TENANT_ORGS, TEAMS_TOKEN_URL and TEAMS_OPENID_METADATA_URL need the Teams bot: set TEAMS_APP_ID, TEAMS_APP_SECRET and TEAMS_APP_TENANT")
		}
		return nil
	}
	if t.AppID == "" || t.AppSecret == "" || t.AppTenant == "" {
		return errors.New("TEAMS_APP_ID, TEAMS_APP_SECRET and TEAMS_APP_TENANT must be set together (the Azure Bot's app ID, its client secret and its tenant ID)")
	}
	if u := t.MetadataURL; u != "" && !a.cfg.AllowInsecureURLs && a.sandbox == nil { // the sandbox's fake issuer is on loopback
		if p, err := url.Parse(u); err != nil || p.Scheme != "https" {
			return errors.New("TEAMS_OPENID_METADATA_URL must be an https URL (http to a loopback address needs ALLOW_INSECURE_URLS=1)")
		}
	}
	orgs, err := parseTenantOrgs(t.TenantOrgs, t.AppTenant)
	if err != nil {
		return err
	}
	a.tenantOrgs = orgs
	return nil
}

// parseTenantOrgs parses TEAMS_TENANT_ORGS, "TENANT_ID=ORG,…" (tenant IDs
// compared without case); empty means the bot's own tenant is the
// organisation "default".
func parseTenantOrgs(raw, botTenant string) (map[string]string, error) {
	if raw == "" {
		return map[string]string{strings.ToLower(botTenant): defaultOrg}, nil
	}
	orgs := map[string]string{}
	for pair := range strings.SplitSeq(raw, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		tenant, org, ok := strings.Cut(pair, "=")
		tenant, org = strings.ToLower(strings.TrimSpace(tenant)), strings.TrimSpace(org)
		if !ok || tenant == "" || org == "" {
			return nil, fmt.Errorf("TEAMS_TENANT_ORGS: %q is not TENANT_ID=ORG", pair)
		}
		if _, dup := orgs[tenant]; dup {
			return nil, fmt.Errorf("TEAMS_TENANT_ORGS: tenant %s is listed twice", tenant)
		}
		orgs[tenant] = org
	}
	if len(orgs) == 0 {
		return nil, errors.New("TEAMS_TENANT_ORGS lists no TENANT_ID=ORG")
	}
	return orgs, nil
}

// teamsOrg is the bot endpoint's OrgID hook: the organisation of a
// Microsoft Entra tenant, from TEAMS_TENANT_ORGS, or "" for a tenant the
// server does not serve, whose clicks and discovery activities the
// endpoint then refuses (403). A multi-tenant host looks the tenant up in
// what it recorded when the organisation connected its Teams.
func (a *app) teamsOrg(ctx context.Context, tenantID string) (string, error) {
	return a.tenantOrgs[strings.ToLower(tenantID)], nil
}

// teamsBotHandler returns the handler of the bot's messaging endpoint:
// chatnotify's, behind a botauth.Validator for the bot's app ID, with
// TEAMS_TENANT_ORGS for the organisations and the store recording the
// conversations the bot is added to. Without the bot's credentials every
// request is refused with 503 and a log line saying why.
func (a *app) teamsBotHandler() (http.Handler, error) {
	if !a.cfg.Teams.configured() {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.logger.WarnContext(r.Context(), "refused a Teams bot request: TEAMS_APP_ID, TEAMS_APP_SECRET and TEAMS_APP_TENANT are not set")
			writeError(w, http.StatusServiceUnavailable, teamsBotDisabled)
		}), nil
	}
	v, err := botauth.New(botauth.Config{
		AppID:       a.cfg.Teams.AppID,
		MetadataURL: a.cfg.Teams.MetadataURL, // "": the Bot Framework's
	})
	if err != nil {
		return nil, fmt.Errorf("the Teams bot: %w", err)
	}
	return approval.NewTeamsBotHandler(a.svc, &approval.TeamsBotOptions{
		Authenticator: v,          // every request's JWT, checked before its body is read
		OrgID:         a.teamsOrg, // tenant → organisation
		Conversations: a.store,    // discovery: listed by the settings API
		Logger:        a.logger,
	})
}
