package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowgate/flowgate/internal/app"
	"github.com/flowgate/flowgate/mcpserver"
	"github.com/flowgate/flowgate/workflows"
)

// runApprovals is `flowgate approvals`: the gates that wait on the caller (the resource
// approvals://pending), oldest deadline first.
func runApprovals(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := approvalsFlags()
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	s, err := c.connect(ctx, "approvals")
	if err != nil {
		return err
	}
	defer s.Close()
	var res app.PendingResult
	raw, err := s.read(ctx, mcpserver.PendingURI, &res)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, raw)
	}
	printPending(stdout, res, time.Now())
	return nil
}

func approvalsFlags() (*flag.FlagSet, *clientFlags) {
	c := &clientFlags{}
	fs := commandFlags("approvals", "flowgate approvals [--server URL] [--api-key KEY | --token TOKEN] [--profile NAME] [--json]")
	c.register(fs)
	return fs, c
}

// printPending lists the gates that wait on a person, each with what deciding it takes.
func printPending(w io.Writer, res app.PendingResult, now time.Time) {
	if len(res.Items) == 0 {
		fmt.Fprintf(w, "Nothing waits on %s.\n", dash(res.For))
		return
	}
	fmt.Fprintf(w, "Waiting on %s (%d):\n", dash(res.For), len(res.Items))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tSTEP\tREQUESTED BY\tDEADLINE\tNEEDS\tSUMMARY")
	for _, p := range res.Items {
		needs := fmt.Sprintf("%d approval", p.Needs)
		if p.Needs != 1 {
			needs += "s"
		}
		if len(p.Inputs) > 0 {
			needs += "; inputs " + strings.Join(p.Inputs, ", ")
		}
		// The summary is the definition's template filled with the run's parameters: its
		// control characters are dropped, so no parameter can write to the terminal, and
		// its line breaks and tabs are spaces, so it stays on its row.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (in %s)\t%s\t%s\n", p.WorkflowID, p.Type, p.Step, dash(p.RequestedBy),
			p.Deadline.Local().Format(time.DateTime), roughly(p.Deadline.Sub(now)), needs, dash(strings.Join(strings.Fields(workflows.CleanText(p.Summary)), " ")))
	}
	tw.Flush()
	if res.Truncated {
		fmt.Fprintln(w, "More runs wait than were looked at: decide these first, or list them with flowgate runs list --status waiting_approval.")
	}
	fmt.Fprintln(w, `Decide with: flowgate runs approve ID --comment "..." (or reject); flowgate runs show ID for the whole record.`)
}

// roughly says a duration to the minute: "71h59m", "5m", "0m".
func roughly(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute && d > -time.Minute {
		return "0m"
	}
	return strings.TrimSuffix(d.String(), "0s")
}
