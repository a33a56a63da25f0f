package gateway

import _ "embed"

// openapiJSON is served at /openapi.json; TestOpenAPIMatchesRoutes keeps it in
// step with the route table.
//
//go:embed openapi.json
var openapiJSON []byte
