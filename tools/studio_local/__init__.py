"""The local stack: template.yaml deployed into moto server, Lambdas in processes of their own, the simulator.

from studio_local import LocalStudio

with LocalStudio(parameter_overrides={"PollMinWaitSeconds": 1}) as studio:
    print(studio.summary())
    studio.write_env_file(".studio-local.env")
"""

from studio_local.deploy import DeployedStack, DeploymentError
from studio_local.lambda_runtime import InvocationResult
from studio_local.parameters import ParameterError
from studio_local.resource_types import UnsupportedResourceError
from studio_local.stack import LocalStudio, default_template_path

__all__ = [
    "DeployedStack",
    "DeploymentError",
    "InvocationResult",
    "LocalStudio",
    "ParameterError",
    "UnsupportedResourceError",
    "default_template_path",
]
