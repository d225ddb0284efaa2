package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
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
	logger           *slog.Logger

	mu     sync.Mutex
	owners map[string]string // session id -> identity
	// ended are the ids of the sessions that ended here (closed or expired), the newest
	// maxEndedSessions of them, in the order they ended: each answers 404.
	ended      map[string]bool
	endedOrder []string
	byIdentity map[string]int
}

func newSessionLimits(cfg Config) *sessionLimits {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &sessionLimits{max: cfg.MaxSessions, perIdentity: cfg.MaxSessionsPerIdentity, idle: cfg.SessionIdleTimeout, logger: logger,
		owners: map[string]string{}, byIdentity: map[string]int{}, ended: map[string]bool{}}
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
	l.ended[session.SessionID()] = true
	l.endedOrder = append(l.endedOrder, session.SessionID())
	if len(l.endedOrder) > maxEndedSessions {
		delete(l.ended, l.endedOrder[0])
		l.endedOrder = l.endedOrder[1:]
	}
}

// maxEndedSessions bounds the ended session ids a server remembers (about 1 MiB).
const maxEndedSessions = 10000

// open returns how many sessions are open in all and for who.
func (l *sessionLimits) open(who string) (total, mine int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.owners), l.byIdentity[who]
}

// refused says whether a request of who may not use session id here: the session ended
// here, or is open here for another identity. An id this server never issued passes: it
// may be another copy's behind a load balancer, and this copy holds nothing of it.
func (l *sessionLimits) refused(id, who string) (refused, otherIdentity bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended[id] {
		return true, false
	}
	owner, ok := l.owners[id]
	return ok && owner != who, ok && owner != who
}

// guard answers 404 to a request carrying a session id that ended here (expired or
// closed) or that another identity opened: the Streamable HTTP transport says a
// terminated session MUST answer 404, and a session is its identity's alone. The two
// cases answer alike, so a session id cannot be probed with another key. An id this copy
// never issued passes (refused says why). (A session
// is recorded, by mcp-go's register hook, before the initialize answer that names it
// leaves: httpAnswers holds the answer until the handler returns.) Requests of revision
// 2026-07-28, which has no sessions and ignores the header, pass.
//
// It also refuses an initialize over a cap (429 when the caller holds its share, 503 when
// the server holds all it may; both say when to retry and what frees a slot), and keeps
// only bounded parts of an initialize's params (boundInitialize), since mcp-go keeps the
// client's info and capabilities with the session for its whole life.
func (l *sessionLimits) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := owner(r.Context())
		if id := r.Header.Get(server.HeaderKeySessionID); id != "" && !mcp.IsModernProtocol(r.Header.Get(server.HeaderKeyProtocolVersion)) {
			if refused, other := l.refused(id, who); refused {
				if other {
					l.logger.Warn("session id used by another identity", "session", clipEcho(id, maxEcho), "caller", who, "remote", r.RemoteAddr)
				}
				rpcRefusal(w, http.StatusNotFound, fmt.Sprintf("Not Found: session %s is not open for this caller: it expired (sessions idle for %s do), was closed, or was never issued to this identity; start a new session with initialize, without Mcp-Session-Id",
					strconv.Quote(clipEcho(id, maxEcho)), l.idle))
				return
			}
		}
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, ok := peekBody(r)
		if !ok || !isInitialize(body) {
			next.ServeHTTP(w, r)
			return
		}
		total, mine := l.open(who)
		free := fmt.Sprintf("close sessions you no longer use (DELETE %s with their Mcp-Session-Id) or wait: sessions idle for %s expire", EndpointPath, l.idle)
		switch {
		case l.perIdentity > 0 && mine >= l.perIdentity:
			name := who
			if name == "" {
				name = "this client"
			}
			refuseSession(w, http.StatusTooManyRequests, fmt.Sprintf("%s already has %d open sessions, the most one identity may hold; %s", clipEcho(name, maxEcho), mine, free))
			return
		case l.max > 0 && total >= l.max:
			refuseSession(w, http.StatusServiceUnavailable, fmt.Sprintf("the server holds %d open sessions, the most it may; %s", total, free))
			return
		}
		if bounded, ok := boundInitialize(body); ok {
			r.Body = io.NopCloser(bytes.NewReader(bounded))
			r.ContentLength = int64(len(bounded))
		}
		next.ServeHTTP(w, r)
	})
}

// isInitialize says whether a POST's body is an initialize request.
func isInitialize(body []byte) bool {
	var msg struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(body, &msg) == nil && msg.Method == string(mcp.MethodInitialize)
}

// Bounds of what an initialize may leave with its session.
const (
	maxClientInfoField   = 128     // name, version, title
	maxClientInfoText    = 512     // description, websiteUrl
	maxClientExtraBytes  = 4 << 10 // experimental and extensions capabilities, _meta
	maxProtocolVersionID = 64
)

// boundInitialize rewrites an initialize request so that what mcp-go keeps with the
// session is bounded: clientInfo keeps its name, version and title (clipped to 128
// characters), description and websiteUrl (512), and no icons; capabilities keep the
// known ones, and experimental and extensions only when they are small (4 KiB); other
// params are dropped. A body that does not parse is returned unchanged (ok false):
// mcp-go answers it with its own error.
func boundInitialize(body []byte) ([]byte, bool) {
	var msg map[string]json.RawMessage
	if json.Unmarshal(body, &msg) != nil {
		return nil, false
	}
	var p struct {
		ProtocolVersion string                 `json:"protocolVersion"`
		Capabilities    mcp.ClientCapabilities `json:"capabilities"`
		ClientInfo      mcp.Implementation     `json:"clientInfo"`
		Meta            json.RawMessage        `json:"_meta,omitempty"`
	}
	if json.Unmarshal(msg["params"], &p) != nil {
		return nil, false
	}
	clip := func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return strings.ToValidUTF8(s[:n], "")
	}
	info := mcp.Implementation{
		Name:        clip(p.ClientInfo.Name, maxClientInfoField),
		Version:     clip(p.ClientInfo.Version, maxClientInfoField),
		Title:       clip(p.ClientInfo.Title, maxClientInfoField),
		Description: clip(p.ClientInfo.Description, maxClientInfoText),
	}
	if len(p.ClientInfo.WebsiteURL) <= maxClientInfoText {
		info.WebsiteURL = p.ClientInfo.WebsiteURL
	}
	caps := p.Capabilities
	if raw, _ := json.Marshal(caps.Experimental); len(raw) > maxClientExtraBytes {
		caps.Experimental = nil
	}
	if raw, _ := json.Marshal(caps.Extensions); len(raw) > maxClientExtraBytes {
		caps.Extensions = nil
	}
	params := map[string]any{
		"protocolVersion": clip(p.ProtocolVersion, maxProtocolVersionID),
		"capabilities":    caps,
		"clientInfo":      info,
	}
	if len(p.Meta) > 0 && len(p.Meta) <= maxClientExtraBytes {
		params["_meta"] = p.Meta
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, false
	}
	msg["params"] = raw
	out, err := json.Marshal(msg)
	if err != nil {
		return nil, false
	}
	return out, true
}

func refuseSession(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(sessionRetryAfter.Seconds())))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": nil,
		"error": map[string]any{"code": mcp.INVALID_REQUEST, "message": msg}})
}
