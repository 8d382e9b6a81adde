package notify

import (
	"encoding/json"
	"fmt"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/internal/slackmsg"
	"github.com/chatnotify/chatnotify/teams"
)

// The messages of the Dispatcher's follow-up jobs: what replaces a copy
// of a decided request, and the warning shown to a clicker. Event
// messages are rendered by renderSlack and renderTeams.

// slackReplacement renders the decided request r as the message that
// replaces every Slack copy of it, through chat.update and through the
// click's response_url (replace_original): slackDecided's result message,
// the one place that renders it.
func slackReplacement(r approval.Request) slackMessage {
	return slackDecided(r)
}

// slackEphemeral renders msg, a plain-text message for a reviewer (such
// as "Already approved"), as the warning shown only to the clicker:
// ":warning: " and the escaped message.
func slackEphemeral(msg string) slackMessage {
	return slackMessage{Text: slackmsg.Warning(msg)}
}

// teamsFollowUp renders the follow-up message posted to a Teams channel
// once a request it received is decided: the result card of
// teamsDecided in a webhook message envelope, under Teams' size limit.
func teamsFollowUp(r approval.Request) ([]byte, error) {
	b, err := json.Marshal(teams.NewMessage(teamsDecided(r)))
	if err != nil {
		return nil, err
	}
	if len(b) > teamsMaxBytes {
		return nil, fmt.Errorf("notify: Teams follow-up is %d bytes, over the limit", len(b))
	}
	return b, nil
}
