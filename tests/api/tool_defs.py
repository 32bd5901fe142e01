"""The function tools the tool tests offer, in the Chat Completions shape and the Responses
shape (name at the top level), and a prompt that makes the simulated CLI call both."""

from __future__ import annotations

from typing import Any

WEATHER_FUNCTION: Any = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CLOCK_FUNCTION: Any = {
    "name": "get_time",
    "description": "Current time.",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
}
#: Chat Completions tools.
WEATHER: Any = {"type": "function", "function": WEATHER_FUNCTION}
CLOCK: Any = {"type": "function", "function": CLOCK_FUNCTION}
#: Responses API tools.
WEATHER_RESPONSES: Any = {"type": "function", **WEATHER_FUNCTION, "strict": False}
CLOCK_RESPONSES: Any = {"type": "function", **CLOCK_FUNCTION}
#: A prompt that makes the simulated CLI (and the fake upstream) call both tools at once.
ASK = 'Weather in Paris and the time? [[call:get_weather {"city": "Paris"}]] [[call:get_time]]'
#: The weather tool with nothing but a name and parameters (what the session tests offer).
WEATHER_BARE: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
