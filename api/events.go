package api

import _ "embed"

// EventsSchema is the JSON Schema (draft 2020-12) of the events the
// receiver delivers (events.schema.json); the receiver serves it at
// /events.schema.json and its tests validate every event they see against
// it.
//
//go:embed events.schema.json
var EventsSchema []byte
