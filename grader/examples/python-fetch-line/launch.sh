#!/bin/sh
# A launcher: the grader runs this file; it starts the real program,
# which lies beside it (a Java program would run: exec java -jar ...).
exec /usr/bin/python3 -S "$(dirname "$0")/main.py" "$@"
