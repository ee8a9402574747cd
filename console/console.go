package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// ContentSecurityPolicy is sent with every file of the console: nothing but
// the gateway's own scripts, styles and API, no inline code, no framing.
const ContentSecurityPolicy = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// AssetPrefix is the path under which the page's script and style sheet
// are served.
const AssetPrefix = "/console/"

// asset is one embedded file with its precomputed validator.
type asset struct {
	name  string
	body  []byte
	ctype string
	etag  string
}

// assets reads the embedded files once; they never change while the
// process runs.
func assets() map[string]*asset {
	out := map[string]*asset{}
	_ = fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		name := strings.TrimPrefix(p, "static/")
		out[name] = &asset{name: name, body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return out
}

// Routes returns the console's routes for http.ServeMux: the page at
// GET / and its script and style sheet under AssetPrefix. None is under
// /api/, so none asks for the token.
func Routes() map[string]http.Handler {
	all := assets()
	serve := func(a *asset) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", ContentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			// Revalidate every time (cheap: a 304 on the ETag), so that
			// an upgraded gateway's page is picked up on the next load.
			h.Set("Cache-Control", "no-cache")
			h.Set("Content-Type", a.ctype)
			h.Set("ETag", a.etag)
			http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
		})
	}
	routes := map[string]http.Handler{"GET /{$}": serve(all["index.html"])}
	byName := map[string]http.Handler{}
	for name, a := range all {
		if name != "index.html" {
			byName[name] = serve(a)
		}
	}
	routes["GET "+AssetPrefix+"{file}"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := byName[r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
	return routes
}
