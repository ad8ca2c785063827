"""The Bedrock simulator's AWS credentials in the environment, for every test that signs requests to it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from promptc.runtime.sim.bedrock_api import SIM_AWS_CREDENTIALS

#: the simulator's access key id (its secret: ``SIM_AWS_CREDENTIALS[KEY_ID]``)
KEY_ID = next(iter(SIM_AWS_CREDENTIALS))


@contextlib.contextmanager
def aws_sim_env(empty: Path):
    """The simulator's AWS credentials in the environment, and nothing else of the machine's AWS setup
    (the Bedrock simulator accepts only SigV4-signed requests). ``empty``: a directory with no files."""
    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                    "AWS_BEARER_TOKEN_BEDROCK", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
        mp.setenv("AWS_SECRET_ACCESS_KEY", SIM_AWS_CREDENTIALS[KEY_ID])
        mp.setenv("AWS_REGION", "us-west-2")
        mp.setenv("AWS_CONFIG_FILE", str(empty / "no-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "no-credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield
