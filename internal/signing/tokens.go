package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
)

// Approval links, inbox sessions and callback URLs are tokens of one form:
// base64url(claims) "." base64url(HMAC-SHA256 of the claims under a label), signed with
// the first key and checked against the key the claims name. The label of each kind
// keeps a token of one kind from ever passing for another.
const (
	labelLink     = "flowgate-link-v1\n"
	labelCallback = "flowgate-callback-v1\n"
	labelForm     = "flowgate-approval-form-v1\n"
)

// labelMAC is the HMAC-SHA256 of label and payload under secret.
func labelMAC(secret []byte, label string, payload []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(label))
	h.Write(payload)
	return h.Sum(nil)
}

// newNonce is 16 random bytes in hex.
func newNonce() (string, error) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return hex.EncodeToString(raw), nil
}

// seal is the token of payload under label, signed with the first key.
func (k *Keys) seal(label string, payload []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(labelMAC(k.keys[0].secret, label, payload))
}

// unseal splits a token into its claims and signature; ok is false when it is not of
// the form (cut short, not base64url).
func unseal(token string) (payload, sig []byte, ok bool) {
	enc := base64.RawURLEncoding
	p, s, cut := strings.Cut(token, ".")
	payload, perr := enc.DecodeString(p)
	sig, serr := enc.DecodeString(s)
	return payload, sig, cut && perr == nil && serr == nil
}

// signedBy reports, in constant time, whether sig is payload's MAC under label with the
// key named keyID; false for a key the set does not hold.
func (k *Keys) signedBy(keyID, label string, payload, sig []byte) bool {
	i := slices.IndexFunc(k.keys, func(x key) bool { return x.id == keyID })
	return i >= 0 && hmac.Equal(sig, labelMAC(k.keys[i].secret, label, payload))
}
