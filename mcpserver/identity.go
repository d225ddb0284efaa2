package mcpserver

import "context"

// Identity is who makes a call: the subject recorded as requester or approver.
type Identity struct {
	Subject string
	Scopes  []string
}

type identityKey struct{}

// WithIdentity returns a context that carries the caller's identity; transports that
// authenticate callers set it, and tools record it as the actor.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFromContext returns the identity a transport put on the context.
func IdentityFromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok && id.Subject != ""
}
