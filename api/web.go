package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed web
var webFS embed.FS

// webCSP is the page's Content-Security-Policy: scripts and styles only
// from the page's own files (no inline script or style attribute), API
// calls and the events WebSocket to this server, audio from this server or
// a presigned storage URL it redirects to (or a blob: made from a fetch),
// nothing else (no CDNs, no web fonts, no framing).
const webCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self' ws: wss:; media-src 'self' blob: http: https:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// webTypes are the Content-Types of the embedded assets, fixed here so
// they do not depend on the host's mime.types.
var webTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// webAsset is one embedded file under /static/.
type webAsset struct {
	body        []byte
	contentType string
	// hash is the content hash: the ETag, and the ?v= that index.html puts
	// on its references so that versioned URLs can be cached for good.
	hash string
}

// WebHandler serves the web page: GET / (transcript list), GET /search,
// GET /trash, GET /transcripts/{id} (one transcript), and GET /static/* (the embedded
// assets, with cache headers). Both page routes answer the same index.html,
// a small app over the JSON API and the events WebSocket that routes on
// location.pathname. It is written as native ES modules (app.js imports
// the others), so there is no build step.
//
// Asset references in index.html carry ?v=<content hash>: such requests
// are cacheable for a year (immutable); others, such as the modules that
// app.js imports, revalidate with the ETag.
func WebHandler() http.Handler {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	assets := map[string]*webAsset{}
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "index.html" {
			return err
		}
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := webTypes[path.Ext(name)]
		if ct == "" {
			ct = "application/octet-stream"
		}
		assets[name] = &webAsset{body: b, contentType: ct, hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	if err != nil {
		panic(err)
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	for name, a := range assets {
		index = bytes.ReplaceAll(index, []byte(`"/static/`+name+`"`), []byte(`"/static/`+name+`?v=`+a.hash+`"`))
	}
	indexSum := sha256.Sum256(index)
	indexETag := `"` + hex.EncodeToString(indexSum[:8]) + `"`

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", webCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, "/static/"):
			a, ok := assets[strings.TrimPrefix(p, "/static/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			h.Set("Content-Type", a.contentType)
			h.Set("ETag", `"`+a.hash+`"`)
			if r.URL.Query().Get("v") == a.hash {
				h.Set("Cache-Control", "public, max-age=31536000, immutable")
			} else {
				h.Set("Cache-Control", "no-cache")
			}
			http.ServeContent(w, r, "", webModTime, bytes.NewReader(a.body))
		case p == "/" || p == "/search" || p == "/trash" || isTranscriptPage(p):
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
			h.Set("ETag", indexETag)
			h.Set("X-Frame-Options", "DENY")
			http.ServeContent(w, r, "", webModTime, bytes.NewReader(index))
		default:
			http.NotFound(w, r)
		}
	})
}

// webModTime is zero: the embedded files have no modification time, so
// revalidation goes by ETag alone.
var webModTime time.Time

// isTranscriptPage reports whether p is /transcripts/{id} with one
// non-empty path segment as id.
func isTranscriptPage(p string) bool {
	id, ok := strings.CutPrefix(p, "/transcripts/")
	return ok && id != "" && !strings.Contains(id, "/")
}
