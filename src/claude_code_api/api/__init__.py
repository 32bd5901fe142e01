"""The HTTP layer: request and response schemas, routes, error rendering and SSE.

Each route is an adapter: it turns its request schema into domain messages and call options,
runs them through :mod:`claude_code_api.application`, and renders the domain result (or error)
in its API's shape. Only this layer and the entry points import FastAPI or Starlette.
"""
