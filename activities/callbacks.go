package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"
)

// CallbackSigner makes the signed, single-use callback URL of one step of one run (its
// first run id): the URL, and the nonce the run keeps to take it once.
type CallbackSigner interface {
	CallbackURL(workflowID, runID, step string) (url, nonce string, err error)
}

// Callbacks makes callback URLs for runs: a workflow holds no keys, so the worker's
// activity signs them.
type Callbacks struct {
	// Signer makes the URLs; nil makes none (the worker has no decision keys or no
	// public URL of the MCP server).
	Signer CallbackSigner
}

// CallbackInput names the step of a run a callback URL is for.
type CallbackInput struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Step       string `json:"step"`
}

// CallbackOutput is a callback URL and its nonce.
type CallbackOutput struct {
	URL   string `json:"url"`
	Nonce string `json:"nonce"`
}

// CallbackURL makes the callback URL of a step. A worker that cannot sign fails it at
// once: no retry gives it keys.
func (c *Callbacks) CallbackURL(_ context.Context, in CallbackInput) (CallbackOutput, error) {
	if c == nil || c.Signer == nil {
		return CallbackOutput{}, temporal.NewNonRetryableApplicationError(
			"this worker makes no callback URLs: give it --decision-keys (the MCP server's file) and --approval-url (the MCP server's public origin)", ErrTypeInvalidInput, nil)
	}
	if in.WorkflowID == "" || in.Step == "" {
		return CallbackOutput{}, temporal.NewNonRetryableApplicationError("a callback URL needs a workflow id and a step", ErrTypeInvalidInput, errors.New("bad input"))
	}
	url, nonce, err := c.Signer.CallbackURL(in.WorkflowID, in.RunID, in.Step)
	if err != nil {
		return CallbackOutput{}, err
	}
	return CallbackOutput{URL: url, Nonce: nonce}, nil
}
