"""Studio Pipeline's shared library, deployed as the Lambda layer ``layers/common``.

Modules are named by the domain noun: ``models`` (the Aiuta API), ``aiuta`` (its client),
``errors`` (what can go wrong), and the pipeline's own logic beside them.
"""
