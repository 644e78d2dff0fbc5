"""Parameter overrides (``--set name=value``): a policy with some parameter values replaced.

The override is applied to the loaded :class:`~lead_rules.loader.PolicyDoc`
(the value is read as YAML and converted to the parameter's declared type, as
the loader does for the policy file) and the result goes through the checker
again, so a parameter-only change is a real, checked policy. The content hash
and version say that the policy was changed, so no decision made with it can
pass for one of the file's.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

from ..engine.policy import Policy
from ..language.checker import check_doc
from ..language.errors import Diagnostic, Diagnostics, PolicyError, Span, did_you_mean
from ..language.loader import coerce
from ..language.yaml_source import load_yaml_text


def parse_setting(text: str) -> tuple[str, str]:
    """``name=value`` as ``(name, value text)``; raises ValueError on other shapes."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--set expects name=value, got {text!r}")
    return name.strip(), value.strip()


def with_parameters(policy: Policy, settings: Sequence[str]) -> Policy:
    """``policy`` with the parameters of ``settings`` (``name=value`` texts) replaced.

    Raises:
        PolicyError: an unknown parameter, a value of the wrong type, or a
            change that makes the policy fail its checks.
    """
    if not settings:
        return policy
    doc = policy.doc
    params = dict(doc.parameters)
    diags = Diagnostics()
    applied: list[str] = []
    for text in settings:
        where = Span(f"--set {text}", 1, 1, 1, max(2, len(text) + 1))
        try:
            name, value_text = parse_setting(text)
        except ValueError as exc:
            diags.error("E510", str(exc), where)
            continue
        if name not in params:
            diags.error("E511", f"unknown parameter '{name}'", where, did_you_mean(name, list(params)))
            continue
        node = load_yaml_text(value_text or "null", f"--set {name}", diags)
        if node is None:
            continue
        ok, value = coerce(node.plain(), params[name].type, node, diags)
        if ok:
            params[name] = dataclasses.replace(params[name], value=value, data_file=None, data_version=None)
            applied.append(f"{name}={value_text}")
    if diags.has_errors:
        raise PolicyError(diags.sorted())
    assert doc.meta is not None
    suffix = "+set(" + ",".join(applied) + ")"
    digest = hashlib.sha256((doc.content_hash + "\0" + "\0".join(applied)).encode()).hexdigest()
    new_doc = dataclasses.replace(
        doc,
        parameters=params,
        meta=doc.meta.model_copy(update={"version": doc.meta.version + suffix}),
        content_hash=digest,
    )
    res = check_doc(new_doc, diags)
    items: list[Diagnostic] = diags.sorted()
    if diags.has_errors:
        raise PolicyError(items)
    return Policy(new_doc, res, items)
