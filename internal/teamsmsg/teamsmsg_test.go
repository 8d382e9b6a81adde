package teamsmsg

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 4, "hel…"},
		{"héllo wörld", 5, "héll…"}, // runes, not bytes
		{"abc", 1, "…"},
		{"abc", 0, ""},
		{"", 3, ""},
	} {
		if got := Cut(tc.in, tc.n); got != tc.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestResultCard: the status line, colour and facts of each status, and
// the texts cleaned, cut and escaped.
func TestResultCard(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 34, 56, 0, time.FixedZone("CET", 3600))
	base := Outcome{ID: "req-42", Title: "Delete\nbackups", ReviewedBy: "Jane *Doe*", ReviewedAt: at,
		Notes: "Approved by Jane *Doe* via Teams", RiskScore: 82, RiskLevel: "high"}
	for _, tc := range []struct {
		status, style, line string
		reviewer            bool
	}{
		{"approved", "good", `**APPROVED** by Jane \*Doe\*`, true},
		{"denied", "attention", `**DENIED** by Jane \*Doe\*`, true},
		{"expired", "warning", "Approval request has expired", false},
		{"pending", "warning", "Awaiting review", false},
	} {
		t.Run(tc.status, func(t *testing.T) {
			o := base
			o.Status = tc.status
			b, err := json.Marshal(ResultCard(o))
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			for _, want := range []string{`"style":"` + tc.style + `"`, `"text":"` + strings.ReplaceAll(tc.line, `\`, `\\`) + `"`,
				`"text":"Delete backups"`, `{"title":"Risk","value":"82 (high)"}`, `{"title":"Request ID","value":"req-42"}`,
				`{"title":"Notes","value":"Approved by Jane \\*Doe\\* via Teams"}`} {
				if !strings.Contains(s, want) {
					t.Errorf("card lacks %s:\n%s", want, s)
				}
			}
			if got := strings.Contains(s, `{"title":"Reviewer","value":"Jane \\*Doe\\*"}`); got != tc.reviewer {
				t.Errorf("Reviewer fact shown: %v, want %v:\n%s", got, tc.reviewer, s)
			}
			if strings.Contains(s, `"actions"`) || strings.Contains(s, "Action.") {
				t.Errorf("a result card has no buttons:\n%s", s)
			}
		})
	}
	t.Run("no reviewer", func(t *testing.T) {
		o := base
		o.Status, o.ReviewedBy = "approved", ""
		b, _ := json.Marshal(ResultCard(o))
		if !strings.Contains(string(b), `"text":"**APPROVED**"`) {
			t.Errorf("status line without reviewer: %s", b)
		}
	})
	t.Run("long and empty titles", func(t *testing.T) {
		o := base
		o.Status, o.Title = "approved", strings.Repeat("x", 300)
		b, _ := json.Marshal(ResultCard(o))
		if !strings.Contains(string(b), `"text":"`+strings.Repeat("x", MaxTitle-1)+`…"`) {
			t.Errorf("title not cut to %d: %s", MaxTitle, b)
		}
		o.Title = " \n "
		b, _ = json.Marshal(ResultCard(o))
		if !strings.Contains(string(b), `"text":"Untitled request"`) {
			t.Errorf("empty title: %s", b)
		}
	})
}
