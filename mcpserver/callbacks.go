package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/internal/signing"
	"github.com/flowgate/flowgate/workflows"
)

// CallbackPath is where callback URLs point: POST CallbackPath + token delivers the event
// of one wait, once.
const CallbackPath = "/callbacks/"

// CallbackURL returns the callback URL of c (a step of a run) under base (the MCP
// server's public origin), signed with keys, and its nonce. Workers call it through
// activities.CallbackSigner.
func CallbackURL(keys *signing.Keys, base string, c signing.Callback, now time.Time) (string, string, error) {
	token, nonce, err := keys.SignCallback(c, now)
	if err != nil {
		return "", "", err
	}
	return strings.TrimRight(base, "/") + CallbackPath + token, nonce, nil
}

// CallbackAnswer is what the callback endpoint answers: accepted with where the run
// stands, or the error, which names what is wrong (never Temporal's internals).
type CallbackAnswer struct {
	Accepted   bool             `json:"accepted"`
	WorkflowID string           `json:"workflow_id,omitempty"`
	Step       string           `json:"step,omitempty"`
	Status     workflows.Status `json:"status,omitempty"`
	Error      string           `json:"error,omitempty"`
}

// callbackHandler takes an event through a callback URL: the token in the path says the
// run and step, the body (a JSON object, at most workflows.MaxEventPayload bytes) is the
// payload. 202 when the run took it; 400 for a body that is not a JSON object or that
// the wait's schema refuses; 404 for a token this server did not make or a run that does
// not exist; 409 for a callback used before or a run not at the step yet; 410 for a
// token past its time, a step that no longer waits (its deadline passed, or it got its
// event) or a run that ended; 413 for a body over the limit. Nothing changes but on 202.
func (s *Server) callbackHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL is a secret
	answer := func(code int, a CallbackAnswer) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(a)
	}
	refuse := func(code int, format string, args ...any) {
		answer(code, CallbackAnswer{Error: strings.TrimSuffix(fmt.Sprintf(format, args...), ".") + "; nothing changed"})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(http.StatusMethodNotAllowed, "a callback URL takes POST with the event's payload as a JSON object")
		return
	}
	keys := s.linkKeys()
	if keys == nil {
		refuse(http.StatusNotFound, "this Flowgate server has no decision keys, so it makes and checks no callback URLs (start it with --decision-keys)")
		return
	}
	token := strings.TrimPrefix(r.URL.Path, CallbackPath)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, workflows.MaxEventPayload+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		refuse(http.StatusRequestEntityTooLarge, "the body is more than %d bytes; allowed: a JSON object of at most %d bytes", workflows.MaxEventPayload, workflows.MaxEventPayload)
		return
	case err != nil:
		refuse(http.StatusBadRequest, "the body cannot be read")
		return
	}
	var payload map[string]any
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &payload); err != nil || payload == nil {
			refuse(http.StatusBadRequest, "the body is not a JSON object; allowed: the event's payload as a JSON object (Content-Type: application/json)")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	v, c, err := s.app.Callback(ctx, token, payload)
	if err != nil {
		s.cfg.Logger.Info("callback refused", "workflow_id", c.WorkflowID, "step", c.Step, "error", err)
		code, msg := s.callbackRefusal(ctx, c, err)
		refuse(code, "%s", msg)
		return
	}
	answer(http.StatusAccepted, CallbackAnswer{Accepted: true, WorkflowID: c.WorkflowID, Step: c.Step, Status: v.Status})
}

// callbackRefusal is the HTTP status and sentence of a refused callback.
func (s *Server) callbackRefusal(ctx context.Context, c signing.Callback, err error) (int, string) {
	var event *app.EventRefusedError
	var arg *app.ArgError
	switch {
	case errors.Is(err, signing.ErrCallbackInvalid):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, signing.ErrCallbackExpired):
		return http.StatusGone, err.Error()
	case errors.As(err, &arg):
		return http.StatusBadRequest, err.Error()
	case errors.As(err, &event):
		switch event.Kind {
		case workflows.ErrTypeEventInvalid:
			return http.StatusBadRequest, event.Msg
		case workflows.ErrTypeEventGone:
			return http.StatusGone, event.Msg
		case workflows.ErrTypeEventForbidden:
			return http.StatusNotFound, event.Msg
		}
		return http.StatusConflict, event.Msg
	case ctx.Err() != nil:
		return http.StatusServiceUnavailable, "the run did not answer in time; send the event again"
	}
	// Not found, ended, or not reachable: say which in words (explain), with no internals.
	msg := s.explain(ctx, c.WorkflowID, err)
	switch {
	case strings.Contains(msg, "has already ended"):
		return http.StatusGone, msg
	case strings.Contains(msg, "no workflow with id"):
		return http.StatusNotFound, msg
	}
	return http.StatusServiceUnavailable, "Flowgate could not reach the run now; send the event again later"
}
