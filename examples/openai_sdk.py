"""The official ``openai`` SDK, unchanged, against the Claude Code API Service.

    export CCAPI_BASE_URL=http://localhost:8080 CCAPI_API_KEY=<your key>
    python examples/openai_sdk.py

(``claude-code-api serve --demo`` prints a key and runs on the simulated CLI.)
"""

from __future__ import annotations

import os

from openai import OpenAI


def main() -> None:
    """A completion, a stream with usage, and the model list."""
    base_url = os.environ.get("CCAPI_BASE_URL", "http://localhost:8080").rstrip("/")
    client = OpenAI(base_url=f"{base_url}/v1", api_key=os.environ["CCAPI_API_KEY"])

    # 1. A completion; "auto" lets the service's router pick haiku, sonnet or opus.
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[
            {"role": "system", "content": "You are a concise teacher."},
            {"role": "user", "content": "Explain async/await in one paragraph."},
        ],
        max_tokens=300,
    )
    completion = raw.parse()
    print("model:", completion.model, "| routed:", raw.headers.get("x-ccapi-model"))
    print(completion.choices[0].message.content)
    usage = completion.usage
    assert usage is not None
    print(f"tokens: {usage.total_tokens}")

    # 2. Streaming, with the usage chunk at the end.
    stream = client.chat.completions.create(
        model="haiku",
        messages=[{"role": "user", "content": "Write a two-line poem about queues."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
        if chunk.usage:
            print(f"\nstreamed tokens: {chunk.usage.total_tokens}")

    # 3. What the service accepts.
    print("models:", ", ".join(m.id for m in client.models.list()))


if __name__ == "__main__":
    main()
