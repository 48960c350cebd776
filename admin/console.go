package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// consoleFiles are the web console: one HTML page, its stylesheet and its
// script, with charts drawn as inline SVG. Nothing is fetched from anywhere
// but the admin port.
//
//go:embed console
var consoleFiles embed.FS

// consoleHandler serves the console at /. The Content-Security-Policy
// holds the page to its own origin, so a console can never call out even if
// its files were changed to.
func consoleHandler() http.Handler {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServer(http.FS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
