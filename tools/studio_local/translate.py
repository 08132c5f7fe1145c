"""SAM -> plain CloudFormation, offline, with samtranslator (what ``sam deploy`` has AWS do).

The translator asks IAM for the AWS managed policies' ARNs; ``BundledPolicyLoader`` answers from
the map that aws-sam-translator ships, so no account and no network are needed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import boto3
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template


class TranslationError(ValueError):
    """samtranslator refused the template; the message lists its reasons."""


class BundledPolicyLoader(ManagedPolicyLoader):
    """Managed policy name -> ARN from aws-sam-translator's bundled map, never from IAM."""

    def __init__(self, partition: str = "aws") -> None:
        super().__init__(iam_client=None)  # type: ignore[arg-type]
        self._partition = partition

    def load(self) -> dict[str, str]:
        return dict(get_bundled_managed_policy_map(self._partition) or {})


def translate(
    template: Mapping[str, Any], parameter_values: Mapping[str, str], region: str
) -> dict[str, Any]:
    """The CloudFormation template samtranslator makes of a packaged SAM template (S3 code locations).

    The steps of ``samtranslator.translator.transform.transform``, with a boto3 session in
    ``region``: samtranslator reads the region from a session (not from the parameter values)
    and would otherwise depend on the caller's AWS configuration.
    """
    document = copy.deepcopy(dict(template))
    values = dict(parameter_values)
    to_py27_compatible_template(document, values)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    policies = BundledPolicyLoader()
    try:
        translated = translator.translate(
            document, parameter_values=values, get_managed_policy_map=policies.load
        )
    except InvalidDocumentException as exc:
        reasons = "; ".join(str(cause) for cause in exc.causes)
        raise TranslationError(f"samtranslator refused the template: {reasons}") from None
    finally:
        # Its timing metrics go to a dummy publisher; unpublished, they print a warning at exit.
        translator.metrics.publish()
    return undo_mark_unicode_str_in_template(translated)
