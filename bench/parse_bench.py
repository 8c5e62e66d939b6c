"""Parse + classify throughput over realistic 2-3 KB bodies, against bare `json.loads` of the same.

Run with `python -m bench.parse_bench [--rounds N] [--bodies N]`. Not a test: it prints figures.
Both are measured in the same run, best of several rounds, on one core.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from bounced.core import samples
from bounced.core.classify import classify
from bounced.core.parse import parse_body


def documents(count: int) -> list[dict[str, Any]]:
    """A realistic mix: mostly bounces and deliveries, some complaints and delays, both formats."""
    builders: list[Callable[[int], dict[str, Any]]] = [
        lambda i: samples.bounce([f"user{i}@example.org"], message_id=f"m-{i}"),
        lambda i: samples.bounce([f"user{i}@example.org"], bounce_type="Transient", subtype="MailboxFull",
                                 status="4.2.2", diagnostic="smtp; 452 4.2.2 over quota", event=True),
        lambda i: samples.delivery([f"user{i}@example.org"], message_id=f"m-{i}"),
        lambda i: samples.delivery([f"user{i}@example.org"], event=True),
        lambda i: samples.complaint([f"user{i}@example.org"], feedback_type=None),
        lambda i: samples.delivery_delay([f"user{i}@example.org"]),
    ]  # fmt: skip
    return [builders[i % len(builders)](i) for i in range(count)]


def best_of(rounds: int, work: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def measure(label: str, bodies: Sequence[bytes], rounds: int, layers: int) -> None:
    """Print notifications/s and the ratio to json.loads of the body (and of every JSON layer)."""

    def parse_all() -> None:
        for body in bodies:
            classify(parse_body(body))

    def loads_all() -> None:
        for body in bodies:
            json.loads(body)

    def loads_layers() -> None:
        for body in bodies:
            value = json.loads(body)
            if layers == 2:
                json.loads(value["Message"])

    ours = best_of(rounds, parse_all)
    bare = best_of(rounds, loads_all)
    both = best_of(rounds, loads_layers)
    size = sum(map(len, bodies)) / len(bodies)
    print(
        f"{label:<12} {len(bodies) / ours:>10,.0f} notifications/s  "
        f"{ours / bare:4.2f}x json.loads(body)  {ours / both:4.2f}x json.loads of every layer  "
        f"(mean body {size:,.0f} B)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--bodies", type=int, default=5000)
    args = parser.parse_args(argv)
    texts = [samples.dumps(document) for document in documents(args.bodies)]
    raw = [text.encode() for text in texts]
    wrapped = [samples.sns_wrap(text, message_id=f"sns-{i}").encode() for i, text in enumerate(texts)]
    print(f"parse + classify, best of {args.rounds} rounds over {args.bodies} bodies, one core")
    measure("raw", raw, args.rounds, layers=1)
    measure("sns-wrapped", wrapped, args.rounds, layers=2)


if __name__ == "__main__":
    main()
