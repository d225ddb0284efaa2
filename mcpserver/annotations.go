package mcpserver

import "github.com/mark3labs/mcp-go/mcp"

// Values of the tool annotation hints, named so each tool's line reads as a sentence.
const (
	writes, readsOnly           = false, true
	destructive, notDestructive = true, false
	idempotent, notIdempotent   = true, false
	openWorld, closedWorld      = true, false
)

// behaviour sets a tool's title (as the tool's title and the annotation's) and every
// behaviour hint explicitly, so no default of the library speaks for the tool.
func behaviour(title string, readOnlyHint, destructiveHint, idempotentHint, openWorldHint bool) mcp.ToolOption {
	return func(t *mcp.Tool) {
		t.Title = title
		t.Annotations = mcp.ToolAnnotation{
			Title:           title,
			ReadOnlyHint:    mcp.ToBoolPtr(readOnlyHint),
			DestructiveHint: mcp.ToBoolPtr(destructiveHint),
			IdempotentHint:  mcp.ToBoolPtr(idempotentHint),
			OpenWorldHint:   mcp.ToBoolPtr(openWorldHint),
		}
	}
}

// readOnly marks a tool that changes nothing: it is then neither destructive and, since
// repeating it has no effect, idempotent. Flowgate's own data is a closed world.
func readOnly(title string) mcp.ToolOption {
	return behaviour(title, readsOnly, notDestructive, idempotent, closedWorld)
}
