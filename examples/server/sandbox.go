package main

import "net/http"

// sandbox runs fake Slack and Teams in-process (issue 5 fills it in).
type sandbox struct{}

func newSandbox(a *app) (*sandbox, error)  { return &sandbox{}, nil }
func (s *sandbox) client() *http.Client    { return http.DefaultClient }
func (s *sandbox) routes(m *http.ServeMux) {}
func (s *sandbox) close()                  {}
