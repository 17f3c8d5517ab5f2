"""Zappa `settings` callback: let Zappa deploy against a local AWS emulator (moto).

Only when AWS_ENDPOINT_URL is set (never against real AWS) it skips the two
things moto lacks: the HTTP "touch" of the new API after deploy, and the
Function URL cleanup (ListFunctionUrlConfigs) on update. Against real AWS it
changes nothing.
"""

from __future__ import annotations

import os
from typing import Any


def emulated() -> bool:
    """Whether boto3 is pointed at an emulator."""
    return bool(os.environ.get("AWS_ENDPOINT_URL"))


def main(zappa_cli: Any) -> None:
    """Adjust a loaded ZappaCLI for the emulator; a no-op on real AWS."""
    if not emulated():
        return
    # stage_config is recomputed on each access, so the instance's methods are replaced instead.
    zappa_cli.touch_endpoint = lambda *args, **kwargs: None
    zappa_cli.zappa.delete_lambda_function_url = lambda *args, **kwargs: None
