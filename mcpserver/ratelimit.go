package mcpserver

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
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

// DefaultFailedAuthPerMinute is how many failed authentications one remote address may
// make per minute (in a burst, then one every 60/N seconds) unless
// AuthConfig.FailedAuthPerMinute says otherwise.
const DefaultFailedAuthPerMinute = 20

// failureLimiter counts failed authentications per remote address in token buckets: each
// failure takes a token, and an address with none left is refused before its credentials
// are checked (a guess that would have been right is refused too, so guessing gains
// nothing) until a token comes back.
type failureLimiter struct {
	perMinute int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newFailureLimiter(perMinute int) *failureLimiter {
	if perMinute < 0 {
		return nil
	}
	if perMinute == 0 {
		perMinute = DefaultFailedAuthPerMinute
	}
	return &failureLimiter{perMinute: perMinute, buckets: map[string]*rate.Limiter{}}
}

// blocked says whether addr has no failure left, and how long until it has one.
func (l *failureLimiter) blocked(addr string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	l.mu.Lock()
	b, ok := l.buckets[addr]
	l.mu.Unlock()
	if !ok {
		return false, 0
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / float64(b.Limit()) * float64(time.Second))
}

// failed takes one of addr's failures.
func (l *failureLimiter) failed(addr string, now time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	b, ok := l.buckets[addr]
	if !ok {
		if len(l.buckets) >= maxLimitedIdentities {
			// Addresses that have earned back all their failures are forgotten first, so a
			// flood of addresses does not wipe the counts of those guessing now.
			for k, v := range l.buckets {
				if v.TokensAt(now) >= float64(v.Burst()) {
					delete(l.buckets, k)
				}
			}
			if len(l.buckets) >= maxLimitedIdentities {
				clear(l.buckets)
			}
		}
		b = rate.NewLimiter(rate.Limit(float64(l.perMinute)/60), l.perMinute)
		l.buckets[addr] = b
	}
	l.mu.Unlock()
	b.AllowN(now, 1)
}

// remoteAddr is who a failure is counted against: the connection's IP address, an IPv6
// one by its /64 (one host usually holds the whole prefix). Forwarding headers are not
// trusted: a client could set them to anything.
func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// refuseFailedAuth answers a request from an address past its failed authentications:
// 429 with Retry-After and a sentence saying why and when to come back.
func (s *Server) refuseFailedAuth(w http.ResponseWriter, r *http.Request, wait time.Duration, jsonBody bool) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	msg := fmt.Sprintf("too many failed authentications from %s (more than %d a minute); retry after %d s with a valid credential",
		remoteAddr(r), s.auth.failures.perMinute, secs)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	if jsonBody {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "too_many_failed_attempts", "error_description": msg})
	} else {
		http.Error(w, msg, http.StatusTooManyRequests)
	}
	s.cfg.Logger.Info("authentication attempt refused: too many failures", "remote", r.RemoteAddr)
}

// limitFailedSignIns applies the failed-authentication limit to the approval inbox's
// sign-in form: a POST from an address past its failures is refused with 429 before the
// key is checked, and a sign-in answered 401 counts as a failure.
func (s *Server) limitFailedSignIns(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.auth == nil || s.auth.failures == nil || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		addr := remoteAddr(r)
		if blocked, wait := s.auth.failures.blocked(addr, time.Now()); blocked {
			s.refuseFailedAuth(w, r, wait, false)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == http.StatusUnauthorized {
			s.auth.failures.failed(addr, time.Now())
		}
	})
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
