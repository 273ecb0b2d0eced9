package web

import (
	"sync"
	"time"
)

// limiter counts failed logins (and bad tokens) per key ("name:alice",
// "addr:192.0.2.1") over a sliding LoginWindow.
type limiter struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string][]time.Time // failures within the window, oldest first
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, m: map[string][]time.Time{}}
}

// blocked reports whether any key has used up its failures, and how long
// until the first of them may try again.
func (l *limiter) blocked(keys ...string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		f := l.fresh(k, now)
		if len(f) >= LoginFailures {
			if d := f[len(f)-LoginFailures].Add(LoginWindow).Sub(now); d > wait {
				wait = d
			}
		}
	}
	return wait, wait > 0
}

// fail records a failure for each key.
func (l *limiter) fail(keys ...string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) >= maxLimiterKeys {
		for k := range l.m {
			l.fresh(k, now)
		}
	}
	for _, k := range keys {
		l.m[k] = append(l.fresh(k, now), now)
	}
}

// reset forgets key's failures (a name that logged in).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

// fresh drops key's failures older than the window; called with mu held.
func (l *limiter) fresh(key string, now time.Time) []time.Time {
	f := l.m[key]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= LoginWindow {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.m, key)
		return nil
	}
	l.m[key] = f
	return f
}
