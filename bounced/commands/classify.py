"""`bounced classify`: what would bounced do with this message? (placeholder until the parser lands)"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("classify", help="read SQS message bodies and print decisions")
    parser.set_defaults(handler=lambda args: 2)
