package notify

import (
	"net/url"
	"strings"
)

// maskMark separates the visible part of a masked secret from what is
// hidden. Its presence is how a masked value sent back by a client is
// recognised.
const maskMark = "…"

// Masked returns c with its secrets replaced by recognisable but useless
// forms: a bot token keeps its "xoxb-" prefix and last four characters
// ("xoxb-…a1b2"), a webhook URL keeps only its scheme and host
// ("https://hooks.slack.com/…"). ChannelID is not a secret and is kept.
// The settings API shows channels this way; a host listing channels in
// its own interface should too.
func (c ChannelConfig) Masked() ChannelConfig {
	c.BotToken = maskToken(c.BotToken)
	c.WebhookURL = maskURL(c.WebhookURL)
	return c
}

// maskToken masks a bot token for display; see [ChannelConfig.Masked].
func maskToken(tok string) string {
	if tok == "" {
		return ""
	}
	prefix, rest, ok := strings.Cut(tok, "-")
	if !ok || len(prefix) > 5 {
		prefix = ""
	} else {
		prefix += "-"
	}
	if len(rest) < 16 {
		return prefix + maskMark
	}
	return prefix + maskMark + rest[len(rest)-4:]
}

// maskURL masks a webhook URL for display, keeping only scheme and host;
// see [ChannelConfig.Masked].
func maskURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return maskMark
	}
	return u.Scheme + "://" + u.Host + "/" + maskMark
}

// isMasked reports whether s looks like a secret masked by
// [ChannelConfig.Masked], such as a masked value a client sent back.
func isMasked(s string) bool { return strings.Contains(s, maskMark) }
