"""The grader's own tests (make test-grader)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: grades whole submissions (minutes); "
                   "make test-grader runs them")
