package httpapi

import (
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	swaggerFiles "github.com/swaggo/files/v2"
	"sigs.k8s.io/yaml"
)

// openAPIDocs serves the OpenAPI document and the Swagger UI (assets
// embedded by swaggo/files, so /docs works offline).
type openAPIDocs struct {
	yaml, json []byte
	ui         http.Handler
}

// swaggerInitializer replaces the UI's default initializer, which points at
// the petstore example on the internet.
const swaggerInitializer = `window.onload = function() {
  window.ui = SwaggerUIBundle({
    url: "/api_v1/openapi.json",
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
};
`

func newOpenAPIDocs(doc []byte) (openAPIDocs, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return openAPIDocs{}, fmt.Errorf("openapi document: %w", err)
	}
	return openAPIDocs{yaml: doc, json: js, ui: http.FileServer(http.FS(swaggerFiles.FS))}, nil
}

func (d openAPIDocs) serveJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(d.json)
}

func (d openAPIDocs) serveYAML(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(d.yaml)
}

func (d openAPIDocs) swaggerUI(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/docs/")
	if name == "swagger-initializer.js" {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write([]byte(swaggerInitializer))
		return
	}
	if name != "" {
		if _, err := fs.Stat(swaggerFiles.FS, name); err != nil {
			http.NotFound(w, r)
			return
		}
	}
	http.StripPrefix("/docs", d.ui).ServeHTTP(w, r)
}
