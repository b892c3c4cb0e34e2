"""HTTP layer: routers, request/response schemas, auth dependencies, error handlers."""
