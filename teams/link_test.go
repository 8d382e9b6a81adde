package teams_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/teams"
)

func TestActionURL(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"https://arx.example.com", "https://arx.example.com/v1/webhooks/teams/interactions?token=cn1.abc.def"},
		{"https://arx.example.com/", "https://arx.example.com/v1/webhooks/teams/interactions?token=cn1.abc.def"},
		{"https://example.com/api", "https://example.com/api/v1/webhooks/teams/interactions?token=cn1.abc.def"},
		{"http://127.0.0.1:8080//", "http://127.0.0.1:8080/v1/webhooks/teams/interactions?token=cn1.abc.def"},
	} {
		assert.Equal(t, tc.want, teams.ActionURL(tc.base, "cn1.abc.def"), "base %q", tc.base)
	}
}

func TestActionURLRoundTripsToken(t *testing.T) {
	s := newSigner(t, secretA)
	tok := s.Sign(claims())
	u, err := url.Parse(teams.ActionURL("https://arx.example.com", tok))
	require.NoError(t, err)
	assert.Equal(t, teams.InteractionsPath, u.Path)
	assert.Equal(t, tok, u.Query().Get(teams.TokenParam))
	_, err = s.Verify(u.Query().Get(teams.TokenParam), tokenT0)
	assert.NoError(t, err)
	// An odd token is escaped, not spliced into the query.
	u, err = url.Parse(teams.ActionURL("https://a", "x&token=y#z"))
	require.NoError(t, err)
	assert.Equal(t, []string{"x&token=y#z"}, u.Query()[teams.TokenParam])
}
