package slackmsg

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEscapeNeverSplitsAnEntity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a&b", 10, "a&amp;b"},
		{"<@U123>", 20, "&lt;@U123&gt;"},
		{"&&&&", 8, "&amp;…"},       // 4 entities need 20; one fits before "…"
		{"&&&&", 6, "&amp;…"},       // exactly one entity and the ellipsis
		{"&&&&", 5, "…"},            // no room for a whole entity
		{"héllo wörld", 5, "héll…"}, // runes, not bytes
		{"", 3, ""},
		{"abc", 0, ""},
	} {
		got := Escape(tc.in, tc.n)
		if got != tc.want {
			t.Errorf("Escape(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if n := utf8.RuneCountInString(got); tc.n > 0 && n > tc.n {
			t.Errorf("Escape(%q, %d) has %d characters", tc.in, tc.n, n)
		}
	}
}

func TestEscapeInvalidUTF8(t *testing.T) {
	got := Escape("a\xffb", 10)
	if !utf8.ValidString(got) {
		t.Fatalf("Escape returned invalid UTF-8 %q", got)
	}
}

func FuzzEscape(f *testing.F) {
	f.Add("a&b<c>d", 5)
	f.Add(strings.Repeat("&", 100), 13)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n % 4000
		got := Escape(s, n)
		if n < 1 {
			if got != "" {
				t.Fatalf("n=%d gave %q", n, got)
			}
			return
		}
		if utf8.RuneCountInString(got) > n {
			t.Fatalf("Escape(%q, %d) = %d characters", s, n, utf8.RuneCountInString(got))
		}
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8")
		}
		body := strings.TrimSuffix(got, "…")
		// Every '&' starts a whole entity; no raw '<' or '>' remains.
		if strings.ContainsAny(body, "<>") {
			t.Fatalf("unescaped bracket in %q", got)
		}
		for i := 0; i < len(body); i++ {
			if body[i] == '&' {
				rest := body[i:]
				if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
					t.Fatalf("split entity in %q", got)
				}
			}
		}
	})
}

func TestResultLine(t *testing.T) {
	for _, tc := range []struct{ status, reviewer, want string }{
		{"approved", "amy", ":white_check_mark: *APPROVED* by amy"},
		{"denied", "<!channel>", ":x: *DENIED* by &lt;!channel&gt;"},
		{"expired", "amy", ":warning: Approval request has expired"},
		{"pending", "", ":hourglass_flowing_sand: Awaiting review"},
		{"on<hold", "", ":grey_question: *ON&lt;HOLD*"},
	} {
		if got := ResultLine(tc.status, tc.reviewer); got != tc.want {
			t.Errorf("ResultLine(%q, %q) = %q, want %q", tc.status, tc.reviewer, got, tc.want)
		}
	}
}

func TestDate(t *testing.T) {
	got := Date(time.Unix(1700000000, 0))
	want := "<!date^1700000000^{date_short_pretty} at {time}|2023-11-14 22:13 UTC>"
	if got != want {
		t.Errorf("Date = %q, want %q", got, want)
	}
}
