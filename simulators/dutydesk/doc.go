// Package dutydesk is the emergency duty desk of the simulated site: an
// HTTP receiver for the gateway's alert webhooks and a small web
// page for the duty officer.
//
// It shares no code with the gateway: it verifies Standard Webhooks
// signatures with its own implementation (HMAC-SHA256 over
// "{id}.{timestamp}.{body}" with the key decoded from "whsec_…", timestamp
// within a tolerance), so a signing bug in the gateway shows up as a
// refused delivery instead of cancelling itself out.
//
// The receiver
//
//   - answers 401 to a missing or bad signature or a stale timestamp;
//   - dedups on webhook-id: a retry of a notification it already has is
//     answered 2xx and not recorded again;
//   - records every accepted delivery in memory (Deliveries, Wait) and,
//     optionally, as JSON lines in a file;
//   - injects faults (SetFault): fail the next N requests with a status,
//     fail a ratio of them, add latency; RefuseFor closes the listener and
//     every connection, so the gateway sees "connection refused", and
//     listens again on the same port after a while.
//
// ControlHandler serves the same fault injection over HTTP (sitesim mounts
// it under /api/dutydesk/ of its control API).
//
// The page (GET /) lists the alerts received, newest first, coloured by
// severity (red, orange, yellow, blue), each with its history and an
// Acknowledge button, which posts to the desk (POST /ack/{id}); the desk
// calls the gateway's POST /api/v1/alerts/{id}/ack with the configured
// bearer token, so the token never reaches the browser.
//
// # Concurrency
//
// All methods are safe for concurrent use. New does no I/O. Listen starts
// goroutines owned by the Server; Close stops them (and any pending
// RefuseFor reopening) and returns after they have returned.
//
// # Example
//
//	desk, err := dutydesk.New(dutydesk.Options{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
//	if err != nil { ... }
//	defer desk.Close()
//	if _, err := desk.Listen("127.0.0.1:0"); err != nil { ... }
//	// configure the gateway's notify url as desk.URL(), then:
//	err = desk.Wait(ctx, func(ds []dutydesk.Delivery) bool { return len(ds) >= 3 })
package dutydesk
