package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
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

// checkOpen answers 404 to a request carrying a session id that ended here (expired or
// closed) or that another identity opened: the Streamable HTTP transport says a
// terminated session MUST answer 404, and a session is its identity's alone. The two
// cases answer alike, so a session id cannot be probed with another key. An id this copy
// never issued passes (refused says why). (A session is recorded, by mcp-go's register
// hook, before the initialize answer that names it leaves: httpAnswers holds the answer
// until the handler returns.) Requests of revision 2026-07-28, which has no sessions and
// ignores the header, pass.
func (l *sessionLimits) checkOpen(in *inbound) *reply {
	r := in.http
	if in.session == "" || mcp.IsModernProtocol(r.Header.Get(server.HeaderKeyProtocolVersion)) {
		return nil
	}
	who := owner(in.ctx)
	refused, other := l.refused(in.session, who)
	if !refused {
		return nil
	}
	if other {
		l.logger.Warn("session id used by another identity", "session", clipEcho(in.session, maxEcho), "caller", who, "remote", r.RemoteAddr)
	}
	return rpcReply(http.StatusNotFound, mcp.INVALID_REQUEST, fmt.Sprintf("Not Found: session %s is not open for this caller: it expired (sessions idle for %s do), was closed, or was never issued to this identity; start a new session with initialize, without Mcp-Session-Id",
		strconv.Quote(clipEcho(in.session, maxEcho)), l.idle))
}

// checkInitialize refuses an initialize over a cap (429 when the caller holds its share,
// 503 when the server holds all it may; both say when to retry and what frees a slot),
// and keeps only bounded parts of an initialize's params (boundInitialize), since mcp-go
// keeps the client's info and capabilities with the session for its whole life.
func (l *sessionLimits) checkInitialize(in *inbound) *reply {
	if !in.msg.is(mcp.MethodInitialize) {
		return nil
	}
	who := owner(in.ctx)
	total, mine := l.open(who)
	free := fmt.Sprintf("close sessions you no longer use (DELETE %s with their Mcp-Session-Id) or wait: sessions idle for %s expire", EndpointPath, l.idle)
	switch {
	case l.perIdentity > 0 && mine >= l.perIdentity:
		name := who
		if name == "" {
			name = "this client"
		}
		return refuseSession(http.StatusTooManyRequests, fmt.Sprintf("%s already has %d open sessions, the most one identity may hold; %s", clipEcho(name, maxEcho), mine, free))
	case l.max > 0 && total >= l.max:
		return refuseSession(http.StatusServiceUnavailable, fmt.Sprintf("the server holds %d open sessions, the most it may; %s", total, free))
	}
	if bounded, ok := boundInitialize(in.msg); ok {
		in.forward = bounded
	}
	return nil
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
// params are dropped, and so are members of the message besides jsonrpc, id, method and
// params. Params that do not parse are left unchanged (ok false): mcp-go answers them
// with its own error. (Its params are decoded here, for the rewrite, not by paramsOf.)
func boundInitialize(m *message) ([]byte, bool) {
	var p struct {
		ProtocolVersion string                 `json:"protocolVersion"`
		Capabilities    mcp.ClientCapabilities `json:"capabilities"`
		ClientInfo      mcp.Implementation     `json:"clientInfo"`
		Meta            json.RawMessage        `json:"_meta,omitempty"`
	}
	if json.Unmarshal(m.Params, &p) != nil {
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
	out, err := json.Marshal(rpcMessage{JSONRPC: m.JSONRPC, ID: m.ID, Method: m.Method, Params: raw})
	if err != nil {
		return nil, false
	}
	return out, true
}

// refuseSession is the answer to an initialize over a cap: status, and when to retry.
func refuseSession(status int, msg string) *reply {
	rep := rpcReply(status, mcp.INVALID_REQUEST, msg)
	rep.header = http.Header{}
	rep.header.Set("Retry-After", strconv.Itoa(int(sessionRetryAfter.Seconds())))
	return rep
}
