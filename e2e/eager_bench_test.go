package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/workflows"
)

// BenchmarkEagerStart measures what eager workflow start gives a run started where its
// worker runs (flowgate dev, and a test stack): the start call's latency, and the time
// from the call to the gate's webhook. Runs alternate eager on and off, pair by pair, so
// the machine's load falls on both alike; each run is approved so none piles up.
func BenchmarkEagerStart(b *testing.B) {
	const pairs = 40
	env, rec := webhookStack(b)
	ctx := b.Context()
	one := func(eager bool, i int) (call, gate time.Duration) {
		s, err := app.PrepareStart(workflows.KindDeployment,
			json.RawMessage(fmt.Sprintf(`{"service":"orders","version":"7.%d.%d","environment":"production"}`, i+1, map[bool]int{true: 1, false: 2}[eager])), workflows.Request{RequestedBy: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		id := "deployment-" + uuid.NewString()
		opts := s.Options(id)
		opts.EnableEagerStart = eager
		t0 := time.Now()
		if _, err := env.Client.ExecuteWorkflow(ctx, opts, string(workflows.KindDeployment), s.Input); err != nil {
			b.Fatal(err)
		}
		call = time.Since(t0)
		for {
			if at, ok := rec.at(id); ok {
				gate = at.Sub(t0)
				break
			}
			if ctx.Err() != nil {
				b.Fatal(ctx.Err())
			}
			time.Sleep(time.Millisecond)
		}
		if _, err := env.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: workflows.UpdateAdvance,
			Args: []any{workflows.AdvanceRequest{Scopes: approverScopes, Action: workflows.ActionApprove, Actor: "bob", Inputs: changeTicket}}, WaitForStage: client.WorkflowUpdateStageCompleted}); err != nil {
			b.Fatal(err)
		}
		return call, gate
	}
	one(true, -1) // warm both paths: the first run pays for caches and connections
	one(false, -1)
	for range b.N {
		var onCall, offCall, onGate, offGate latencies
		for i := range pairs {
			first := i%2 == 0 // which of the pair goes first alternates too
			for _, eager := range []bool{first, !first} {
				call, gate := one(eager, i)
				if eager {
					onCall.add(call)
					onGate.add(gate)
				} else {
					offCall.add(call)
					offGate.add(gate)
				}
			}
		}
		b.ReportMetric(ms(onCall.pct(0.5)), "eager-start-call-p50-ms")
		b.ReportMetric(ms(offCall.pct(0.5)), "plain-start-call-p50-ms")
		b.ReportMetric(ms(onGate.pct(0.5)), "eager-start-to-webhook-p50-ms")
		b.ReportMetric(ms(offGate.pct(0.5)), "plain-start-to-webhook-p50-ms")
		b.ReportMetric(ms(onGate.pct(0.95)), "eager-start-to-webhook-p95-ms")
		b.ReportMetric(ms(offGate.pct(0.95)), "plain-start-to-webhook-p95-ms")
	}
}
