"""Fuzzing meshc: generated and mutated specs run through the whole pipeline, in-process.

`harness.run_case` runs one spec text and classifies the outcome against the compiler's contract
(exit 0 with output that parses back, has no duplicate objects and passes the self-check; or exit
1/2 with positioned diagnostics; never a crash, never exit 3, never slow). `strategies` builds
cases from the models (the generated JSON Schema) and by mutating the examples. `test_fuzz` runs a
short seeded run in the test suite; `python -m tests.fuzz.run` is the long run with a report.
"""
