package storetest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/notify"
)

// The round-trip subtests are only as strong as the fixtures: every
// exported field must be set, so a store that drops one is caught.
func TestFixturesSetEveryField(t *testing.T) {
	for name, v := range map[string]any{
		"Channel":    newChannel(orgA, "n"),
		"Post":       newPost(orgA, "a", "p", fixedTime),
		"Request":    newRequest("r", "r"),
		"AuditEntry": newEntry(orgA, "r", "e", fixedTime),
	} {
		t.Run(name, func(t *testing.T) {
			for _, f := range zeroFields(reflect.ValueOf(v), name) {
				t.Errorf("fixture leaves %s unset", f)
			}
		})
	}
}

func zeroFields(v reflect.Value, path string) []string {
	var out []string
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		switch {
		case !f.IsExported():
		case fv.IsZero():
			out = append(out, path+"."+f.Name)
		case f.Type.Kind() == reflect.Struct && f.Type != timeType:
			out = append(out, zeroFields(fv, path+"."+f.Name)...)
		}
	}
	return out
}

func TestDiff(t *testing.T) {
	at := fixedTime
	later := at.Add(time.Second)
	a := approval.Request{ID: "x", CreatedAt: at, ReviewedAt: &at, RiskScore: 1}
	tests := []struct {
		name string
		b    approval.Request
		want []string
	}{
		{"same", a, nil},
		{"same instant in another zone", func() approval.Request {
			b := a
			b.CreatedAt = at.In(otherZone)
			return b
		}(), nil},
		{"field", func() approval.Request { b := a; b.ID = "y"; return b }(), []string{"ID"}},
		{"time", func() approval.Request { b := a; b.CreatedAt = later; return b }(), []string{"CreatedAt"}},
		{"pointer target", func() approval.Request { b := a; b.ReviewedAt = &later; return b }(), []string{"ReviewedAt"}},
		{"nil pointer", func() approval.Request { b := a; b.ReviewedAt = nil; return b }(), []string{"ReviewedAt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diff(a, tt.b)
			if len(got) != len(tt.want) {
				t.Fatalf("diff = %q, want fields %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]+":") {
					t.Errorf("diff[%d] = %q, want it about %s", i, got[i], tt.want[i])
				}
			}
		})
	}

	ch := notify.Channel{Events: nil}
	if d := diff(ch, notify.Channel{Events: []notify.EventType{}}); len(d) != 0 {
		t.Errorf("a nil and an empty slice differ: %q", d)
	}
	if d := diff(ch, notify.Channel{Config: notify.ChannelConfig{ChannelID: "C1"}}); len(d) != 1 || !strings.HasPrefix(d[0], "Config.ChannelID:") {
		t.Errorf("diff of a nested field = %q, want Config.ChannelID", d)
	}
}
