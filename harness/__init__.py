"""The kit's test harness: run a program, play scripted peers, measure time.

Everything the conformance suites, the grader and the demos share lives here,
so a test reads as the situation it sets up and the outcome it expects:

    tracks     which programs exist (tracks.list, read strictly, here only)
               and where they are built; their contracts, suites, short
               names
    process    run a program in its own process group, with a timeline of
               its output (every line stamped in ms since the spawn)
    peers      scripted TCP peers on 127.0.0.1: servers that send, trickle,
               stall, reset or flood; a listener whose backlog is full; an
               address that refuses; a client for programs that are
               servers. It gathers server, conn, scripts, client and net,
               one job each.
    journal    the journal's clients and its file
    tcp_table  a program's TCP sockets as the kernel sees them: what a test
               waits on instead of sleeping
    scenarios  one ordinary session of each contract (the track tests)
    timing     the named tolerances of every timing check, and the wording
               of timing messages
    cleanup    the registry that kills every process and closes every peer
               a test left behind

Standard library only (the conformance suites add pytest and pytest-timeout).
Times are milliseconds on time.monotonic() unless a name says otherwise.
"""
