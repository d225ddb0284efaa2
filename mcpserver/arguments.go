package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// typed binds a tool call's arguments to T and refuses, with the argument named, what
// does not fit: an argument the tool does not take (a typo such as "params" would
// otherwise be dropped and the call fail on something else), or a value of another JSON
// type. mcp-go's own binding answers with Go's message, which names Go types.
func typed[T any](h func(context.Context, mcp.CallToolRequest, T) (*mcp.CallToolResult, error)) func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var args T
		if msg := bindArguments(req.Params.Name, req.GetRawArguments(), &args); msg != "" {
			return mcp.NewToolResultError(msg), nil
		}
		return h(ctx, req, args)
	}
}

// bindArguments decodes raw (a JSON object, or nothing) into out, and says what is wrong
// when it cannot, or "".
func bindArguments(tool string, raw any, out any) string {
	var data []byte
	switch r := raw.(type) {
	case nil:
		data = []byte("{}")
	case json.RawMessage:
		data = r
	case []byte:
		data = r
	default:
		var err error
		if data, err = json.Marshal(r); err != nil {
			return "arguments: cannot be read; allowed: a JSON object"
		}
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || string(t) == "null" {
		data = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(out)
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return "arguments: are " + article(typeErr.Value) + "; allowed: a JSON object"
	case errors.As(err, &typeErr):
		return fmt.Sprintf("%s: is %s; allowed: %s", typeErr.Field, article(typeErr.Value), jsonType(typeErr.Type))
	case errors.As(err, &syntaxErr):
		return "arguments: are not valid JSON; allowed: a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fmt.Sprintf("%s: is not an argument of %s; allowed: %s", field, tool, strings.Join(argumentNames(reflect.TypeOf(out).Elem()), ", "))
	}
	return "arguments: " + err.Error()
}

// argumentNames are the JSON names of a struct's fields, embedded ones included.
func argumentNames(t reflect.Type) []string {
	var out []string
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
		case f.Anonymous && name == "":
			out = append(out, argumentNames(f.Type)...)
		case name == "":
			out = append(out, f.Name)
		default:
			out = append(out, name)
		}
	}
	return out
}

// article names a JSON value kind as Go's decoder reports it ("number", "string", …).
func article(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "array", "object":
		return "an " + kind
	}
	if strings.HasPrefix(kind, "number") {
		return "a number"
	}
	return kind
}

// jsonType says which JSON value a Go type takes.
func jsonType(t reflect.Type) string {
	if t == reflect.TypeOf(json.RawMessage(nil)) {
		return "any JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonType(t.Elem())
	}
	return "a JSON value"
}
