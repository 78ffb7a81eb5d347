"""Accord's demo: the ASEAN-UN story played through the public HTTP APIs.

``python -m deploy.demo --help`` lists the operator commands; ``deploy/stack up`` loads the
demo (once) and prints its summary.
"""
