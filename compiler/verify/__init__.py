"""An offline model of what Istio does with a request, over the compiled resources only, and the
verifier that probes it with requests generated from the spec (`meshc verify`, `meshc can-i`, the
`verify_output` stage of every compile). docs/verify.md says what the model covers and what not."""

from __future__ import annotations

from .check import Report, Result, verify

__all__ = ["Report", "Result", "verify"]
