package activity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Checker is one activity check.
type Checker interface {
	// Name is the check's short name in reasons: "connections", "processes".
	Name() string
	// Check reports whether something is using the server at now, and what
	// ("ssh connection from 192.0.2.4"). Checks that measure a rate keep the
	// previous reading and compare it with this one.
	Check(ctx context.Context, now time.Time) (active bool, detail string, err error)
}

// ErrUnavailable is wrapped by a check that cannot work on this machine (a
// program it needs is not installed). Such a check is not active.
var ErrUnavailable = errors.New("check unavailable")

// Activity is a check that is active, or that failed.
type Activity struct {
	Check  string
	Detail string
	Err    error // the check failed: it counts as active
}

func (a Activity) String() string {
	if a.Detail == "" {
		return a.Check + " active"
	}
	return a.Check + ": " + a.Detail
}

// Set runs the configured checks together.
type Set struct {
	Checks []Checker
	Log    *slog.Logger // nil: nothing is logged

	mu          sync.Mutex
	unavailable map[int]bool // indexes already reported unavailable
}

// Run runs every check at once and returns the active ones, in the order of
// Checks, and the errors of the checks that failed.
//
// A check that fails counts as active, its error as the detail: a broken
// check must not let the server sleep while it may be in use, and the reason
// then tells the user what to fix. A check that is unavailable on this
// machine (it wraps ErrUnavailable) is not active; it is logged and returned
// as an error the first time only.
//
// Run must not be called concurrently with itself.
func (s *Set) Run(ctx context.Context, now time.Time) ([]Activity, error) {
	type result struct {
		active bool
		detail string
		err    error
	}
	res := make([]result, len(s.Checks))
	var wg sync.WaitGroup
	for i, c := range s.Checks {
		wg.Go(func() {
			var r result
			r.active, r.detail, r.err = c.Check(ctx, now)
			res[i] = r
		})
	}
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Activity
	var errs []error
	for i, r := range res {
		name := s.Checks[i].Name()
		switch {
		case errors.Is(r.err, ErrUnavailable):
			if s.unavailable == nil {
				s.unavailable = map[int]bool{}
			}
			if !s.unavailable[i] {
				s.unavailable[i] = true
				err := fmt.Errorf("activity check %s: %w", name, r.err)
				errs = append(errs, err)
				if s.Log != nil {
					s.Log.Warn("activity check unavailable, ignored", "check", name, "err", r.err)
				}
			}
		case r.err == nil:
			delete(s.unavailable, i) // it works (again): say so if it stops
			if r.active {
				out = append(out, Activity{Check: name, Detail: r.detail})
			}
		default:
			err := fmt.Errorf("activity check %s: %w", name, r.err)
			errs = append(errs, err)
			out = append(out, Activity{Check: name, Detail: "check failed: " + r.err.Error(), Err: err})
		}
	}
	return out, errors.Join(errs...)
}
