package teams

import (
	"strings"
	"time"
)

// Result is what a result card shows once an approval request has been
// acted on (or could not be): the request's title, a status line, the
// reviewer and the time, on a coloured background. Build one with
// [ApprovedResult], [DeniedResult] or [WarningResult], or fill it in, then
// render it with [ResultCard].
type Result struct {
	// Title is the request's title, shown in bold. Plain text.
	Title string
	// Status is the result line, in Teams markdown, such as
	// "**APPROVED** by Jane Doe". It is used as given: escape any user
	// text in it with [EscapeMarkdown].
	Status string
	// Style colours the card: StyleGood for approved, StyleAttention for
	// denied, StyleWarning for errors and expiry.
	Style ContainerStyle
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

// ApprovedResult is the result of an approval by reviewer at at:
// "**APPROVED** by <reviewer>" on green.
func ApprovedResult(title, reviewer string, at time.Time) Result {
	return Result{
		Title:    title,
		Status:   "**APPROVED** by " + EscapeMarkdown(reviewer),
		Style:    StyleGood,
		Reviewer: reviewer,
		At:       at,
	}
}

// DeniedResult is the result of a denial by reviewer at at:
// "**DENIED** by <reviewer>" on red.
func DeniedResult(title, reviewer string, at time.Time) Result {
	return Result{
		Title:    title,
		Status:   "**DENIED** by " + EscapeMarkdown(reviewer),
		Style:    StyleAttention,
		Reviewer: reviewer,
		At:       at,
	}
}

// WarningResult is a result that is not a fresh decision, such as
// "Already approved" or "Approval request has expired": message (plain
// text) on amber.
func WarningResult(title, message string) Result {
	return Result{Title: title, Status: EscapeMarkdown(message), Style: StyleWarning}
}

// TimeLayout is how [ResultCard] writes times: in UTC, to the minute.
const TimeLayout = "2006-01-02 15:04 MST"

// ResultCard renders r as a full-width Adaptive Card: one container in
// r.Style holding the title, the status line and a fact set (Reviewer,
// Time, Notes and r.Facts, each only when set). Every field but Status is
// escaped with [EscapeMarkdown].
func ResultCard(r Result) Card {
	items := make([]Element, 0, 3)
	if r.Title != "" {
		items = append(items, TextBlock{Text: EscapeMarkdown(r.Title), Wrap: true, Weight: WeightBolder, Size: SizeMedium})
	}
	items = append(items, TextBlock{Text: r.Status, Wrap: true})
	var facts []Fact
	if r.Reviewer != "" {
		facts = append(facts, Fact{Title: "Reviewer", Value: EscapeMarkdown(r.Reviewer)})
	}
	if !r.At.IsZero() {
		facts = append(facts, Fact{Title: "Time", Value: r.At.UTC().Format(TimeLayout)})
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
