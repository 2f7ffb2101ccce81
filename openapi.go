package hookline

import _ "embed"

// OpenAPI is the generated OpenAPI (Swagger 2.0) document of the REST API,
// from gen/openapi; `make generate` refreshes it.
//
//go:embed gen/openapi/hookline.swagger.json
var OpenAPI []byte
