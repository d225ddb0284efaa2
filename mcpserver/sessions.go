package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Defaults of the session bounds.
const (
	DefaultSessionIdleTimeout     = 30 * time.Minute
	DefaultMaxSessions            = 10_000
	DefaultMaxSessionsPerIdentity = 100
)

// sessionRetryAfter is what a refused initialize is told to wait: by then idle sessions
// may have expired, or the client has closed the ones it no longer uses.
const sessionRetryAfter = 30 * time.Second

// sessionLimits counts the open Streamable HTTP sessions, per identity and in all, so a
// client that opens sessions and never closes them cannot grow the server without bound.
// Sessions idle past the idle timeout are expired by mcp-go's sweeper, which unregisters
// them: the counts follow mcp-go's register and unregister hooks.
type sessionLimits struct {
	max, perIdentity int
	idle             time.Duration

	mu         sync.Mutex
	owners     map[string]string // session id -> identity
	byIdentity map[string]int
}

func newSessionLimits(cfg Config) *sessionLimits {
	return &sessionLimits{max: cfg.MaxSessions, perIdentity: cfg.MaxSessionsPerIdentity, idle: cfg.SessionIdleTimeout,
		owners: map[string]string{}, byIdentity: map[string]int{}}
}

// owner is who a session or request belongs to: the authenticated subject, or "" for
// every caller of a server without auth.
func owner(ctx context.Context) string {
	if id, ok := IdentityFromContext(ctx); ok {
		return id.Subject
	}
	return ""
}

func (l *sessionLimits) registered(ctx context.Context, session server.ClientSession) {
	who := owner(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.owners[session.SessionID()]; ok {
		return
	}
	l.owners[session.SessionID()] = who
	l.byIdentity[who]++
}

func (l *sessionLimits) unregistered(_ context.Context, session server.ClientSession) {
	l.mu.Lock()
	defer l.mu.Unlock()
	who, ok := l.owners[session.SessionID()]
	if !ok {
		return
	}
	delete(l.owners, session.SessionID())
	if l.byIdentity[who]--; l.byIdentity[who] <= 0 {
		delete(l.byIdentity, who)
	}
}

// open returns how many sessions are open in all and for who.
func (l *sessionLimits) open(who string) (total, mine int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.owners), l.byIdentity[who]
}

// guard refuses an initialize over a cap: 429 when the caller holds its share, 503 when
// the server holds all it may. Both say when to retry and what frees a slot.
func (l *sessionLimits) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get(server.HeaderKeySessionID) != "" || !isInitialize(r) {
			next.ServeHTTP(w, r)
			return
		}
		who := owner(r.Context())
		total, mine := l.open(who)
		free := fmt.Sprintf("close sessions you no longer use (DELETE %s with their Mcp-Session-Id) or wait: sessions idle for %s expire", EndpointPath, l.idle)
		switch {
		case l.perIdentity > 0 && mine >= l.perIdentity:
			name := who
			if name == "" {
				name = "this client"
			}
			refuseSession(w, http.StatusTooManyRequests, fmt.Sprintf("%s already has %d open sessions, the most one identity may hold; %s", name, mine, free))
		case l.max > 0 && total >= l.max:
			refuseSession(w, http.StatusServiceUnavailable, fmt.Sprintf("the server holds %d open sessions, the most it may; %s", total, free))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// isInitialize peeks at a POST's JSON-RPC method without consuming the body.
func isInitialize(r *http.Request) bool {
	body, ok := peekBody(r)
	if !ok {
		return false
	}
	var msg struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(body, &msg) == nil && msg.Method == string(mcp.MethodInitialize)
}

func refuseSession(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(sessionRetryAfter.Seconds())))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": nil,
		"error": map[string]any{"code": mcp.INVALID_REQUEST, "message": msg}})
}
