#!/usr/bin/python3 -S
"""fetch-line in Python, in two files: an example of a program the grader
grades as a folder (grader/README.md, "Any program, in any language").

    grader/grade --exe grader/examples/python-fetch-line --run main.py \
        --program fetch-line

This file reads the command line and reports; netline.py, beside it, does
the networking. Python finds netline.py because it is in the folder of the
script it runs, wherever the grader copies that folder.

The deadline counts from the moment the program is started, so the
interpreter's own start counts too: -S (no `site` module) skips reading
every installed package's settings, which needs nothing here (only the
standard library) and takes tens of ms, far more on a busy machine.
"""

import time

# The clock is read first: the deadline (FL-1) includes the imports below,
# the socket module's above all.
START = time.monotonic()

import sys  # noqa: E402  (after the clock, on purpose)

import netline  # noqa: E402

USAGE = ("fetch-line --connect HOST:PORT [--timeout-ms N] [--send TEXT] "
         "[--trace]")


def usage_error(why):
    print(f"fetch-line: usage: {USAGE} ({why})", file=sys.stderr)
    sys.exit(2)


def parse(argv):
    """{"connect": (host, port), "timeout_ms": N, "send": bytes or None,
    "trace": bool}; exits 2 on a usage error."""
    opts = {"connect": None, "timeout_ms": 5000, "send": None,
            "trace": False}
    args = list(argv)
    while args:
        word = args.pop(0)
        if word == "--help":
            print(f"usage: {USAGE}")
            sys.exit(0)
        if word == "--trace":
            opts["trace"] = True
            continue
        if word not in ("--connect", "--timeout-ms", "--send"):
            usage_error(f"unknown option {word}")
        if not args:
            usage_error(f"{word} needs a value")
        value = args.pop(0)
        if word == "--connect":
            opts["connect"] = netline.parse_address(value)
            if opts["connect"] is None:
                usage_error(f"bad address {value}")
        elif word == "--timeout-ms":
            if not value.isdigit() or int(value) < 1:
                usage_error(f"bad --timeout-ms {value}")
            opts["timeout_ms"] = int(value)
        else:
            opts["send"] = value.encode("utf-8", "surrogateescape")
    if opts["connect"] is None:
        usage_error("--connect is required")
    return opts


def main():
    opts = parse(sys.argv[1:])
    trace = netline.Trace(START, opts["trace"])
    deadline = START + opts["timeout_ms"] / 1000.0
    try:
        line = netline.fetch(opts["connect"], opts["send"], deadline, trace)
    except netline.TimedOut:
        print(f"fetch-line: timed out after {opts['timeout_ms']} ms",
              file=sys.stderr)
        return 124
    except netline.Failed as exc:
        print(f"fetch-line: error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(line + b"\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
