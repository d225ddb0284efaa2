package signing

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Callback is what a callback URL grants: one event may be delivered, once (Nonce), to one
// step of one run (its first run id, the same across continue-as-new). The run takes it
// only while it waits at that step, so the URL's working life ends at the wait's
// deadline; Expires bounds it besides, for a URL whose run never reached the wait.
type Callback struct {
	WorkflowID string    `json:"w"`
	RunID      string    `json:"r"`
	Step       string    `json:"s"`
	Expires    time.Time `json:"e"`
	Nonce      string    `json:"n"`
	KeyID      string    `json:"k"`
}

// CallbackTTL is how long a callback URL is valid at most: longer than any wait (365
// days) with the steps before it; the run's wait is what ends it in practice.
const CallbackTTL = 400 * 24 * time.Hour

// SignCallback returns the token of c with a fresh nonce, the first key, and an expiry
// CallbackTTL from now: base64url(claims) "." base64url(HMAC). It returns the nonce too,
// which the run keeps to take the callback once.
func (k *Keys) SignCallback(c Callback, now time.Time) (token, nonce string, err error) {
	if c.Nonce, err = newNonce(); err != nil {
		return "", "", err
	}
	c.Expires, c.KeyID = now.UTC().Add(CallbackTTL), k.keys[0].id
	payload, err := json.Marshal(c)
	if err != nil {
		return "", "", err
	}
	return k.seal(labelCallback, payload), c.Nonce, nil
}

// Callback refusals, so the endpoint can answer 404 for a token it did not make and 410
// for one past its time.
var (
	ErrCallbackInvalid = errors.New("this is not a callback URL this Flowgate server made: it was cut short, altered, or signed with a key the server does not have")
	ErrCallbackExpired = errors.New("this callback URL has expired")
)

// VerifyCallback checks a callback token's signature (in constant time) and expiry and
// returns what it grants.
func (k *Keys) VerifyCallback(token string, now time.Time) (Callback, error) {
	payload, sig, ok := unseal(token)
	if !ok {
		return Callback{}, ErrCallbackInvalid
	}
	var c Callback
	if err := json.Unmarshal(payload, &c); err != nil {
		return Callback{}, ErrCallbackInvalid
	}
	if !k.signedBy(c.KeyID, labelCallback, payload, sig) || c.WorkflowID == "" || c.Step == "" || c.Nonce == "" {
		return Callback{}, ErrCallbackInvalid
	}
	if !now.Before(c.Expires) {
		return Callback{}, fmt.Errorf("%w (at %s)", ErrCallbackExpired, c.Expires.Format(time.RFC3339))
	}
	return c, nil
}
