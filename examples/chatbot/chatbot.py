"""A terminal chatbot: keeps the conversation, streams each answer, shows the running cost.

    export CCAPI_BASE_URL=http://localhost:8080 CCAPI_API_KEY=<your key>
    python examples/chatbot/chatbot.py                     # interactive
    printf 'Hi\\nWhat did I say?\\n' | python examples/chatbot/chatbot.py   # scripted

Commands: ``/reset`` forgets the conversation, ``/usage`` prints this month's usage,
``/quit`` (or end of input) leaves.
"""

from __future__ import annotations

import argparse
import sys

from claude_code_api import ClaudeClient
from claude_code_api.client import ClaudeAPIError, MessageParam


def chat_loop(client: ClaudeClient, model: str, system: str) -> int:
    """Read lines from stdin until EOF; return the number of answers given."""
    history: list[MessageParam] = []
    spent = 0.0
    answers = 0
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        if text == "/quit":
            break
        if text == "/reset":
            history.clear()
            print("(conversation cleared)")
            continue
        if text == "/usage":
            usage = client.get_usage("month")
            print(f"(this month: {usage.total_tokens} tokens, ${usage.total_cost:.6f})")
            continue
        history.append({"role": "user", "content": text})
        print("bot> ", end="", flush=True)
        try:
            with client.stream(history, model=model, system=system) as stream:
                for token in stream:
                    print(token, end="", flush=True)
                answer = stream.get_final_completion()
        except ClaudeAPIError as exc:
            history.pop()  # the turn did not happen
            print(f"\n(error: {exc})")
            continue
        history.append({"role": "assistant", "content": answer.content})
        spent += answer.usage.cost_usd
        answers += 1
        print(f"\n({answer.model}, {answer.usage.total_tokens} tokens, session ${spent:.6f})")
    return answers


def main(argv: list[str] | None = None) -> int:
    """Parse flags and chat."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="auto", help="auto | haiku | sonnet | opus")
    parser.add_argument("--system", default="You are a friendly, concise assistant.")
    args = parser.parse_args(argv)
    with ClaudeClient() as client:  # CCAPI_BASE_URL / CCAPI_API_KEY from the environment
        answers = chat_loop(client, args.model, args.system)
    return 0 if answers else 1


if __name__ == "__main__":
    sys.exit(main())
