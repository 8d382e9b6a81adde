package teams

import (
	"net/url"
	"strings"
)

// InteractionsPath is the path of the Teams interactions endpoint: it
// receives JSON callbacks (POST) and is the target of the Approve and
// Deny links on webhook-delivered cards (GET shows a confirmation page,
// whose form POSTs back).
const InteractionsPath = "/v1/webhooks/teams/interactions"

// TokenParam is the query parameter, and form field, that carries an
// action token to [InteractionsPath].
const TokenParam = "token"

// ActionURL returns the link an Approve or Deny button opens on a
// webhook-delivered card: base + [InteractionsPath] + "?token=" + token.
// base is the host's public URL: scheme, host and any path prefix the
// handler is mounted under, without a query, such as
// "https://arx.example.com" or "https://example.com/api". A trailing
// slash is ignored.
func ActionURL(base, token string) string {
	return strings.TrimRight(base, "/") + InteractionsPath + "?" + TokenParam + "=" + url.QueryEscape(token)
}
