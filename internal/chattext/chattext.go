// Package chattext cleans user text before it is measured and shown in a
// chat message, the same way for Slack and Teams, in notify's renderers
// and in approval's answers to clicks.
package chattext

import (
	"strings"
	"unicode"
)

// Clean makes user text safe to measure and show: valid UTF-8, no
// control characters except newlines (a tab becomes a space, a line or
// paragraph separator a newline), and none of the invisible characters
// that can make a title read differently from what it says: the bidi
// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069, as in
// "Trojan Source") and the zero-width space, word joiner and byte order
// mark. Joiners (U+200C, U+200D, needed by emoji sequences and several
// scripts) and the left-to-right and right-to-left marks stay.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case r == '\u2028' || r == '\u2029':
			return '\n'
		case r == '\r', unicode.IsControl(r), Invisible(r):
			return -1
		}
		return r
	}, s)
}

// Invisible reports whether Clean drops r as an invisible character.
func Invisible(r rune) bool {
	switch {
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	case r == '\u200B', r == '\u2060', r == '\uFEFF':
		return true
	}
	return false
}

// OneLine is Clean with newlines folded into spaces and surrounding space
// trimmed, for headers, titles, names and fact values.
func OneLine(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(Clean(s), "\n", " "))
}
