package mcpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
)

// Every message a transport receives is parsed once, into a message, and passes the guards
// (Server.guards), in order, before mcp-go serves it: a guard either lets it through,
// rewrites it, or answers it itself. HTTP and stdio run the same list, so a check added
// for one protects the other; the guards that read what only HTTP carries (credentials,
// the Mcp-Session-Id header) are marked so and skipped over stdio.

// message is one JSON-RPC message as the guards read it: its envelope, decoded once from
// the bytes received, and the params guards read, decoded at most once, when a guard
// first asks. Guards read it, never the bytes, so no guard parses a message again.
type message struct {
	rpcMessage
	// raw is the message as received: what mcp-go is handed unless a guard rewrites it.
	raw []byte
	// kind says what raw is; only an object has an envelope.
	kind messageKind
	// err is why the envelope did not decode cleanly: a field of the wrong type (a number
	// as method) leaves that field empty and the others read. nil for a clean envelope.
	err error

	decodes    *decodeCounts
	paramsOnce sync.Once
	params     messageParams
	paramsErr  error
}

// messageKind sorts what a transport received.
type messageKind int

const (
	// garbage is not JSON at all (or empty): mcp-go answers it with Parse error (-32700).
	garbage messageKind = iota
	// notObject is JSON but not an object (a batch, a number, a string): it cannot be a
	// JSON-RPC message of this protocol, which has no batches; the answer is Invalid
	// Request (-32600).
	notObject
	// object is a JSON object: a JSON-RPC message, or an object mcp-go refuses as one.
	object
)

// messageParams are the params the guards read: the tool and arguments of tools/call, the
// uri of resources/subscribe and resources/read, the fields of the task methods, _meta.
type messageParams struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	URI       string          `json:"uri"`
	Task      *mcp.TaskParams `json:"task"`
	TaskID    string          `json:"taskId"`
	Cursor    string          `json:"cursor"`
	Meta      map[string]any  `json:"_meta"`
}

// decodeCounts counts the JSON decodes of received messages, so a test can hold the
// transports to one decode of each message's envelope and at most one of its params.
type decodeCounts struct {
	envelopes, params atomic.Int64
}

// parseMessage reads raw, one message as received, decoding its envelope.
func parseMessage(raw []byte, decodes *decodeCounts) *message {
	m := &message{raw: raw, decodes: decodes}
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) > 0 && t[0] == '{':
		decodes.envelopes.Add(1)
		err := json.Unmarshal(t, &m.rpcMessage)
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			m.rpcMessage = rpcMessage{}
			return m // garbage: mcp-go answers Parse error
		}
		m.kind, m.err = object, err
	case json.Valid(t):
		m.kind = notObject
	}
	return m
}

// clean says whether m is a JSON object whose envelope decoded without error.
func (m *message) clean() bool { return m != nil && m.kind == object && m.err == nil }

// is says whether m is a clean message of the method.
func (m *message) is(method mcp.MCPMethod) bool { return m.clean() && m.Method == string(method) }

// isRequest says whether m is a clean request: it has an id, which is not null.
func (m *message) isRequest() bool {
	return m.clean() && len(m.ID) > 0 && string(m.ID) != "null"
}

// paramsOf decodes m's params the first time a guard asks and returns them; err says why
// they did not decode (not an object, a field of the wrong type), and the fields that did
// are returned all the same.
func (m *message) paramsOf() (*messageParams, error) {
	m.paramsOnce.Do(func() {
		if len(m.Params) == 0 || string(m.Params) == "null" {
			return
		}
		m.decodes.params.Add(1)
		m.paramsErr = json.Unmarshal(m.Params, &m.params)
	})
	return &m.params, m.paramsErr
}

// protocolMeta says whether m names its protocol revision in params._meta, as requests of
// 2026-07-28 and later do (they have no sessions).
func (m *message) protocolMeta() bool {
	p, _ := m.paramsOf()
	return p.Meta[mcp.MetaKeyProtocolVersion] != nil
}

type messageKey struct{}

// withMessage keeps an HTTP request's message, parsed by bufferBody, for the guards.
func withMessage(ctx context.Context, m *message) context.Context {
	return context.WithValue(ctx, messageKey{}, m)
}

// messageFrom is the message bufferBody parsed from a POST's body; nil for other requests.
func messageFrom(ctx context.Context) *message {
	m, _ := ctx.Value(messageKey{}).(*message)
	return m
}

// stdioSession is the session id of the stdio transport's one session (mcp-go's).
const stdioSession = "stdio"

// inbound is a message on its way to mcp-go, and where it came from.
type inbound struct {
	ctx context.Context
	// msg is the message; nil for an HTTP GET or DELETE, which carry none.
	msg *message
	// session is the session it belongs to: Mcp-Session-Id over HTTP ("" without one),
	// stdioSession over stdio.
	session string
	// http is the HTTP request it came in; nil over stdio.
	http *http.Request
	// forward, when a guard rewrote the message, is what mcp-go is handed instead. The
	// guards after it still see the message as received.
	forward []byte
}

// reply is a guard's answer to a message that goes no further.
type reply struct {
	// status is the HTTP status (0: 200); header holds HTTP headers besides Content-Type.
	status int
	header http.Header
	// body is JSON: a JSON-RPC answer, or (HTTP only) an OAuth error.
	body []byte
}

// writeHTTP answers an HTTP request with the reply.
func (rep *reply) writeHTTP(w http.ResponseWriter) {
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	_, _ = w.Write(rep.body)
}

// line is the reply as one line of the stdio transport.
func (rep *reply) line() []byte {
	return append(bytes.TrimRight(rep.body, "\n"), '\n')
}

// rpcReply is a JSON-RPC error answer (id null) with an HTTP status.
func rpcReply(status int, code int, msg string) *reply {
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": code, "message": msg}})
	return &reply{status: status, body: append(body, '\n')}
}

// guard is one check of the pre-dispatch.
type guard struct {
	// httpOnly guards read what only the HTTP transport carries; stdio skips them.
	httpOnly bool
	// waits says whether check may wait on Temporal for m; stdio then runs the guards for m
	// off its reader, so the messages behind it are not held up. nil: it never waits.
	waits func(m *message) bool
	// check answers in, rewrites it (in.forward), or returns nil to let it through.
	check func(in *inbound) *reply
}

// guards are every check a message passes before mcp-go serves it, in order.
func (s *Server) guards() []guard {
	return []guard{
		// Credentials are HTTP's: stdio's one caller is the local identity (Config.Actor),
		// which holds every scope. requireAuth has authenticated the caller before.
		{httpOnly: true, check: s.checkScope},
		// Sessions named by Mcp-Session-Id are the Streamable HTTP transport's; stdio has
		// one session, for as long as the process runs.
		{httpOnly: true, check: s.sessions.checkOpen},
		{httpOnly: true, check: s.sessions.checkInitialize},
		{httpOnly: true, check: checkSessionHeader},
		// Task methods are answered from Temporal, never from mcp-go's memory.
		{waits: isTaskCall, check: s.checkTask},
		// A subscription the server cannot keep is refused, not acknowledged and dropped.
		{waits: isSubscribe, check: s.watch.checkSubscribe},
	}
}

// pass runs guards over in in order: the first reply ends it.
func pass(in *inbound, guards []guard) *reply {
	for _, g := range guards {
		if rep := g.check(in); rep != nil {
			return rep
		}
	}
	return nil
}

// guardHTTP runs the guards over each request to the MCP endpoint: a POST's message
// (parsed by bufferBody) and its headers, or a GET's or DELETE's headers alone.
func (s *Server) guardHTTP(next http.Handler) http.Handler {
	guards := s.guards()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := &inbound{ctx: r.Context(), msg: messageFrom(r.Context()), session: r.Header.Get("Mcp-Session-Id"), http: r}
		if rep := pass(in, guards); rep != nil {
			rep.writeHTTP(w)
			return
		}
		if in.forward != nil {
			r.Body = io.NopCloser(bytes.NewReader(in.forward))
			r.ContentLength = int64(len(in.forward))
		}
		next.ServeHTTP(w, r)
	})
}

// guardStdio reads the stdio transport's messages from in, one a line, and passes each
// through the guards that apply to stdio: an answer is written to out; a message let
// through (or rewritten) goes on to mcp-go through the returned reader. A message a guard
// may hold up (waits) is checked on its own goroutine; the others, in order.
func (s *Server) guardStdio(ctx context.Context, in io.Reader, out io.Writer) io.Reader {
	var guards []guard
	for _, g := range s.guards() {
		if !g.httpOnly {
			guards = append(guards, g)
		}
	}
	waits := func(m *message) bool {
		for _, g := range guards {
			if g.waits != nil && g.waits(m) {
				return true
			}
		}
		return false
	}
	pr, pw := io.Pipe()
	serve := func(m *message) error {
		in := &inbound{ctx: ctx, msg: m, session: stdioSession}
		if rep := pass(in, guards); rep != nil {
			_, _ = out.Write(rep.line())
			return nil
		}
		if in.forward != nil {
			_, err := pw.Write(append(in.forward, '\n'))
			return err
		}
		_, err := pw.Write(m.raw)
		return err
	}
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				m := parseMessage(line, &s.decodes)
				if waits(m) {
					go func() { _ = serve(m) }()
				} else if serve(m) != nil {
					return
				}
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}
