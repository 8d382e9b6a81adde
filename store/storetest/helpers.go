package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// concurrency is how many goroutines the concurrency subtests start.
const concurrency = 100

// fixedTime is a microsecond-aligned instant used by fixtures; stores may
// truncate times to microseconds.
var fixedTime = time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC)

// otherZone is a non-UTC zone, to check that stores normalise to UTC.
var otherZone = time.FixedZone("UTC+5:30", 5*3600+30*60)

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one matching %v", what, err, target)
	}
}

// clock brackets a call with the wall time, truncated to what stores keep.
type clock struct{ before time.Time }

func startClock() clock { return clock{before: time.Now().Truncate(time.Microsecond)} }

// check fails t unless got is in UTC and between the clock's start and
// now.
func (c clock) check(t *testing.T, got time.Time, what string) {
	t.Helper()
	after := time.Now()
	if got.Location() != time.UTC {
		t.Errorf("%s = %v: location is %v, want UTC", what, got, got.Location())
	}
	if got.Before(c.before) || got.After(after) {
		t.Errorf("%s = %v: want the current time, between %v and %v", what, got, c.before, after)
	}
}

func checkUTC(t *testing.T, got time.Time, what string) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s = %v: location is %v, want UTC", what, got, got.Location())
	}
}

// checkSame fails t with the differing fields when got and want differ.
func checkSame(t *testing.T, got, want any, what string) {
	t.Helper()
	if d := diff(got, want); len(d) > 0 {
		t.Errorf("%s differs from what was expected:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

var timeType = reflect.TypeFor[time.Time]()

// diff lists the exported fields where got and want differ. Times are
// compared with time.Time.Equal, and a nil slice equals an empty one.
func diff(got, want any) []string {
	var out []string
	diffValue(reflect.ValueOf(got), reflect.ValueOf(want), "", &out)
	return out
}

func diffValue(g, w reflect.Value, path string, out *[]string) {
	report := func() {
		name := path
		if name == "" {
			name = "value"
		}
		*out = append(*out, fmt.Sprintf("%s: got %v, want %v", name, show(g), show(w)))
	}
	if g.Type() == timeType {
		if !g.Interface().(time.Time).Equal(w.Interface().(time.Time)) {
			report()
		}
		return
	}
	switch g.Kind() {
	case reflect.Struct:
		for i := range g.NumField() {
			f := g.Type().Field(i)
			if f.IsExported() {
				diffValue(g.Field(i), w.Field(i), joinPath(path, f.Name), out)
			}
		}
	case reflect.Pointer:
		switch {
		case g.IsNil() != w.IsNil():
			report()
		case !g.IsNil():
			diffValue(g.Elem(), w.Elem(), path, out)
		}
	case reflect.Slice:
		if g.Len() != w.Len() {
			report()
			return
		}
		for i := range g.Len() {
			diffValue(g.Index(i), w.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			report()
		}
	}
}

func show(v reflect.Value) any {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return v.Elem().Interface()
	}
	return v.Interface()
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fill sets every zero exported field of the struct *p to a distinct,
// non-zero value derived from seed: strings, integers, booleans, times,
// string slices and nested structs. Fields set beforehand are kept.
// Fixtures set the fields with constrained values themselves and let fill
// cover the rest, including fields added to the types after this suite
// was written.
func fill[T any](p *T, seed string) {
	fillValue(reflect.ValueOf(p).Elem(), seed)
}

func fillValue(v reflect.Value, seed string) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		fv := v.Field(i)
		if !f.IsExported() || !fv.IsZero() {
			continue
		}
		name := seed + "-" + f.Name
		switch {
		case f.Type == timeType:
			fv.Set(reflect.ValueOf(fixedTime.Add(time.Duration(len(name)) * time.Second)))
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem() == timeType:
			at := fixedTime.Add(time.Duration(len(name)) * time.Minute)
			fv.Set(reflect.ValueOf(&at))
		case f.Type.Kind() == reflect.String:
			fv.SetString(name)
		case f.Type.Kind() >= reflect.Int && f.Type.Kind() <= reflect.Int64:
			fv.SetInt(int64(7 + len(name)%50))
		case f.Type.Kind() == reflect.Bool:
			fv.SetBool(true)
		case f.Type.Kind() == reflect.Struct:
			fillValue(fv, name)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			s := reflect.MakeSlice(f.Type, 2, 2)
			s.Index(0).SetString(name + "-1")
			s.Index(1).SetString(name + "-2")
			fv.Set(s)
		}
	}
}

// race runs f(i) for i in [0, n) on n goroutines released at the same
// moment, and waits for them.
func race(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// auditRecorder is the audit logger the Service-level subtests hand to an
// [approval.Service]: it records every entry and passes it on to the
// store, so that "audited exactly once" is checked whether or not the
// store can read its trail back.
type auditRecorder struct {
	next approval.AuditLogger

	mu      sync.Mutex
	entries []approval.AuditEntry
}

func (a *auditRecorder) LogAudit(ctx context.Context, e approval.AuditEntry) error {
	a.mu.Lock()
	a.entries = append(a.entries, e)
	a.mu.Unlock()
	return a.next.LogAudit(ctx, e)
}

// of returns the entries recorded for the request id of org.
func (a *auditRecorder) of(org, id string) []approval.AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []approval.AuditEntry
	for _, e := range a.entries {
		if e.OrgID == org && e.ApprovalID == id {
			out = append(out, e)
		}
	}
	return out
}

// auditLister returns s as an [approval.AuditLister], or skips t: reading
// the trail back is optional.
func auditLister(t *testing.T, s any) approval.AuditLister {
	t.Helper()
	l, ok := s.(approval.AuditLister)
	if !ok {
		t.Skipf("storetest: %T does not implement approval.AuditLister (optional); skipping the rules of reading the audit trail back", s)
	}
	return l
}

// expiryLister returns s as an [approval.ExpiryLister], or skips t.
func expiryLister(t *testing.T, s any) approval.ExpiryLister {
	t.Helper()
	l, ok := s.(approval.ExpiryLister)
	if !ok {
		t.Skipf("storetest: %T does not implement approval.ExpiryLister (optional); skipping its rules", s)
	}
	return l
}
