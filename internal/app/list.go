package app

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/flowgate/flowgate/internal/words"
	"github.com/flowgate/flowgate/workflows"
)

// Bounds of a listing.
const (
	DefaultListLimit = 20
	MaxListLimit     = 100
	// DefaultListCountBudget is how long List gives its count of the matches, after the
	// page itself, unless the request asks for the total: a count scans every match
	// (about 20 ms for 10 000 runs on the embedded store, 120-160 ms for 100 000), a page
	// does not.
	DefaultListCountBudget = 40 * time.Millisecond
)

// ListRequest asks for a page of runs, newest first.
type ListRequest struct {
	// Process and Status filter the runs when set.
	Process, Status string
	// Limit is the page's size (0: DefaultListLimit).
	Limit int
	// Cursor is the previous page's NextCursor, for the same filters.
	Cursor string
	// IncludeTotal counts every match, however long it takes.
	IncludeTotal bool
}

// RunSummary is one run of a listing, as visibility records it.
type RunSummary struct {
	WorkflowID  string     `json:"workflow_id"`
	Type        string     `json:"type"`
	Status      string     `json:"status"`
	CurrentStep string     `json:"current_step,omitempty"`
	RequestedBy string     `json:"requested_by,omitempty"`
	StartedAt   time.Time  `json:"started_at"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
}

// ListPage is a page of runs.
type ListPage struct {
	Items []RunSummary
	// Total is how many runs match, when it is known: on the page that holds the last of
	// them, or counted for the first page (within the budget, or however long it takes
	// with IncludeTotal) and carried by the cursor to the pages after it, so paging costs
	// no count.
	Total   *int64
	HasMore bool
	// NextCursor asks for the next page; empty on the last.
	NextCursor string
	// Seen is how many runs this page and the pages before it hold.
	Seen int64
}

// List returns a page of the runs the filters match, newest first. The caller must hold
// the read scope.
func (s *Service) List(ctx context.Context, c Caller, r ListRequest) (ListPage, error) {
	var page ListPage
	if !c.Has(ScopeRead) {
		return page, &ScopeError{Caller: c.Name, Need: ScopeRead, Doing: "listing runs"}
	}
	if r.Process != "" && !slices.Contains(s.Processes(), r.Process) {
		return page, &ArgError{"workflow_type", fmt.Sprintf("%q is not a workflow type", r.Process), strings.Join(s.Processes(), " | ")}
	}
	if r.Status != "" && !slices.Contains(workflows.Statuses, workflows.Status(r.Status)) {
		return page, &ArgError{"status", fmt.Sprintf("%q is not a status", r.Status), strings.Join(words.Strings(workflows.Statuses), " | ")}
	}
	if r.Limit == 0 {
		r.Limit = DefaultListLimit
	}
	if r.Limit < 1 || r.Limit > MaxListLimit {
		return page, &ArgError{"limit", fmt.Sprintf("is %d", r.Limit), fmt.Sprintf("1 to %d (default %d)", MaxListLimit, DefaultListLimit)}
	}
	query := ListQuery(r.Process, r.Status)
	var cur listCursor
	if r.Cursor != "" {
		var ok bool
		if cur, ok = decodeCursor(r.Cursor, query); !ok {
			return page, &ArgError{"cursor", "is not a cursor this tool returned for these filters",
				"pagination.next_cursor of the previous page with the same workflow_type and status, or no cursor for the first page"}
		}
	}
	resp, err := s.cfg.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.cfg.Namespace, PageSize: int32(r.Limit), NextPageToken: cur.Token, Query: query,
	})
	if err != nil {
		return page, err
	}
	seen := cur.Seen + int64(len(resp.GetExecutions()))
	var total *int64
	switch {
	case len(resp.GetNextPageToken()) == 0:
		// A page with no page after it holds the rest.
		total = &seen
	case cur.Total > 0:
		// A later page has its first page's count.
		total = ptr(max(cur.Total, seen))
	case cur.Token == nil || r.IncludeTotal:
		// The first page counts its matches, within the budget unless the request asks
		// for the count whatever it takes. The count comes after the page: the embedded
		// store runs one visibility query at a time, and a count over budget is
		// interrupted there.
		countCtx := ctx
		if !r.IncludeTotal {
			var stop context.CancelFunc
			countCtx, stop = context.WithTimeout(ctx, s.ListCountBudget())
			defer stop()
		}
		n, err := s.Count(countCtx, query)
		var late *serviceerror.DeadlineExceeded
		switch {
		case err == nil:
			total = ptr(max(n, seen))
		case !r.IncludeTotal && ctx.Err() == nil && (countCtx.Err() != nil || errors.As(err, &late) || errors.Is(err, context.DeadlineExceeded)):
			// Over budget (the server may say so before the client's own timer does): the
			// total is left out.
		default:
			return page, err
		}
	}
	// Temporal hands out a token whenever a page is full, even when nothing follows: the
	// count decides, or else a look at the next page's first run, so the last page says
	// HasMore false and no empty page follows it.
	more := len(resp.GetNextPageToken()) > 0
	switch {
	case more && total != nil:
		more = seen < *total
	case more:
		next, err := s.cfg.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: s.cfg.Namespace, PageSize: 1, NextPageToken: resp.GetNextPageToken(), Query: query,
		})
		if err != nil {
			return page, err
		}
		if more = len(next.GetExecutions()) > 0; !more {
			total = &seen
		}
	}
	page = ListPage{Items: []RunSummary{}, Total: total, HasMore: more, Seen: seen}
	for _, e := range resp.GetExecutions() {
		item := RunSummary{WorkflowID: e.GetExecution().GetWorkflowId(), Type: e.GetType().GetName(), StartedAt: e.GetStartTime().AsTime()}
		if e.GetCloseTime() != nil {
			t := e.GetCloseTime().AsTime()
			item.ClosedAt = &t
		}
		fields := e.GetSearchAttributes().GetIndexedFields()
		item.Status = DecodeKeyword(fields[workflows.AttrStatus.GetName()])
		item.CurrentStep = DecodeKeyword(fields[workflows.AttrStep.GetName()])
		item.RequestedBy = DecodeKeyword(fields[workflows.AttrRequestedBy.GetName()])
		page.Items = append(page.Items, item)
	}
	if more {
		c := listCursor{Query: cursorQuery(query), Seen: seen, Token: resp.GetNextPageToken()}
		if total != nil {
			c.Total = *total
		}
		page.NextCursor = encodeCursor(c)
	}
	return page, nil
}

// Count counts the runs a visibility query matches.
func (s *Service) Count(ctx context.Context, query string) (int64, error) {
	resp, err := s.cfg.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.cfg.Namespace, Query: query})
	return resp.GetCount(), err
}

// ListCountBudget is how long List waits for its count beyond the page.
func (s *Service) ListCountBudget() time.Duration {
	if s.cfg.ListCountBudget > 0 {
		return s.cfg.ListCountBudget
	}
	return DefaultListCountBudget
}

func ptr[T any](v T) *T { return &v }

// listCursor is what List hands out as NextCursor: Temporal's page token, bound to the
// filters it was made for, and how many runs came before it.
type listCursor struct {
	Version int    `json:"v"`
	Query   string `json:"q"`
	Seen    int64  `json:"n"`
	Token   []byte `json:"t"`
	// Total is what the first page counted.
	Total int64 `json:"c,omitempty"`
}

const cursorVersion = 1

// cursorQuery is a short digest of a visibility query, to bind a cursor to its filters.
func cursorQuery(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:8])
}

func encodeCursor(c listCursor) string {
	c.Version = cursorVersion
	raw, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeCursor reads a cursor List made for query; anything else is refused here, before
// it reaches Temporal.
func decodeCursor(s, query string) (listCursor, bool) {
	var c listCursor
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return listCursor{}, false
	}
	if c.Version != cursorVersion || c.Query != cursorQuery(query) || len(c.Token) == 0 || c.Seen < 0 {
		return listCursor{}, false
	}
	return c, true
}
