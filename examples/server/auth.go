package main

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
)

// defaultOrg is the one organisation of the example; a real host has
// many and takes the caller's from its own session or token.
const defaultOrg = "default"

// tokenAuth authenticates "Authorization: Bearer <token>" against the
// admin and viewer tokens of the configuration.
type tokenAuth struct {
	admin, viewer string
}

// user is an authenticated caller of the example's API.
type user struct {
	Name  string
	OrgID string
	Admin bool
}

// identify returns the caller of r and false when r carries no valid
// token. Tokens are compared in constant time.
func (a tokenAuth) identify(r *http.Request) (user, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return user{}, false
	}
	switch {
	case equal(tok, a.admin):
		return user{Name: "admin", OrgID: defaultOrg, Admin: true}, true
	case a.viewer != "" && equal(tok, a.viewer):
		return user{Name: "viewer", OrgID: defaultOrg}, true
	}
	return user{}, false
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// authorizer adapts identify to the settings API's Authorizer.
func (a tokenAuth) authorizer(r *http.Request) (notify.Caller, error) {
	u, ok := a.identify(r)
	if !ok {
		return notify.Caller{}, notify.ErrUnauthenticated
	}
	return notify.Caller{OrgID: u.OrgID, Admin: u.Admin}, nil
}

// reviewer is the approval reviewer an API caller decides as.
func (u user) reviewer() approval.Reviewer {
	return approval.Reviewer{ID: u.Name, Name: u.Name, Verified: true}
}
