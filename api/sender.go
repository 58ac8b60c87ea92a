// Package api holds the services' API descriptions, embedded so that the
// binaries serve exactly the documents in this directory.
package api

import _ "embed"

// SenderOpenAPI is the sender's OpenAPI 3 document (openapi.yaml), the
// source of truth for its REST API.
//
//go:embed openapi.yaml
var SenderOpenAPI []byte
