package notify_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/notify"
)

// A receiver checks each request's Sluice-Signature header against the raw body with the secret
// it shares with Sluice, refusing requests more than five minutes old.
func ExampleVerify() {
	secret := []byte("the secret in secret_env")
	body := []byte(`{"specversion":"1.0","id":"9f1c2e0a","source":"sluice","type":"sluice.execution.failed"}`)
	sent := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	header := notify.Sign(secret, sent, body) // what Sluice puts in Sluice-Signature

	fmt.Println(header)
	fmt.Println(notify.Verify(secret, header, body, sent.Add(time.Second), 5*time.Minute))
	fmt.Println(notify.Verify(secret, header, []byte(`{"id":"forged"}`), sent, 5*time.Minute))
	// The digest is the one Python's hmac.new(secret, b"1795953600." + body, "sha256") gives.
	// Output:
	// t=1795953600,v1=b4ccfb465d2955870b867b8b3e4e1fc0181ff54e9d16c5b0b29d396860eb4b3b
	// <nil>
	// signature does not match the body
}
