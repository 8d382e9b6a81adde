// Package teamsmsg holds what chatnotify's Teams cards and its Teams bot
// endpoint must agree on: the result card of an approval request once it
// is decided or expired. notify posts it after a decision (a webhook
// channel's follow-up) and puts it over every copy a bot posted (PUT of
// the activity); approval answers an Action.Execute click with it, and
// Teams shows that answer in place of the clicked card. Both render it
// here, from the same request, so the clicked card and every other copy
// end up showing the same card.
//
// The request comes as plain fields ([Outcome]): package approval
// imports this package, so this package cannot import approval.
package teamsmsg

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chatnotify/chatnotify/internal/chattext"
	"github.com/chatnotify/chatnotify/teams"
)

// The longest texts of a Teams card, in characters: a title, and a fact
// value (reviewer, notes, request ID). Longer ones are cut with "…".
const (
	MaxTitle = 250
	MaxFact  = 500
)

// Outcome is what a result card shows of an approval request: the
// fields of an approval.Request, as they stand after its decision or
// expiry. Texts are the request's, uncleaned: ResultCard cleans, cuts
// and escapes them.
type Outcome struct {
	// ID and Title are the request's.
	ID, Title string
	// Status is the request's status: "approved", "denied" or
	// "expired"; anything else shows as awaiting review.
	Status string
	// ReviewedBy is the reviewer's name, and ReviewedAt the time of the
	// decision (or expiry); the zero time hides it.
	ReviewedBy string
	ReviewedAt time.Time
	// Notes are the request's review notes ("Approved by amy via
	// Teams").
	Notes string
	// RiskScore and RiskLevel are the request's risk, shown as
	// "82 (high)".
	RiskScore int
	RiskLevel string
}

// ResultCard renders o as the result card: package teams' result card
// (green for approved, red for denied, amber for expired or pending)
// with the title, "**APPROVED** by <reviewer>" (or DENIED, or "Approval
// request has expired"), the reviewer, time and notes, and the risk and
// request ID, without buttons. The card has package teams' default
// version; a bot's copies and invoke answers set Version to "1.5".
func ResultCard(o Outcome) teams.Card {
	title := Cut(chattext.OneLine(o.Title), MaxTitle)
	if title == "" {
		title = "Untitled request"
	}
	reviewer := Cut(chattext.OneLine(o.ReviewedBy), MaxFact)
	var res teams.Result
	switch o.Status {
	case "approved", "denied":
		res = teams.DecisionResult(title, o.Status == "approved", reviewer, o.ReviewedAt)
		if reviewer == "" {
			res.Status = strings.TrimSuffix(res.Status, " by ") // as Slack's result line
		}
	case "expired":
		res = teams.Result{Title: title, Status: "Approval request has expired", Style: "warning", At: o.ReviewedAt}
	default:
		res = teams.Result{Title: title, Status: "Awaiting review", Style: "warning"}
	}
	res.Notes = Cut(chattext.OneLine(o.Notes), MaxFact)
	res.Facts = append(res.Facts, teams.Fact{Title: "Risk", Value: strconv.Itoa(o.RiskScore) + " (" + o.RiskLevel + ")"})
	if id := Cut(chattext.OneLine(o.ID), MaxFact); id != "" {
		res.Facts = append(res.Facts, teams.Fact{Title: "Request ID", Value: id})
	}
	return teams.ResultCard(res)
}

// Cut shortens s to at most n characters (runes), ending with "…" when
// it had to cut. n < 1 yields "". It is the one cut of Teams texts,
// which are cut before [teams.EscapeMarkdown], so that an escape is
// never split.
func Cut(s string, n int) string {
	if n < 1 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for j := range s {
		if k == n-1 {
			i = j
			break
		}
		k++
	}
	return s[:i] + "…"
}
