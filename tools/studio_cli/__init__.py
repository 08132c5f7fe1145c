"""The ``studio`` command: the local stack, submitting products, watching jobs, the demo."""
