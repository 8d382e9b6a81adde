package approval_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// BenchmarkTeamsClick measures one Teams button click end to end: read
// the body, decode it, verify the action token, decide on an in-memory
// store, audit, render and write the result card. Each iteration decides
// its own pending request, created before the timer starts.
func BenchmarkTeamsClick(b *testing.B) {
	for _, shape := range []struct {
		name string
		body func(action, id, token string) string
	}{
		{"data", teamsBare},
		{"invoke", teamsInvoke},
	} {
		b.Run(shape.name, func(b *testing.B) {
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			signer, err := approval.NewSigner([]byte(strings.Repeat("k", 32)))
			if err != nil {
				b.Fatal(err)
			}
			store := newTestStore()
			svc, err := approval.NewService(store, store, &approval.Options{Now: clock, Signer: signer})
			if err != nil {
				b.Fatal(err)
			}
			h, err := approval.NewTeamsHandler(svc, nil)
			if err != nil {
				b.Fatal(err)
			}
			bodies := make([][]byte, b.N)
			for i := range b.N {
				id := "req-" + strconv.Itoa(i)
				r, err := svc.Create(b.Context(), approval.Request{
					ID: id, OrgID: "org-1", Title: "Deploy payments-api to production", Agent: "deploy-bot",
					Action: "kubectl apply", RiskScore: 85, ExpiresAt: now.Add(time.Hour),
				})
				if err != nil {
					b.Fatal(err)
				}
				tok := signer.Sign(approval.ActionClaims{OrgID: r.OrgID, ApprovalID: id, Decision: approval.Approve, ExpiresAt: r.ExpiresAt})
				bodies[i] = []byte(shape.body("approve", id, tok))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				req := httptest.NewRequest(http.MethodPost, approval.TeamsInteractionsPath, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("click %d: status %d: %s", i, rec.Code, rec.Body)
				}
			}
		})
	}
}
