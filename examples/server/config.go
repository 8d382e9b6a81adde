package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// envVar documents one environment variable the server reads. The table
// below is the single source for -h and for the README's list.
type envVar struct {
	Name, Default, Help string
}

var envVars = []envVar{
	{"ADDR", "127.0.0.1:8080", "address to listen on"},
	{"DATABASE_URL", "sqlite:chatnotify.db", "store: sqlite:PATH, postgres://… (or postgresql://…) or memory:"},
	{"ADMIN_TOKEN", "(generated, printed at start)", "Bearer token of an admin of org \"default\""},
	{"VIEWER_TOKEN", "(none)", "Bearer token of a non-admin member of org \"default\""},
	{"SLACK_SIGNING_SECRET", "(none: Slack clicks refused with 503; random with -sandbox)", "signing secret of your Slack app; previous secrets after a comma"},
	{"SLACK_API_URL", "https://slack.com/api/", "Slack Web API base URL"},
	{"TEAMS_HMAC_SECRET", "(none)", "base64 secret of a Teams outgoing webhook, to accept HMAC-signed callbacks"},
	{"ACTION_TOKEN_SECRET", "(random per start)", "secret (≥ 32 bytes) signing Teams Approve/Deny links; previous secrets after a comma"},
	{"TEAMS_APP_ID", "(none: the Teams bot endpoint answers 503; the fake's bot with -sandbox)", "Microsoft App ID of your Azure Bot: Teams channels reached through the bot, with buttons in the card"},
	{"TEAMS_APP_SECRET", "(none)", "client secret of the bot's app registration (never logged or shown)"},
	{"TEAMS_APP_TENANT", "(none)", "Microsoft Entra tenant ID (a GUID) of the bot's single-tenant app registration"},
	{"TEAMS_TENANT_ORGS", "(TEAMS_APP_TENANT=default)", "which organisation each Teams tenant's clicks and conversations belong to: TENANT_ID=ORG, comma-separated; other tenants are refused"},
	{"TEAMS_TOKEN_URL", "(Microsoft Entra's, for TEAMS_APP_TENANT)", "token endpoint of the bot's credentials: change it only for a sovereign cloud or a test fake"},
	{"TEAMS_OPENID_METADATA_URL", "(the Bot Framework's)", "OpenID metadata whose keys sign the bot's requests: change it only for a sovereign cloud or a test fake"},
	{"PUBLIC_URL", "http://ADDR", "public base URL of this server, with any prefix it is mounted under, used in Teams Approve/Deny links"},
	{"CONSOLE_URL", "(none)", "base URL of your console; approvals link to CONSOLE_URL/approvals/ID"},
	{"ENCRYPTION_KEY", "(none: secrets stored in plain text)", "base64 of 32 bytes: encrypts bot tokens and webhook URLs at rest (SQLite, PostgreSQL)"},
	{"ALLOW_INSECURE_URLS", "0", "1 sets notify.SenderOptions.AllowLoopbackURLs: loopback webhook and response URLs (local testing only)"},
	{"SANDBOX", "0", "1 runs fake Slack and Teams in-process and serves /sandbox (same as -sandbox)"},
	{"EXPIRY_SWEEP_INTERVAL", "30s", "how often approval requests past their deadline are marked expired and their messages updated (a Go duration; 0 disables)"},
}

// config is the server's configuration, read from the environment.
type config struct {
	Addr              string
	DatabaseURL       string
	AdminToken        string
	AdminTokenMade    bool
	ViewerToken       string
	SlackSecrets      []string
	SlackAPIURL       string
	TeamsHMACSecret   string
	ActionTokenSecret string
	PublicURL         string
	ConsoleURL        string
	EncryptionKey     string
	AllowInsecureURLs bool
	Sandbox           bool
	// ExpirySweepInterval is EXPIRY_SWEEP_INTERVAL as given; newApp
	// parses it.
	ExpirySweepInterval string
	// Teams is the Teams bot's configuration.
	Teams teamsConfig
}

// teamsConfig is the configuration of the host's Teams bot (the TEAMS_APP_*
// variables and the others of the bot). AppSecret is never logged or
// shown; empty URLs are Microsoft's.
type teamsConfig struct {
	AppID, AppSecret, AppTenant string
	// TenantOrgs is TEAMS_TENANT_ORGS as given; newApp parses it.
	TenantOrgs  string
	TokenURL    string
	MetadataURL string
}

// configured reports whether any of the bot's credentials is set.
func (c teamsConfig) configured() bool {
	return c.AppID != "" || c.AppSecret != "" || c.AppTenant != ""
}

func loadConfig(getenv func(string) string) config {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := config{
		Addr:              get("ADDR", "127.0.0.1:8080"),
		DatabaseURL:       get("DATABASE_URL", "sqlite:chatnotify.db"),
		AdminToken:        get("ADMIN_TOKEN", ""),
		ViewerToken:       get("VIEWER_TOKEN", ""),
		SlackAPIURL:       get("SLACK_API_URL", "https://slack.com/api/"),
		TeamsHMACSecret:   get("TEAMS_HMAC_SECRET", ""),
		ActionTokenSecret: get("ACTION_TOKEN_SECRET", ""),
		PublicURL:         strings.TrimSuffix(get("PUBLIC_URL", ""), "/"),
		ConsoleURL:        strings.TrimSuffix(get("CONSOLE_URL", ""), "/"),
		EncryptionKey:     get("ENCRYPTION_KEY", ""),
		AllowInsecureURLs: get("ALLOW_INSECURE_URLS", "0") == "1",
		Sandbox:           get("SANDBOX", "0") == "1",

		ExpirySweepInterval: get("EXPIRY_SWEEP_INTERVAL", "30s"),

		Teams: teamsConfig{
			AppID:       get("TEAMS_APP_ID", ""),
			AppSecret:   get("TEAMS_APP_SECRET", ""),
			AppTenant:   get("TEAMS_APP_TENANT", ""),
			TenantOrgs:  get("TEAMS_TENANT_ORGS", ""),
			TokenURL:    get("TEAMS_TOKEN_URL", ""),
			MetadataURL: get("TEAMS_OPENID_METADATA_URL", ""),
		},
	}
	for s := range strings.SplitSeq(get("SLACK_SIGNING_SECRET", ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.SlackSecrets = append(c.SlackSecrets, s)
		}
	}
	return c
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [-sandbox]\n\n", os.Args[0])
	fmt.Fprintln(w, "chatnotify example host: the settings API, Slack and Teams webhooks,")
	fmt.Fprintln(w, "approvals and delivery, configured by environment variables:")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	for _, v := range envVars {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, v.Default, v.Help)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags:")
	fmt.Fprintln(w, "  -sandbox   run fake Slack and Teams in-process and serve the /sandbox page")
}
