"""The conformance suites: one module per contract of the specification."""
