"""The local stack: template.yaml deployed into moto server, Lambdas served in-process, the simulator."""
