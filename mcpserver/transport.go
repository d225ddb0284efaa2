package mcpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/flowgate/flowgate/internal/hostallow"
)

// EndpointPath is where the Streamable HTTP transport answers.
const EndpointPath = "/mcp"

// MaxRequestBytes bounds the body of one request to /mcp: a larger one is refused with
// 413 and a JSON-RPC error that names the limit.
const MaxRequestBytes = 1 << 20

// Bounds of the HTTP server's connections.
const (
	// DefaultMaxConnections is how many connections the HTTP transport holds open at once
	// unless Config.MaxConnections says otherwise; past it new connections wait in the
	// listen backlog until one closes.
	DefaultMaxConnections = 1024
	// MaxHeaderBytes bounds a request's header lines; a larger header is refused with 431.
	MaxHeaderBytes = 64 << 10
)

// Timeouts of the HTTP transport (variables so tests can shorten them). A request's
// headers must arrive within headerReadTimeout and its body within bodyReadTimeout; a
// keep-alive connection idle for httpIdleTimeout is closed. Responses have no deadline:
// an SSE stream or a long tool call is never cut.
var (
	headerReadTimeout = 10 * time.Second
	bodyReadTimeout   = 30 * time.Second
	httpIdleTimeout   = 60 * time.Second
)

// HTTPHandler serves the Streamable HTTP transport at /mcp and a health check at /healthz.
// The transport expires idle sessions in the background until Close.
func (s *Server) HTTPHandler() http.Handler {
	h, _ := s.httpHandler()
	return h
}

// httpHandler is HTTPHandler, and the mcp-go transport inside it, whose Shutdown stops
// its idle-session sweeper: mcp-go starts one goroutine per transport, and only
// Shutdown stops it.
func (s *Server) httpHandler() (http.Handler, *server.StreamableHTTPServer) {
	streamable := server.NewStreamableHTTPServer(s.mcp,
		server.WithEndpointPath(EndpointPath),
		server.WithStreamableHTTPLogger(s.cfg.Logger),
		server.WithHeartbeatInterval(25*time.Second),
		server.WithSessionIdleTTL(s.cfg.SessionIdleTimeout),
		server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			ctx = withAnswerSlot(ctx, r)
			if id, ok := IdentityFromContext(r.Context()); ok {
				return WithIdentity(ctx, id)
			}
			return ctx
		}),
	)
	var endpoint = s.traceHTTP(s.guardHTTP(s.codes.httpAnswers(streamable)))
	// The body is read whole (bounded in size and time) and parsed once before the guards
	// read it; with auth on, only once the caller is authenticated.
	endpoint = s.bufferBody(endpoint)
	mux := http.NewServeMux()
	if s.auth != nil {
		endpoint = s.requireAuth(endpoint)
		mux.HandleFunc("GET /.well-known/oauth-protected-resource", s.protectedResourceMetadata)
		mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", s.protectedResourceMetadata)
	}
	mux.Handle(EndpointPath, http.MaxBytesHandler(s.checkOrigin(endpoint), MaxRequestBytes))
	// Approval links: GET shows the gate, POST decides it (the link is the credential).
	mux.Handle(ApprovalPath, http.MaxBytesHandler(http.HandlerFunc(s.approvalHandler), 64<<10))
	mux.Handle(CallbackPath, http.HandlerFunc(s.callbackHandler))
	mux.Handle(InboxPath, http.MaxBytesHandler(s.limitFailedSignIns(http.HandlerFunc(s.inboxHandler)), 16<<10))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	if s.cfg.MetricsHandler != nil {
		mux.Handle("GET /metrics", s.cfg.MetricsHandler)
	}
	// Ready means Temporal answers: a load balancer sends calls only where they can work.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if _, err := s.cfg.Client.CheckHealth(ctx, nil); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":"unavailable","reason":"Temporal does not answer"}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	})
	s.transportsMu.Lock()
	s.transports = append(s.transports, streamable)
	s.transportsMu.Unlock()
	return bodyDeadline(mux), streamable
}

// Close stops the HTTP transports that HTTPHandler built: their idle-session sweepers
// end and their sessions close. Call it once nothing serves their handlers any more.
func (s *Server) Close(ctx context.Context) error {
	s.transportsMu.Lock()
	transports := s.transports
	s.transports = nil
	s.transportsMu.Unlock()
	var errs []error
	for _, t := range transports {
		errs = append(errs, t.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// closeTransport stops one transport HTTPHandler built (see Close).
func (s *Server) closeTransport(ctx context.Context, t *server.StreamableHTTPServer) error {
	s.transportsMu.Lock()
	s.transports = slices.DeleteFunc(s.transports, func(x *server.StreamableHTTPServer) bool { return x == t })
	s.transportsMu.Unlock()
	return t.Shutdown(ctx)
}

// bodyDeadline gives a request's body bodyReadTimeout to arrive, so a client that sends
// headers and then stalls cannot hold a connection open. Only reading the body is bounded:
// once it is read to its end, net/http lifts the deadline for the background read that
// notices a client going away, and bufferBody lifts it explicitly, so a long response (an
// SSE stream, a tool call that waits on Temporal) runs as long as it needs. A request
// without a body (GET, an empty POST) gets no deadline: its background read has started.
func bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			// Unsupported by a ResponseWriter that is not a connection's (httptest's recorder).
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// bufferedBody is a request body already read whole by readBody; raw is all of it.
type bufferedBody struct {
	*bytes.Reader
	raw []byte
}

func (bufferedBody) Close() error { return nil }

// readBody reads a POST's body whole, at most MaxRequestBytes within bodyReadTimeout, puts
// it back on r for the handlers after, and lifts the read deadline. On failure it answers
// (413 too large, 408 too slow, 400 otherwise) with a JSON-RPC error saying what was wrong
// and what is allowed, and returns false.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if b, ok := r.Body.(bufferedBody); ok {
		return b.raw, true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooLarge):
			rpcRefusal(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
				"the request body is larger than %d bytes (%d MiB), the most %s accepts; send smaller arguments", MaxRequestBytes, MaxRequestBytes>>20, EndpointPath))
		case errors.As(err, &netErr) && netErr.Timeout():
			rpcRefusal(w, http.StatusRequestTimeout, fmt.Sprintf(
				"the request body did not arrive within %s; send the whole body right after the headers", bodyReadTimeout))
		default:
			rpcRefusal(w, http.StatusBadRequest, "the request body could not be read: the connection failed while it was sent")
		}
		return nil, false
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	r.Body = bufferedBody{bytes.NewReader(body), body}
	r.ContentLength = int64(len(body))
	return body, true
}

// bufferBody reads a POST's body (see readBody) and parses it, once, into the message the
// guards read (guardHTTP). Valid JSON that cannot be a JSON-RPC message (an array, a
// number, a string) is refused here: the spec's answer is Invalid Request, not a parse
// error. Invalid JSON goes on to mcp-go, which answers Parse error.
func (s *Server) bufferBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, ok := readBody(w, r)
			if !ok {
				return
			}
			m := parseMessage(body, &s.decodes)
			if m.kind == notObject {
				rpcRefusal(w, http.StatusBadRequest, "the body is JSON but not a JSON-RPC message: send one JSON object with jsonrpc, method and, for a request, id (this protocol has no batches)")
				return
			}
			r = r.WithContext(withMessage(r.Context(), m))
		}
		next.ServeHTTP(w, r)
	})
}

// rpcRefusal answers a request the transport refuses with status and a JSON-RPC error
// (Invalid Request) whose message is msg.
func rpcRefusal(w http.ResponseWriter, status int, msg string) {
	rpcReply(status, mcp.INVALID_REQUEST, msg).writeHTTP(w)
}

// maxEcho bounds what of a client's input (a tool name, a method, an origin) is repeated
// in headers, bodies and logs.
const maxEcho = 64

// clipEcho makes client input safe to repeat: control characters (and invalid UTF-8)
// become '?', and past n characters it is cut, saying how long it was. It reads no further
// than it keeps, so a 1 MiB name costs no more than a short one.
func clipEcho(s string, n int) string {
	var b strings.Builder
	count := 0
	for _, r := range s {
		if count == n {
			fmt.Fprintf(&b, "... (%d bytes)", len(s))
			return b.String()
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			r = '?'
		}
		b.WriteRune(r)
		count++
	}
	return b.String()
}

// HTTPServer is a running Streamable HTTP transport.
type HTTPServer struct {
	srv        *http.Server
	url        string
	s          *Server
	streamable *server.StreamableHTTPServer
}

// URL is the MCP endpoint's full URL.
func (h *HTTPServer) URL() string { return h.url }

// Shutdown stops accepting calls and waits for those in flight until ctx ends, then
// stops the transport's idle-session sweeper and closes its sessions.
func (h *HTTPServer) Shutdown(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	return errors.Join(err, h.s.closeTransport(ctx, h.streamable))
}

// ListenHTTP starts the Streamable HTTP transport on addr ("127.0.0.1:8080"; port 0 for a
// free one). A taken port is an error that names it.
func (s *Server) ListenHTTP(addr string) (*HTTPServer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("MCP HTTP address %q is not host:port", addr)
	}
	if s.auth == nil && !hostallow.LoopbackName(host) {
		return nil, fmt.Errorf("MCP HTTP address %s is not loopback and no authentication is configured: configure API keys or OAuth, or listen on 127.0.0.1", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("MCP HTTP address %s is not available: %w", addr, err)
	}
	endpointURL := "http://" + l.Addr().String() + EndpointPath
	maxConns := s.cfg.MaxConnections
	if maxConns == 0 {
		maxConns = DefaultMaxConnections
	}
	if maxConns > 0 {
		l = newLimitListener(l, maxConns)
	}
	handler, streamable := s.httpHandler()
	h := &HTTPServer{
		s:          s,
		streamable: streamable,
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: headerReadTimeout,
			IdleTimeout:       httpIdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			// WriteTimeout and ReadTimeout stay unset: they would cut SSE streams and long
			// tool calls. bodyDeadline bounds the reading of each body instead.
		},
		url: endpointURL,
	}
	go func() {
		if err := h.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("MCP HTTP server stopped", "error", err)
		}
	}()
	return h, nil
}

// ServeStdio serves the stdio transport on in and out until ctx ends or in closes.
// Nothing but protocol messages is written to out.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	stdio := server.NewStdioServer(s.mcp)
	stdio.SetErrorLogger(log.New(slogWriter{s}, "", 0))
	answers := &stdioAnswers{codes: &s.codes, out: out}
	err := stdio.Listen(ctx, s.guardStdio(ctx, in, answers), answers)
	if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

type slogWriter struct{ s *Server }

func (w slogWriter) Write(p []byte) (int, error) {
	w.s.cfg.Logger.Warn("mcp stdio", "message", string(p))
	return len(p), nil
}

// checkOrigin refuses browser requests from origins other than loopback and the allowed
// ones (the Streamable HTTP transport's DNS-rebinding protection; mcp-go checks Host too).
func (s *Server) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && !slices.Contains(s.cfg.AllowedOrigins, origin) {
			u, err := url.Parse(origin)
			if err != nil || !hostallow.LoopbackName(u.Hostname()) {
				http.Error(w, "origin "+clipEcho(origin, 2*maxEcho)+" is not allowed: only loopback origins and those configured as allowed may call "+EndpointPath, http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// checkSessionHeader answers 400 Bad Request to a request that needs a session and
// carries no Mcp-Session-Id: a GET (the session's stream), a DELETE, or a POST other than
// initialize in a protocol revision with sessions. A 404 stays for an unknown or expired
// session id (checkOpen). Requests of revision 2026-07-28, which has no sessions, pass;
// so does a body that is not a clean message, which mcp-go answers with its own error.
func checkSessionHeader(in *inbound) *reply {
	r := in.http
	if in.session != "" || mcp.IsModernProtocol(r.Header.Get(server.HeaderKeyProtocolVersion)) {
		return nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodDelete:
		return sessionRequired(r.Method + " needs the Mcp-Session-Id header that initialize returned")
	case http.MethodPost:
		if in.msg.clean() && in.msg.Method != string(mcp.MethodInitialize) && !in.msg.protocolMeta() {
			return sessionRequired(clipEcho(in.msg.Method, maxEcho) + " needs the Mcp-Session-Id header that initialize returned; start with initialize")
		}
	}
	return nil
}

func sessionRequired(why string) *reply {
	return rpcReply(http.StatusBadRequest, mcp.INVALID_REQUEST, "Bad Request: "+why)
}

// limitListener holds at most n connections open at once: Accept waits for a slot, so
// connections past the cap wait in the kernel's listen backlog (or time out there) rather
// than each costing the server a goroutine and buffers.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close stops accepting; connections open keep their slots until they close.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back when it closes, once.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
