"""The application layer: the completion pipeline every API surface shares.

Surfaces (chat completions, Anthropic messages, batch, the WebSocket) adapt their request
shapes to this layer; it prepares a call, consults the cache, reserves budget, runs the
executor and settles usage. It knows nothing of HTTP.
"""
