// Package console serves the duty officer's console: one static page
// (index.html, app.js, app.css, embedded in the binary) that signs in with
// the gateway's API token and shows and acts on alerts and devices through
// /api/v1 only. The page itself holds no data, so it is served without the
// token; everything it shows comes from the token-protected API.
//
// The files are served with a strict Content-Security-Policy (scripts,
// styles and connections from the gateway itself only, no inline code), so
// that text coming from devices and alerts can never run as script even if
// the page had a bug that inserted it as HTML.
//
// Routes returns the handlers as method-and-path patterns for
// http.ServeMux; they hold no state and are safe for concurrent use:
//
//	api.Routes = console.Routes() // GET / and GET /console/{file}
package console
