package notify

import (
	"encoding/json"
	"fmt"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/teams"
)

// botCardVersion is the Adaptive Card version of the cards a bot sends:
// the one that brought Action.Execute (Universal Actions).
const botCardVersion = "1.5"

// The verbs and data of the Approve and Deny buttons of a bot card. A
// click comes back as an adaptiveCard/action invoke with the verb and
// the data, or, from a Teams client without Universal Actions, through
// the Action.Submit fallback as a message activity whose value is the
// data: {"action": "approve", "approval_id": "req-42"}, the callback the
// spec describes. The bot's messaging endpoint (package approval)
// decides on it.
const (
	botVerbApprove = "approve"
	botVerbDeny    = "deny"
)

// botButtons returns the buttons of a bot card for the request id:
// Approve and Deny as Action.Execute (each with its Action.Submit
// fallback), and the console link when there is one.
func (o teamsRender) botButtons(id string) []teams.Action {
	data := func(verb string) map[string]string {
		return map[string]string{"action": verb, "approval_id": id}
	}
	actions := []teams.Action{
		teams.ActionExecute{Title: "Approve", Verb: botVerbApprove, Data: data(botVerbApprove), Style: "positive"},
		teams.ActionExecute{Title: "Deny", Verb: botVerbDeny, Data: data(botVerbDeny), Style: "destructive"},
	}
	if o.console != "" {
		actions = append(actions, teams.ActionOpenURL{Title: "View in console", URL: o.console})
	}
	return actions
}

// renderTeamsBot renders ev as the message activity posted to a
// conversation of tenant through the Bot Connector: the card of
// renderTeams, of version 1.5, whose Approve and Deny (for an approval
// request) are Action.Execute buttons, as JSON under teamsMaxBytes.
func renderTeamsBot(ev Event, o teamsRender, tenant string) ([]byte, error) {
	o.bot = true
	return fitTeams(o, func(o teamsRender) any {
		c := o.card(ev)
		c.Version = botCardVersion
		return newBotActivity(c, tenant)
	})
}

// teamsBotDecided renders the message activity that replaces a bot copy
// of the decided request r (with PUT), or, for a copy whose activity ID
// is unknown, follows it: the result card of teamsDecided, version 1.5,
// without buttons. It is the card the bot's messaging endpoint (package
// approval) answered the click with (internal/teamsmsg renders both), so
// the PUT over the clicked copy changes nothing Teams shows.
func teamsBotDecided(r approval.Request, tenant string) ([]byte, error) {
	c := teamsDecided(r)
	c.Version = botCardVersion
	b, err := json.Marshal(newBotActivity(c, tenant))
	if err != nil {
		return nil, err
	}
	if len(b) > teamsMaxBytes {
		return nil, fmt.Errorf("notify: Teams result card is %d bytes, over the limit", len(b))
	}
	return b, nil
}
