package mcpserver

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimitedIdentities bounds the limiter table; past it the table starts afresh, which
// at worst gives every identity a full burst again.
const maxLimitedIdentities = 10_000

// identityLimiter keeps one token bucket per authenticated identity.
type identityLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newIdentityLimiter(perSecond float64, burst int) *identityLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(2*perSecond))
	}
	return &identityLimiter{limit: rate.Limit(perSecond), burst: burst, buckets: map[string]*rate.Limiter{}}
}

// allow takes one request from subject's bucket, or says how long until one is free.
func (l *identityLimiter) allow(subject string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	b, ok := l.buckets[subject]
	if !ok {
		if len(l.buckets) >= maxLimitedIdentities {
			clear(l.buckets)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[subject] = b
	}
	l.mu.Unlock()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
