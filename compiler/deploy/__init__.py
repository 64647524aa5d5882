"""`meshc plan` and `meshc deploy`: the Pulumi side of meshc.

`cli` only builds the argument parsers (it is imported by every `meshc` command, so it must not
import Pulumi); `plan` runs the stack's program offline under the Pulumi SDK's mock engine
(`mockrun`) and prints what it registers; `deploy` drives `pulumi preview`/`pulumi up` through the
Automation API when the Pulumi CLI is installed.
"""
