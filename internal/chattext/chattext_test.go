package chattext

import "testing"

func TestOneLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"  a\nb\tc  ", "a b c"},
		{"evil\u202Egnp.exe", "evilgnp.exe"},
		{"zero\u200Bwidth\u2060join\uFEFF", "zerowidthjoin"},
		{"👩\u200D💻 keeps its joiner", "👩\u200D💻 keeps its joiner"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"line\u2028sep", "line sep"},
		{"nul\x00bell\x07", "nulbell"},
	} {
		if got := OneLine(tc.in); got != tc.want {
			t.Errorf("OneLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
