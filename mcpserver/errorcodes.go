package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// protocolError is a resource or prompt failure with the JSON-RPC code the spec gives it:
// -32002 for a resource that does not exist, -32602 for invalid params, -32603 only for
// a real internal fault.
type protocolError struct {
	code int
	msg  string
}

func (e *protocolError) Error() string { return e.msg }

func notFoundError(msg string) error      { return &protocolError{mcp.RESOURCE_NOT_FOUND, msg} }
func invalidParamsError(msg string) error { return &protocolError{mcp.INVALID_PARAMS, msg} }
func internalError(msg string) error      { return &protocolError{mcp.INTERNAL_ERROR, msg} }

// errorCodes carries the code a handler chose to the transport that writes the answer.
// mcp-go v1.2.1 reports every resource and prompt handler error as -32603; its error hook
// sees the handler's error and the request id, and the transports rewrite the code of
// that one answer before it leaves. Over HTTP the code travels in the request's context
// (each POST carries one message); over stdio, whose one session answers in order, in
// pending.
type errorCodes struct {
	pending sync.Map // request id (JSON) -> code, for stdio
}

// answerSlot is where handlers and hooks leave what concerns an HTTP request's answer:
// the code the error hook chose, and what to do once the answer is written (afterAnswer).
type answerSlot struct {
	mu    sync.Mutex
	codes map[string]int
	after []func()
}

// afterAnswer runs f once the answer to ctx's HTTP request is written, and says whether it
// will; without an HTTP request (stdio) it does nothing and returns false.
func afterAnswer(ctx context.Context, f func()) bool {
	slot, ok := ctx.Value(answerSlotKey{}).(*answerSlot)
	if !ok {
		return false
	}
	slot.mu.Lock()
	slot.after = append(slot.after, f)
	slot.mu.Unlock()
	return true
}

type answerSlotKey struct{}

// withAnswerSlot copies the HTTP request's answer slot into the context mcp-go hands to
// handlers and hooks.
func withAnswerSlot(ctx context.Context, r *http.Request) context.Context {
	if slot, ok := r.Context().Value(answerSlotKey{}).(*answerSlot); ok {
		return context.WithValue(ctx, answerSlotKey{}, slot)
	}
	return ctx
}

func idKey(id json.RawMessage) string { return string(bytes.TrimSpace(id)) }

// hook is an mcp-go OnError hook.
func (c *errorCodes) hook(ctx context.Context, id any, _ mcp.MCPMethod, _ any, err error) {
	var pe *protocolError
	if !errors.As(err, &pe) || pe.code == mcp.INTERNAL_ERROR {
		return
	}
	code := pe.code
	// From 2026-07-28 a resource that does not exist is invalid params, as mcp-go
	// answers for URIs that match no template.
	if code == mcp.RESOURCE_NOT_FOUND && mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
		code = mcp.INVALID_PARAMS
	}
	raw, merr := json.Marshal(id)
	if merr != nil {
		return
	}
	if slot, ok := ctx.Value(answerSlotKey{}).(*answerSlot); ok {
		slot.mu.Lock()
		slot.codes[idKey(raw)] = code
		slot.mu.Unlock()
		return
	}
	c.pending.Store(idKey(raw), code)
}

// rewrite returns msg, one JSON-RPC message, with the error code its handler chose (found
// by lookup), or msg unchanged.
func rewrite(msg []byte, lookup func(id string) (int, bool)) []byte {
	var m struct {
		ID    json.RawMessage `json:"id"`
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(msg, &m) != nil || m.Error == nil || m.Error.Code != mcp.INTERNAL_ERROR || len(m.ID) == 0 {
		return msg
	}
	code, ok := lookup(idKey(m.ID))
	if !ok {
		return msg
	}
	var full map[string]json.RawMessage
	var details map[string]json.RawMessage
	if json.Unmarshal(msg, &full) != nil || json.Unmarshal(full["error"], &details) != nil {
		return msg
	}
	details["code"], _ = json.Marshal(code)
	full["error"], _ = json.Marshal(details)
	out, err := json.Marshal(full)
	if err != nil {
		return msg
	}
	if bytes.HasSuffix(msg, []byte("\n")) {
		out = append(out, '\n')
	}
	return out
}

// httpAnswers rewrites the codes of JSON answers to POSTs on the Streamable HTTP
// transport, then runs what handlers asked to run after the answer (afterAnswer).
// Streams (text/event-stream) pass through untouched: resource and prompt answers are
// single JSON bodies.
func (c *errorCodes) httpAnswers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		slot := &answerSlot{codes: map[string]int{}}
		bw := &bufferedAnswer{ResponseWriter: w}
		next.ServeHTTP(bw, r.WithContext(context.WithValue(r.Context(), answerSlotKey{}, slot)))
		bw.finish(func(body []byte) []byte {
			slot.mu.Lock()
			none := len(slot.codes) == 0
			slot.mu.Unlock()
			if none { // the common case: no handler chose a code, nothing to parse
				return body
			}
			return rewrite(body, func(id string) (int, bool) {
				slot.mu.Lock()
				defer slot.mu.Unlock()
				code, ok := slot.codes[id]
				return code, ok
			})
		})
		slot.mu.Lock()
		after := slot.after
		slot.mu.Unlock()
		for _, f := range after {
			f()
		}
	})
}

// bufferedAnswer holds a JSON answer until the handler returns; anything else streams.
type bufferedAnswer struct {
	http.ResponseWriter
	status    int
	buffering bool
	decided   bool
	body      bytes.Buffer
}

func (b *bufferedAnswer) decide() {
	if !b.decided {
		b.decided = true
		b.buffering = strings.HasPrefix(b.Header().Get("Content-Type"), "application/json")
	}
}

func (b *bufferedAnswer) WriteHeader(status int) {
	b.decide()
	if b.buffering {
		b.status = status
		return
	}
	b.ResponseWriter.WriteHeader(status)
}

func (b *bufferedAnswer) Write(p []byte) (int, error) {
	b.decide()
	if b.buffering {
		return b.body.Write(p)
	}
	return b.ResponseWriter.Write(p)
}

// Flush passes through for streams.
func (b *bufferedAnswer) Flush() {
	if f, ok := b.ResponseWriter.(http.Flusher); ok && !b.buffering {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (b *bufferedAnswer) Unwrap() http.ResponseWriter { return b.ResponseWriter }

func (b *bufferedAnswer) finish(rewrite func([]byte) []byte) {
	if !b.buffering {
		return
	}
	body := rewrite(b.body.Bytes())
	b.ResponseWriter.Header().Del("Content-Length")
	if b.status != 0 {
		b.ResponseWriter.WriteHeader(b.status)
	}
	_, _ = b.ResponseWriter.Write(body)
}

// stdioAnswers rewrites codes in the newline-delimited messages of the stdio transport.
type stdioAnswers struct {
	codes *errorCodes
	out   io.Writer
	mu    sync.Mutex
	line  []byte
}

func (s *stdioAnswers) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.line = append(s.line, p...)
	for {
		i := bytes.IndexByte(s.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		msg := rewrite(s.line[:i+1], func(id string) (int, bool) {
			code, ok := s.codes.pending.LoadAndDelete(id)
			if !ok {
				return 0, false
			}
			return code.(int), true
		})
		if _, err := s.out.Write(msg); err != nil {
			return 0, err
		}
		s.line = s.line[i+1:]
	}
}
