package teams

import (
	"strings"
	"time"
)

// Result is what a result card shows once an approval request has been
// acted on (or could not be): the request's title, a status line, the
// reviewer and the time, on a coloured background. Build one with
// [DecisionResult], or fill it in, then render it with [ResultCard]. A
// result that is not a fresh decision ("Already approved", "Approval
// request has expired") is a warning:
//
//	teams.Result{Title: title, Status: teams.EscapeMarkdown(message), Style: "warning"}
type Result struct {
	// Title is the request's title, shown in bold. Plain text.
	Title string
	// Status is the result line, in Teams markdown, such as
	// "**APPROVED** by Jane Doe". It is used as given: escape any user
	// text in it with [EscapeMarkdown].
	Status string
	// Style colours the card, as [Container.Style]: good (green) for
	// approved, attention (red) for denied, warning (amber) for errors
	// and expiry. Empty means the card's default.
	Style string
	// Reviewer is who decided, when known. Plain text.
	Reviewer string
	// At is when the request was decided; the zero time hides it.
	At time.Time
	// Notes are the review notes, when any. Plain text.
	Notes string
	// Facts are extra rows shown after Reviewer, Time and Notes. Plain
	// text.
	Facts []Fact
}

// DecisionResult is the result of a decision by reviewer at at: when
// approved, "**APPROVED** by <reviewer>" on green (style good); otherwise
// "**DENIED** by <reviewer>" on red (style attention). title and reviewer
// are plain text.
func DecisionResult(title string, approved bool, reviewer string, at time.Time) Result {
	status, style := "**DENIED** by ", "attention"
	if approved {
		status, style = "**APPROVED** by ", "good"
	}
	return Result{
		Title:    title,
		Status:   status + EscapeMarkdown(reviewer),
		Style:    style,
		Reviewer: reviewer,
		At:       at,
	}
}

// timeLayout is how [ResultCard] writes times: in UTC, to the minute, as
// "2026-03-01 12:34 UTC" (the format of the Slack messages' plain dates).
const timeLayout = "2006-01-02 15:04 MST"

// ResultCard renders r as a full-width Adaptive Card: one container in
// r.Style holding the title, the status line and a fact set (Reviewer,
// Time, Notes and r.Facts, each only when set). Every field but Status is
// escaped with [EscapeMarkdown]. Times are written in UTC, to the minute:
// "2026-03-01 12:34 UTC".
func ResultCard(r Result) Card {
	items := make([]Element, 0, 3)
	if r.Title != "" {
		items = append(items, TextBlock{Text: EscapeMarkdown(r.Title), Wrap: true, Weight: "bolder", Size: "medium"})
	}
	items = append(items, TextBlock{Text: r.Status, Wrap: true})
	var facts []Fact
	if r.Reviewer != "" {
		facts = append(facts, Fact{Title: "Reviewer", Value: EscapeMarkdown(r.Reviewer)})
	}
	if !r.At.IsZero() {
		facts = append(facts, Fact{Title: "Time", Value: r.At.UTC().Format(timeLayout)})
	}
	if r.Notes != "" {
		facts = append(facts, Fact{Title: "Notes", Value: EscapeMarkdown(r.Notes)})
	}
	for _, f := range r.Facts {
		facts = append(facts, Fact{Title: EscapeMarkdown(f.Title), Value: EscapeMarkdown(f.Value)})
	}
	if len(facts) > 0 {
		items = append(items, FactSet{Facts: facts})
	}
	return NewCard(Container{Items: items, Style: r.Style, Bleed: true})
}

// markdownEscaper backslash-escapes the characters that start Teams
// markdown: bold, italic, links, code and strikethrough. It is immutable
// and safe for concurrent use.
var markdownEscaper = strings.NewReplacer(
	`\`, `\\`,
	`*`, `\*`,
	`_`, `\_`,
	`[`, `\[`,
	`]`, `\]`,
	"`", "\\`",
	`~`, `\~`,
)

// EscapeMarkdown returns s with Teams markdown syntax escaped, so that
// text from users or agents (a request title, a display name) shows as
// typed and cannot inject links or formatting into a card.
func EscapeMarkdown(s string) string {
	return markdownEscaper.Replace(s)
}
