package mcpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// EndpointPath is where the Streamable HTTP transport answers.
const EndpointPath = "/mcp"

// MaxRequestBytes bounds one HTTP request body.
const MaxRequestBytes = 4 << 20

// HTTPHandler serves the Streamable HTTP transport at /mcp and a health check at /healthz.
func (s *Server) HTTPHandler() http.Handler {
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
	var endpoint = s.sessions.guard(requireSession(s.codes.httpAnswers(s.taskGuard(s.watch.guard(streamable)))))
	mux := http.NewServeMux()
	if s.auth != nil {
		endpoint = s.requireAuth(endpoint)
		mux.HandleFunc("GET /.well-known/oauth-protected-resource", s.protectedResourceMetadata)
		mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", s.protectedResourceMetadata)
	}
	mux.Handle(EndpointPath, http.MaxBytesHandler(s.checkOrigin(endpoint), MaxRequestBytes))
	// Approval links: GET shows the gate, POST decides it (the link is the credential).
	mux.Handle(ApprovalPath, http.MaxBytesHandler(http.HandlerFunc(s.approvalHandler), 64<<10))
	mux.Handle(InboxPath, http.MaxBytesHandler(http.HandlerFunc(s.inboxHandler), 16<<10))
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
	return mux
}

// HTTPServer is a running Streamable HTTP transport.
type HTTPServer struct {
	srv *http.Server
	url string
}

// URL is the MCP endpoint's full URL.
func (h *HTTPServer) URL() string { return h.url }

// Shutdown stops accepting calls and waits for those in flight until ctx ends.
func (h *HTTPServer) Shutdown(ctx context.Context) error { return h.srv.Shutdown(ctx) }

// ListenHTTP starts the Streamable HTTP transport on addr ("127.0.0.1:8080"; port 0 for a
// free one). A taken port is an error that names it.
func (s *Server) ListenHTTP(addr string) (*HTTPServer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("MCP HTTP address %q is not host:port", addr)
	}
	if ip := net.ParseIP(host); s.auth == nil && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("MCP HTTP address %s is not loopback and no authentication is configured: configure API keys or OAuth, or listen on 127.0.0.1", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("MCP HTTP address %s is not available: %w", addr, err)
	}
	h := &HTTPServer{
		srv: &http.Server{Handler: s.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second},
		url: "http://" + l.Addr().String() + EndpointPath,
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
	err := stdio.Listen(ctx, s.stdioTasks(ctx, in, answers), answers)
	if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// taskGuard answers the task methods of a POST from Temporal, and turns tasks/result into
// the call mcp-go serves (interceptTask).
func (s *Server) taskGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, ok := peekBody(r)
		if !ok {
			http.Error(w, "the request body could not be read", http.StatusBadRequest)
			return
		}
		answer, rewritten := s.interceptTask(withTaskSession(r.Context(), r.Header.Get(server.HeaderKeySessionID)), body)
		switch {
		case answer != nil:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
			return
		case rewritten != nil:
			r.Body = io.NopCloser(bytes.NewReader(rewritten))
			r.ContentLength = int64(len(rewritten))
		}
		next.ServeHTTP(w, r)
	})
}

// stdioTasks reads the stdio messages: the task methods are answered on out from
// Temporal, each in its own goroutine; every other message (and tasks/result, turned into
// the call mcp-go serves) goes on to mcp-go through the returned reader.
func (s *Server) stdioTasks(ctx context.Context, in io.Reader, out io.Writer) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if c, ok := asTaskCall(line); ok {
				// Answered from Temporal without holding up the messages behind it.
				go func() {
					answer, rewritten := s.serveTask(withTaskSession(ctx, "stdio"), c)
					if rewritten != nil {
						_, _ = pw.Write(append(rewritten, '\n'))
						return
					}
					_, _ = out.Write(append(answer, '\n'))
				}()
			} else if len(line) > 0 {
				if _, werr := pw.Write(line); werr != nil {
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
			ip := net.ParseIP(u.Hostname())
			if err != nil || !(u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())) {
				http.Error(w, "origin "+origin+" is not allowed", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// requireSession answers 400 Bad Request to a request that needs a session and carries no
// Mcp-Session-Id: a GET (the session's stream), a DELETE, or a POST other than initialize
// in a protocol revision with sessions. A 404 stays for an unknown or expired session id.
// Requests of revision 2026-07-28, which has no sessions, pass.
func requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(server.HeaderKeySessionID) != "" || mcp.IsModernProtocol(r.Header.Get(server.HeaderKeyProtocolVersion)) {
			next.ServeHTTP(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodDelete:
			sessionRequired(w, r.Method+" needs the Mcp-Session-Id header that initialize returned")
			return
		case http.MethodPost:
			body, ok := peekBody(r)
			if !ok {
				http.Error(w, "the request body could not be read", http.StatusBadRequest)
				return
			}
			var msg struct {
				Method string         `json:"method"`
				Params map[string]any `json:"params"`
			}
			// Anything that does not parse is left to the transport's own JSON-RPC errors.
			if json.Unmarshal(body, &msg) == nil && msg.Method != string(mcp.MethodInitialize) {
				if meta, ok := msg.Params["_meta"].(map[string]any); !ok || meta[mcp.MetaKeyProtocolVersion] == nil {
					sessionRequired(w, msg.Method+" needs the Mcp-Session-Id header that initialize returned; start with initialize")
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func sessionRequired(w http.ResponseWriter, why string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": nil,
		"error": map[string]any{"code": mcp.INVALID_REQUEST, "message": "Bad Request: " + why}})
}

// peekBody reads a request's body and puts it back for the next handler.
func peekBody(r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, err == nil
}
