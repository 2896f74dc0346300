"""net: what the scripted peers share: addresses and waiting.

    addr_text(("127.0.0.1", 7000))    # "127.0.0.1:7000"
    split_addr("[::1]:7000")          # ("::1", 7000)
    wait_until(lambda: conn.closed, 5, "the program to close")

Standard library only.
"""

import time

POLL_S = 0.05   # how often waiting threads check whether to stop


def poll_until(predicate, timeout_s, interval_s=0.005):
    """Polls predicate() until it is true or timeout_s passed; returns
    whether it became true. For a wait that only bounds how long a test
    gives a program to act, where the test's own checks come after."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True


def wait_until(predicate, timeout_s, what, interval_s=0.005):
    """Polls predicate() until it is true; returns its value.

    Raises AssertionError "waited N s for WHAT" when timeout_s passes
    first; `what` should say what the test was waiting for, in words."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}, "
                                 f"in vain")
        time.sleep(interval_s)


def addr_text(sockaddr):
    """'HOST:PORT' of a socket address."""
    return f"{sockaddr[0]}:{sockaddr[1]}"


def split_addr(addr):
    """(host, port) of 'HOST:PORT' or '[IPv6]:PORT'."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)
