"""The long fuzz run: `python -m tests.fuzz.run --cases 100000 --report` (`make fuzz`).

Runs hypothesis-generated cases (`strategies.cases`: mutated examples and model-generated specs)
through the in-process harness, prints a progress line now and then and, at the end, the outcomes
by class, the slowest case and one saved example per finding class (`--save DIR`, default
`fuzz-findings/`). Exit status 1 when any case broke the contract.
"""

from __future__ import annotations

import argparse
import resource
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

from .harness import Outcome, run_case, warm_up
from .strategies import cases

MEMORY_LIMIT = 3 << 30
"""Address-space cap for the run: a case that explodes in memory fails alone, the machine stays up."""


class Tally:
    def __init__(self, save: Path | None) -> None:
        self.outcomes: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.slowest: tuple[float, str, str] = (0.0, "", "")
        self.save = save
        self.started = time.perf_counter()

    def add(self, text: str, outcome: Outcome) -> None:
        self.outcomes[outcome.cls] += 1
        if outcome.seconds > self.slowest[0]:
            self.slowest = (outcome.seconds, outcome.cls, text)
        if not outcome.good and outcome.cls not in self.examples:
            self.examples[outcome.cls] = text
            if self.save is not None:
                self.save.mkdir(parents=True, exist_ok=True)
                name = f"{outcome.kind}-{len(self.examples):03d}.yaml"
                comment = "".join(f"# {line}\n" for line in f"{outcome.kind}: {outcome.detail}".splitlines())
                (self.save / name).write_text(comment + text, encoding="utf-8", errors="surrogatepass")

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    @property
    def findings(self) -> int:
        return sum(n for cls, n in self.outcomes.items() if not Outcome(cls.split(":")[0]).good)

    def report(self, out: object = sys.stdout) -> str:
        elapsed = time.perf_counter() - self.started
        lines = [
            f"{self.total} cases in {elapsed:.0f} s ({self.total / max(elapsed, 1e-9):.1f}/s), "
            f"{self.findings} broke the contract",
            "outcomes by class:",
        ]
        lines += [f"  {n:>8}  {cls}" for cls, n in sorted(self.outcomes.items(), key=lambda x: (-x[1], x[0]))]
        seconds, cls, text = self.slowest
        size = len(text.encode("utf-8", "surrogatepass"))
        lines.append(f"slowest case: {seconds:.2f} s of CPU ({cls}), {size} bytes")
        if self.save is not None:
            self.save.mkdir(parents=True, exist_ok=True)
            (self.save / "slowest.yaml").write_text(
                f"# {seconds:.2f} s of CPU, {cls}\n" + text, encoding="utf-8", errors="surrogatepass"
            )
            lines.append(f"the slowest case and one example per finding class are saved under {self.save}/")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases to run (default 100000)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    parser.add_argument("--report", action="store_true", help="print the outcomes by class at the end")
    parser.add_argument("--save", type=Path, default=Path("fuzz-findings"), help="where to save findings")
    parser.add_argument("--every", type=int, default=1000, help="progress line every N cases")
    args = parser.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    # Ctrl-C, and SIGTERM or SIGINT from a job runner (background jobs start with SIGINT ignored),
    # end the run with its report. The handler only raises a flag: an exception raised from a
    # signal handler can land in a garbage-collector callback, where Python swallows it.
    stopping: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    warm_up()
    tally = Tally(args.save)

    @seed(args.seed)
    @settings(
        max_examples=args.cases,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=["generate"],  # every case is new: nothing to replay, nothing to shrink
    )
    @given(cases())
    def one(text: str) -> None:
        if stopping:
            raise KeyboardInterrupt
        outcome = run_case(text)
        tally.add(text, outcome)
        if tally.total % args.every == 0:
            print(
                f"... {tally.total} cases, {tally.findings} findings, "
                f"{time.perf_counter() - tally.started:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    try:
        one()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    except Exception:  # a bug of the fuzzer itself: say so, and keep the report of what ran
        traceback.print_exc()
        print("the fuzzer failed (see above); the report covers the cases run so far", file=sys.stderr)
        if args.report:
            print(tally.report())
        return 2
    if args.report:
        print(tally.report())
    return 1 if tally.findings else 0


if __name__ == "__main__":
    sys.exit(main())
